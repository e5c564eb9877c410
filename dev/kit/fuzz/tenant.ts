// The multi-tenant relay (docs/tenants.md) under fuzz: the same hostile bodies sent with
// a valid tenant key (the tenant's smaller maxBodyBytes and clusterConflict=overwrite:
// the rewrite's overwrite path runs), interleaved with hostile credentials: garbage
// keys, non-JWT bearers, JWT-shaped garbage (bad JSON, deep JSON, alg none/HS256, no or
// odd kid, a megabyte of claims), properly signed tokens with wrong or odd claims, and
// tenant headers that do not match. Every credential case gets 401 or 403, nothing of it
// is forwarded, and the relay keeps serving the tenant's valid writes.

import { createHash } from 'node:crypto';
import type { EntraIssuerEmulator } from '../../emulators/entra-issuer';
import type { WorkspaceEmulator } from '../../emulators/workspace';
import { loadRelayConfig } from '../../../shared/relay/config';
import { type Rng } from '../random-write-request';
import { REMOTE_WRITE_HEADERS } from '../relay-harness';
import { type FuzzCase, type FuzzContext, caseRng, generateCase } from './cases';

export const TENANT_KEY = 'fuzz-tenant-key-5e1d0c7a';
const OTHER_KEY = 'fuzz-other-key-9a8b7c6d';
const AUDIENCE = 'api://fuzz-relay';
const PRINCIPAL = 'oid-fuzz-tenant';

const sha = (k: string): string => createHash('sha256').update(k).digest('hex');

/** Relay settings: tenant "fuzz" (key and Entra principal) writes to both workspaces; tenant "other" exists to be impersonated. */
export function tenantEnv(ws: readonly WorkspaceEmulator[], issuer: EntraIssuerEmulator): Record<string, string> {
  return {
    RELAY_TENANTS: JSON.stringify({
      tenants: [
        {
          name: 'fuzz',
          cluster: 'fuzz-tenant',
          clusterConflict: 'overwrite',
          keySha256: [sha(TENANT_KEY)],
          principals: [PRINCIPAL],
          ingestionUrls: ws.map((w) => w.url),
          limits: { maxBodyBytes: '4MiB' },
        },
        { name: 'other', cluster: 'other', keySha256: [sha(OTHER_KEY)], ingestionUrls: [ws[0].url] },
      ],
      entra: { audience: AUDIENCE, issuer: issuer.issuer, jwksUrl: issuer.jwksUrl },
    }),
  };
}

/** The generator's context under the tenant: its body limit and cluster. */
export function tenantContext(base: FuzzContext, env: Record<string, string>): FuzzContext {
  const cfg = loadRelayConfig({ ...env, IDENTITY_TYPE: 'none' });
  const tenant = cfg.tenants!.tenants.find((t) => t.name === 'fuzz')!;
  return {
    fixtures: base.fixtures,
    cfg: { ...base.cfg, maxBodyBytes: Math.min(cfg.sizes.maxBodyBytes, tenant.limits.maxBodyBytes ?? Infinity), cluster: tenant.cluster },
  };
}

export const TENANT_HEADERS: Record<string, string> = { ...REMOTE_WRITE_HEADERS, 'x-relay-key': TENANT_KEY };

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function printable(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.int(0x21, 0x7e));
  return s;
}

/** A hostile credential on a valid body: 401 or 403, by construction. */
function credentialCase(rng: Rng, issuer: EntraIssuerEmulator, turn: number): { name: string; headers: Record<string, string>; expect: 204 | 401 | 403 } {
  const h = (extra: Record<string, string>): Record<string, string> => ({ ...REMOTE_WRITE_HEADERS, ...extra });
  const bearer = (t: string): Record<string, string> => h({ authorization: `Bearer ${t}` });
  const garbageSig = b64(printable(rng, 64));
  const kid = issuer.currentKid;
  const signed = (claims: Record<string, unknown>): string => issuer.sign(claims);
  const variants: (() => [string, Record<string, string>, 204 | 401 | 403])[] = [
    () => ['no credentials', h({}), 401],
    () => {
      const n = rng.pick([1, 8, 64, 4096, 16_384]);
      return [`x-relay-key of ${n} random characters`, h({ 'x-relay-key': printable(rng, n) }), 401];
    },
    () => ['x-relay-key of blanks', h({ 'x-relay-key': '   ' }), 401],
    () => ['Authorization: Bearer with nothing after it', h({ authorization: 'Bearer' }), 401],
    () => ['Authorization: Basic', h({ authorization: 'Basic dXNlcjpwYXNz' }), 401],
    () => [`a non-JWT bearer of ${rng.int(1, 8192)} characters`, bearer(printable(rng, rng.int(1, 8192)).replace(/^ey/, 'xx')), 401],
    () => ['JWT-shaped random segments', bearer(`ey${b64(printable(rng, 40))}.${b64(printable(rng, 80))}.${garbageSig}`), 401],
    () => ['JWT whose header is cut-off JSON', bearer(`${b64('{"alg":"RS2')}.${b64({ oid: PRINCIPAL })}.${garbageSig}`), 401],
    () => ['JWT whose claims are a JSON array', bearer(`${b64({ alg: 'RS256', kid })}.${b64([PRINCIPAL])}.${garbageSig}`), 401],
    () => ['JWT with alg none', bearer(`${b64({ alg: 'none', kid })}.${b64({ oid: PRINCIPAL, aud: AUDIENCE })}.${garbageSig}`), 401],
    () => ['JWT with alg HS256 (key confusion)', bearer(`${b64({ alg: 'HS256', kid })}.${b64({ oid: PRINCIPAL, aud: AUDIENCE })}.${garbageSig}`), 401],
    () => ['JWT without kid', bearer(`${b64({ alg: 'RS256' })}.${b64({ oid: PRINCIPAL })}.${garbageSig}`), 401],
    () => {
      const odd = rng.pick(['__proto__', 'constructor', 'toString', '', 'x'.repeat(4096), `${kid}\u0000`]);
      return [`JWT with kid ${JSON.stringify(odd.slice(0, 16))}`, bearer(`${b64({ alg: 'RS256', kid: odd })}.${b64({ oid: PRINCIPAL })}.${garbageSig}`), 401];
    },
    () => [
      "JWT with the issuer's kid and a forged signature",
      bearer(`${b64({ alg: 'RS256', kid })}.${b64({ oid: PRINCIPAL, aud: AUDIENCE, iss: issuer.issuer, exp: 4_000_000_000 })}.${garbageSig}`),
      401,
    ],
    () => [
      'JWT with 1 MiB of claims, forged',
      bearer(`${b64({ alg: 'RS256', kid })}.${b64({ oid: PRINCIPAL, pad: 'p'.repeat(1024 * 1024) })}.${garbageSig}`),
      401,
    ],
    () => ['JWT header with JSON nested 100 000 deep', bearer(`${b64(`{"alg":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)}.${b64({})}.${garbageSig}`), 401],
    () => ['signed token for another audience', bearer(signed({ aud: 'api://elsewhere', oid: PRINCIPAL })), 401],
    () => ['signed token, expired', bearer(signed({ aud: AUDIENCE, oid: PRINCIPAL, exp: 1_000_000 })), 401],
    () => ['signed token, exp as a string', bearer(signed({ aud: AUDIENCE, oid: PRINCIPAL, exp: '4000000000' })), 401],
    () => [
      'signed token, not valid for a year (nbf)',
      bearer(signed({ aud: AUDIENCE, oid: PRINCIPAL, nbf: Math.floor(Date.now() / 1000) + 365 * 86400 })),
      401,
    ],
    () => ['signed token from another issuer', bearer(signed({ aud: AUDIENCE, oid: PRINCIPAL, iss: 'https://sts.windows.net/evil/' })), 401],
    () => [
      'signed token, audience list of 10 000 others',
      bearer(signed({ aud: Array.from({ length: 10_000 }, (_, i) => `api://a${i}`), oid: PRINCIPAL })),
      401,
    ],
    () => ['signed token, principal of no tenant', bearer(signed({ aud: AUDIENCE, oid: `oid-${rng.u32()}` })), 403],
    () => ['signed token, oid a number', bearer(signed({ aud: AUDIENCE, oid: 12345 })), 403],
    () => ['signed token, oid of 64 KiB', bearer(signed({ aud: AUDIENCE, oid: 'o'.repeat(65_536) })), 403],
    () => [
      'signed token of the tenant, X-Relay-Tenant of another',
      h({ authorization: `Bearer ${signed({ aud: AUDIENCE, oid: PRINCIPAL })}`, 'x-relay-tenant': 'other' }),
      403,
    ],
    () => ["the tenant's key, X-Relay-Tenant of 10 000 characters", h({ 'x-relay-key': TENANT_KEY, 'x-relay-tenant': 't'.repeat(10_000) }), 403],
    () => ["another tenant's key asking for this tenant", h({ 'x-relay-key': OTHER_KEY, 'x-relay-tenant': 'fuzz' }), 403],
    () => [
      "the tenant's key and a garbage Authorization header (the key decides)",
      h({ 'x-relay-key': TENANT_KEY, authorization: `Bearer ey${printable(rng, 30)}` }),
      204,
    ],
  ];
  // every variant in turn, so that even a short run tries each of them
  const [name, headers, expect] = variants[turn % variants.length]();
  return { name, headers, expect };
}

/**
 * Case `index` of a tenant-mode run: every fifth a hostile credential on a valid capture,
 * the others the usual hostile bodies sent with the tenant's key.
 */
export function tenantCase(ctx: FuzzContext, issuer: EntraIssuerEmulator, seed: number, index: number): FuzzCase {
  if (index % 5 === 4) {
    const rng = caseRng(seed ^ 0x7e4a, index);
    const fixture = rng.pick(ctx.fixtures);
    const c = credentialCase(rng, issuer, Math.floor(index / 5));
    return { seed, index, kind: 'credentials', name: `${fixture.name}: ${c.name}`, body: fixture.body, headers: c.headers, expect: c.expect };
  }
  const c = generateCase(ctx, seed, index);
  return { ...c, headers: { ...c.headers, 'x-relay-key': TENANT_KEY } };
}
