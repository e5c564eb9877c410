// Emulates the parts of Microsoft Entra ID a relay needs to check callers' tokens: a JWKS
// endpoint with the tenant's signing keys, and real RS256-signed access tokens as Entra
// would issue to a workload or managed identity. Keys can be rotated to test the cache.

import { type KeyObject, createSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EntraIssuerEmulator {
  server: Server;
  tenantId: string;
  /** v2 issuer, as `iss` in tokens */
  issuer: string;
  jwksUrl: string;
  jwksRequests: number;
  /** an access token with these claims on top of iss/iat/nbf/exp (10 min) */
  sign(claims: Record<string, unknown>, opts?: { kid?: string; alg?: string; key?: KeyObject }): string;
  /** publishes a new signing key (and keeps the old one unless dropOld); returns its kid */
  rotate(dropOld?: boolean): string;
  currentKid: string;
  close(): Promise<void>;
}

export async function startEntraIssuer(): Promise<EntraIssuerEmulator> {
  const tenantId = randomUUID();
  const keys = new Map<string, { priv: KeyObject; pub: KeyObject }>();
  const newKey = (): string => {
    const kid = randomUUID().slice(0, 8);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    keys.set(kid, { priv: privateKey, pub: publicKey });
    return kid;
  };
  const emu: EntraIssuerEmulator = {
    server: undefined as unknown as Server,
    tenantId,
    issuer: '',
    jwksUrl: '',
    jwksRequests: 0,
    currentKid: newKey(),
    sign(claims, opts = {}) {
      const kid = opts.kid ?? emu.currentKid;
      const header = { alg: opts.alg ?? 'RS256', typ: 'JWT', kid };
      const t = Math.floor(Date.now() / 1000);
      const body = { iss: emu.issuer, iat: t, nbf: t, exp: t + 600, tid: tenantId, ...claims };
      const data = `${b64(header)}.${b64(body)}`;
      const key = opts.key ?? keys.get(kid)?.priv;
      if (!key) throw new Error(`no key ${kid}`);
      return `${data}.${createSign('RSA-SHA256').update(data).sign(key).toString('base64url')}`;
    },
    rotate(dropOld = false) {
      if (dropOld) keys.clear();
      emu.currentKid = newKey();
      return emu.currentKid;
    },
    close: () =>
      new Promise((ok) => {
        emu.server.close(() => ok());
        emu.server.closeAllConnections();
      }),
  };
  emu.server = createServer((req, res) => {
    if (req.url !== `/${tenantId}/discovery/v2.0/keys`) {
      res.writeHead(404);
      return void res.end();
    }
    emu.jwksRequests++;
    const jwks = [...keys].map(([kid, k]) => ({ ...k.pub.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: jwks }));
  });
  await new Promise<void>((ok) => emu.server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(emu.server.address() as AddressInfo).port}`;
  emu.issuer = `${base}/${tenantId}/v2.0`;
  emu.jwksUrl = `${base}/${tenantId}/discovery/v2.0/keys`;
  return emu;
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}
