// Validates callers' Microsoft Entra access tokens in-process: RS256 signature against
// the issuer's JWKS (cached, refreshed daily and when an unknown key id appears, at most
// once a minute), issuer, audience, expiry and not-before with 5 minutes of clock skew as
// Microsoft's own libraries allow. Only RS256 is accepted: no `none`, no HMAC confusion.

import { type KeyObject, createPublicKey, verify as verifySignature } from 'node:crypto';
import { HttpError } from '../errors';
import type { EntraCallers } from './tenants';

export interface VerifiedToken {
  /** oid, appid and azp claims present in the token: what tenants list as principals */
  principalIds: string[];
}

export interface EntraVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

export interface Jwk {
  kid?: string;
  kty: string;
  n?: string;
  e?: string;
  use?: string;
}

export interface EntraVerifierOptions {
  now?: () => number;
  fetchJwks?: (url: string) => Promise<{ keys: Jwk[] }>;
  skewSeconds?: number;
  refreshIntervalMs?: number;
  minRefetchIntervalMs?: number;
}

const unauthorized = (why: string): HttpError => new HttpError(401, 'unauthenticated', `bearer token rejected: ${why}`);

export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) && token.startsWith('ey');
}

export function createEntraVerifier(cfg: EntraCallers, opts: EntraVerifierOptions = {}): EntraVerifier {
  const now = opts.now ?? Date.now;
  const skew = (opts.skewSeconds ?? 300) * 1000;
  const refreshIntervalMs = opts.refreshIntervalMs ?? 24 * 3_600_000;
  const minRefetchMs = opts.minRefetchIntervalMs ?? 60_000;
  const fetchJwks = opts.fetchJwks ?? defaultFetchJwks;
  let keys = new Map<string, KeyObject>();
  let fetchedAt = -Infinity;
  let inflight: Promise<void> | undefined;

  const refresh = (): Promise<void> => {
    inflight ??= fetchJwks(cfg.jwksUrl)
      .then((doc) => {
        const next = new Map<string, KeyObject>();
        for (const k of doc.keys ?? []) {
          if (k.kty !== 'RSA' || !k.kid || !k.n || !k.e || (k.use && k.use !== 'sig')) continue;
          next.set(k.kid, createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' }));
        }
        keys = next;
        fetchedAt = now();
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };

  const keyFor = async (kid: string): Promise<KeyObject | undefined> => {
    const stale = now() - fetchedAt > refreshIntervalMs;
    if (stale || (!keys.has(kid) && now() - fetchedAt > minRefetchMs)) {
      try {
        await refresh();
      } catch (err) {
        // Keep the keys we have; a caller with a known key is still served.
        if (keys.size === 0) throw new HttpError(503, 'unauthenticated', `cannot fetch the token signing keys, retry: ${(err as Error).message}`);
      }
    }
    return keys.get(kid);
  };

  return {
    async verify(token) {
      const [h, p, s] = token.split('.');
      if (!h || !p || !s) throw unauthorized('not a JWT');
      const header = decodeJson(h);
      const claims = decodeJson(p);
      if (!header || !claims) throw unauthorized('not a JWT');
      if (header.alg !== 'RS256') throw unauthorized(`algorithm ${shown(header.alg)} is not accepted (RS256 only)`);
      if (typeof header.kid !== 'string') throw unauthorized('no key id (kid)');
      const key = await keyFor(header.kid);
      if (!key) throw unauthorized(`signing key ${header.kid} is not published by the issuer`);
      if (!verifySignature('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) throw unauthorized('bad signature');
      if (typeof claims.iss !== 'string' || !cfg.issuers.includes(claims.iss)) throw unauthorized(`issuer ${shown(claims.iss)} is not accepted`);
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.includes(cfg.audience)) throw unauthorized(`audience is not ${cfg.audience}`);
      const t = now();
      if (typeof claims.exp !== 'number' || claims.exp * 1000 + skew <= t) throw unauthorized('expired');
      if (typeof claims.nbf === 'number' && claims.nbf * 1000 - skew > t) throw unauthorized('not valid yet (nbf)');
      const principalIds = ['oid', 'appid', 'azp'].map((c) => claims[c]).filter((v): v is string => typeof v === 'string' && v !== '');
      return { principalIds };
    },
  };
}

/**
 * A header or claim value for a message. Never String() of the caller's JSON: an array
 * nested 100 000 deep (an unauthenticated caller's `alg`) overflows the stack in
 * Array#join, and the relay would answer 500 instead of 401.
 */
function shown(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v).slice(0, 100);
  return v === null ? 'null' : typeof v;
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function defaultFetchJwks(url: string): Promise<{ keys: Jwk[] }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`JWKS ${url} answered ${res.status}`);
  return (await res.json()) as { keys: Jwk[] };
}
