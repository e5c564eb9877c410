// A token cache per (identity, scope) that refreshes in the background at about half
// the token's lifetime, as Prometheus's azuread does: after the first request no
// write waits for a token, and a failed refresh keeps the still-valid token while it
// retries. Only an expired token (or none yet) makes a caller wait.

import type { AccessToken, TokenCredential } from '@azure/identity';
import { asError } from '../errors';

export class TokenError extends Error {
  override readonly name = 'TokenError';
}

export interface TokenSourceState {
  hasToken: boolean;
  expiresInSeconds?: number;
  lastError?: string;
  requests: number;
}

export interface TokenSource {
  /** A valid bearer token; waits only when none is cached or it has expired. */
  getToken(): Promise<string>;
  state(): TokenSourceState;
  /** Stops background refresh. */
  close(): void;
}

export interface TokenSourceOptions {
  now?: () => number;
  /** fraction of the lifetime after which a background refresh starts */
  refreshFraction?: number;
  /** wait before retrying a failed background refresh */
  retryDelayMs?: number;
  /** longest wait for one credential call; a hung identity endpoint must not wedge every caller */
  requestTimeoutMs?: number;
  onRefreshError?: (err: Error) => void;
}

interface Cached {
  token: string;
  expiresOn: number;
  /** counted as expired from here: a margin for clock skew and request time */
  usableUntil: number;
  refreshAt: number;
}

export function createTokenSource(credential: TokenCredential, scope: string, opts: TokenSourceOptions = {}): TokenSource {
  const now = opts.now ?? Date.now;
  const refreshFraction = opts.refreshFraction ?? 0.5;
  const retryDelayMs = opts.retryDelayMs ?? 10_000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  let cached: Cached | undefined;
  let inflight: Promise<Cached> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastError: string | undefined;
  /** after a failed background refresh: callers do not start another before this */
  let retryAt = 0;
  let requests = 0;
  let closed = false;

  const schedule = (at: number): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void refresh().catch(() => undefined), Math.max(0, at - now()));
    timer.unref();
  };

  const fetchToken = async (): Promise<Cached> => {
    requests++;
    let t: AccessToken | null;
    const abort = new AbortController();
    let timeout: NodeJS.Timeout | undefined;
    try {
      t = await Promise.race([
        credential.getToken(scope, { abortSignal: abort.signal }),
        new Promise<never>((_, fail) => {
          timeout = setTimeout(() => {
            abort.abort();
            fail(new Error(`no answer within ${requestTimeoutMs} ms`));
          }, requestTimeoutMs); // not unref'd: someone awaits this call, and it is cleared when the call ends
        }),
      ]);
    } catch (err) {
      throw new TokenError(`could not get a token for ${scope}: ${oneLine(err)}`);
    } finally {
      clearTimeout(timeout);
    }
    if (!t) throw new TokenError(`the credential returned no token for ${scope}`);
    const issued = now();
    const lifetime = Math.max(0, t.expiresOnTimestamp - issued);
    const margin = Math.min(60_000, lifetime * 0.1);
    return {
      token: t.token,
      expiresOn: t.expiresOnTimestamp,
      usableUntil: t.expiresOnTimestamp - margin,
      refreshAt: issued + lifetime * refreshFraction,
    };
  };

  const refresh = (): Promise<Cached> => {
    inflight ??= fetchToken()
      .then((c) => {
        cached = c;
        lastError = undefined;
        retryAt = 0;
        schedule(c.refreshAt);
        return c;
      })
      .catch((err: unknown) => {
        const e = asError(err);
        lastError = e.message;
        // Keep the still-valid token; try again soon, but before it expires.
        if (cached && now() < cached.usableUntil) {
          opts.onRefreshError?.(e);
          retryAt = Math.min(now() + retryDelayMs, cached.usableUntil);
          schedule(retryAt);
        }
        throw err;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };

  return {
    async getToken() {
      const t = now();
      if (cached && t < cached.usableUntil) {
        if (t >= cached.refreshAt && t >= retryAt && !inflight) void refresh().catch(() => undefined);
        return cached.token;
      }
      return (await refresh()).token;
    },
    state() {
      return {
        hasToken: cached !== undefined && now() < cached.usableUntil,
        expiresInSeconds: cached ? Math.round((cached.expiresOn - now()) / 1000) : undefined,
        lastError,
        requests,
      };
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}
