// Who is calling: a per-tenant relay key (x-relay-key, or Authorization: Bearer for senders
// that can set only that) or a Microsoft Entra token, mapped to exactly one tenant.
// Missing or bad credentials → 401; a valid caller asking for another tenant → 403.

import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from '../errors';
import { type EntraVerifier, looksLikeJwt } from './entra-token';
import type { Tenant, TenantTable } from './tenants';

export const RELAY_KEY_HEADER = 'x-relay-key';
/** optional: the tenant the caller means to write as; must match its credentials */
export const TENANT_HEADER = 'x-relay-tenant';

export interface CallerResolver {
  resolve(header: (name: string) => string | null | undefined): Promise<Tenant>;
}

export function createCallerResolver(table: TenantTable, verifier: EntraVerifier | undefined): CallerResolver {
  const keyed = table.tenants.flatMap((t) => t.keySha256.map((hex) => ({ hash: Buffer.from(hex, 'hex'), tenant: t })));
  const byPrincipal = new Map(table.tenants.flatMap((t) => t.principals.map((p) => [p, t] as const)));

  const byKey = (key: string): Tenant | undefined => {
    const h = createHash('sha256').update(key, 'utf8').digest();
    let found: Tenant | undefined;
    // Compare against every hash, always: the time taken does not depend on which matched.
    for (const k of keyed) if (timingSafeEqual(h, k.hash)) found = k.tenant;
    return found;
  };

  return {
    async resolve(header) {
      const relayKey = header(RELAY_KEY_HEADER)?.trim();
      const auth = header('authorization')?.trim() ?? '';
      const bearer = /^bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
      let tenant: Tenant | undefined;
      if (relayKey) {
        tenant = byKey(relayKey);
        if (!tenant) throw new HttpError(401, 'unauthenticated', 'x-relay-key is not a key of any tenant');
      } else if (bearer && looksLikeJwt(bearer)) {
        if (!verifier) throw new HttpError(401, 'unauthenticated', 'bearer tokens are not accepted: no tenant lists Entra principals');
        const { principalIds } = await verifier.verify(bearer);
        tenant = principalIds.map((p) => byPrincipal.get(p)).find((t) => t !== undefined);
        if (!tenant) throw new HttpError(403, 'forbidden', `caller ${principalIds[0] ?? '(no oid/appid/azp)'} holds a valid token but belongs to no tenant`);
      } else if (bearer) {
        tenant = byKey(bearer);
        if (!tenant) throw new HttpError(401, 'unauthenticated', 'the bearer value is not a key of any tenant');
      } else {
        throw new HttpError(401, 'unauthenticated', 'missing credentials: send x-relay-key: <key> or Authorization: Bearer <key or Entra token>');
      }
      const asked = header(TENANT_HEADER)?.trim();
      if (asked && asked !== tenant.name) throw new HttpError(403, 'forbidden', `credentials of tenant "${tenant.name}" cannot write as tenant "${asked}"`);
      return tenant;
    },
  };
}
