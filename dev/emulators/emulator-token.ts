// Tokens the emulated identity endpoint issues and the emulated workspace checks:
// `emu1.<base64url(claims)>.<HMAC-SHA256>`, signed with a key both emulators share.
// Not a JWT on purpose: nothing here should look like a real Entra token.

import { createHmac, timingSafeEqual } from 'node:crypto';

export interface EmulatorClaims {
  /** the resource the token was asked for, e.g. https://monitor.azure.com */
  aud: string;
  /** epoch seconds */
  exp: number;
  /** client id of the identity, or "system" */
  sub: string;
}

export function signToken(claims: EmulatorClaims, key: Buffer): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const mac = createHmac('sha256', key).update(body).digest('base64url');
  return `emu1.${body}.${mac}`;
}

export type TokenCheck = { ok: true; claims: EmulatorClaims } | { ok: false; status: 401 | 403; reason: string };

export function verifyToken(token: string, key: Buffer, audience: string, nowSeconds = Date.now() / 1000): TokenCheck {
  const [v, body, mac] = token.split('.');
  if (v !== 'emu1' || !body || !mac) return { ok: false, status: 401, reason: 'malformed token' };
  const want = createHmac('sha256', key).update(body).digest();
  const got = Buffer.from(mac, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, status: 401, reason: 'bad token signature' };
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as EmulatorClaims;
  if (claims.exp <= nowSeconds) return { ok: false, status: 401, reason: 'token expired' };
  if (claims.aud.replace(/\/+$/, '') !== audience.replace(/\/+$/, ''))
    return { ok: false, status: 403, reason: `token audience ${claims.aud} is not ${audience}` };
  return { ok: true, claims };
}
