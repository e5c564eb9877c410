// createTokenSource: unit tests with a fake credential and an injected clock, then the
// real @azure/identity ManagedIdentityCredential against the App Service managed-identity
// emulator. @azure/identity fixes the managed-identity source per process after the first
// token, so every real-credential test lives in this file and shares one emulator.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { verifyToken } from '../../dev/emulators/emulator-token';
import { type IdentityEmulator, startIdentityEmulator } from '../../dev/emulators/identity-endpoint';
import type { Env } from '../../shared/config/settings';
import { createCredential } from '../../shared/identity/credential';
import { type IdentityConfig, loadIdentityConfig } from '../../shared/identity/identity-config';
import { TokenError, type TokenSource, createTokenSource } from '../../shared/identity/token-source';
import { sleep, waitUntil } from '../../dev/kit/wait';

const SCOPE = 'https://monitor.azure.com/.default';
const MINUTE = 60_000;

interface Call {
  scope: string;
  options?: GetTokenOptions;
  resolve(t: AccessToken | null): void;
  reject(err: Error): void;
}

/** A credential whose every getToken waits until the test answers it. */
class FakeCredential implements TokenCredential {
  readonly calls: Call[] = [];
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    return new Promise((resolve, reject) => this.calls.push({ scope: String(scopes), options, resolve, reject }));
  }
}

/** Lets pending promise callbacks and immediate timers run. */
const flush = (): Promise<void> => new Promise((ok) => setImmediate(ok));

/** Whether p has settled once pending callbacks have run. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await flush();
  return settled;
}

describe('createTokenSource with a fake credential', () => {
  let clock = 1_700_000_000_000;
  const now = (): number => clock;
  const token = (name: string, lifetimeMs: number, at = clock): AccessToken => ({ token: name, expiresOnTimestamp: at + lifetimeMs });
  const sources: TokenSource[] = [];
  const source = (cred: TokenCredential, opts: Parameters<typeof createTokenSource>[2] = {}): TokenSource => {
    const s = createTokenSource(cred, SCOPE, { now, ...opts });
    sources.push(s);
    return s;
  };
  after(() => sources.forEach((s) => s.close()));

  it('makes one credential call for many concurrent and sequential callers', async () => {
    const cred = new FakeCredential();
    const ts = source(cred);
    const waiting = Array.from({ length: 50 }, () => ts.getToken());
    await flush();
    assert.equal(cred.calls.length, 1);
    assert.equal(cred.calls[0].scope, SCOPE);
    cred.calls[0].resolve(token('A', 60 * MINUTE));
    assert.deepEqual(new Set(await Promise.all(waiting)), new Set(['A']));
    for (let i = 0; i < 50; i++) {
      clock += 10_000; // 500 s in all: still before half the lifetime
      assert.equal(await ts.getToken(), 'A');
    }
    assert.equal(cred.calls.length, 1);
    assert.equal(ts.state().requests, 1);
    assert.equal(ts.state().hasToken, true);
  });

  it('refreshes in the background after half the lifetime; callers get the cached token meanwhile', async () => {
    const cred = new FakeCredential();
    const ts = source(cred);
    const first = ts.getToken();
    cred.calls[0].resolve(token('A', 60 * MINUTE));
    assert.equal(await first, 'A');
    const issued = clock;

    clock = issued + 29 * MINUTE;
    assert.equal(await ts.getToken(), 'A');
    assert.equal(cred.calls.length, 1, 'no refresh before half the lifetime');

    clock = issued + 30 * MINUTE + 1000;
    const during = ts.getToken();
    assert.equal(await isSettled(during), true, 'the caller does not wait for the refresh');
    assert.equal(await during, 'A');
    assert.equal(cred.calls.length, 2, 'a refresh started');

    for (let i = 0; i < 20; i++) assert.equal(await ts.getToken(), 'A');
    assert.equal(cred.calls.length, 2, 'one refresh at a time');

    cred.calls[1].resolve(token('B', 60 * MINUTE));
    await flush();
    assert.equal(await ts.getToken(), 'B');
    assert.equal(ts.state().expiresInSeconds, 3600);
    assert.equal(cred.calls.length, 2);
  });

  it('keeps serving the valid token when a background refresh fails, and retries after retryDelayMs', async () => {
    const cred = new FakeCredential();
    const refreshErrors: Error[] = [];
    const ts = source(cred, { retryDelayMs: 5000, onRefreshError: (e) => refreshErrors.push(e) });
    const first = ts.getToken();
    cred.calls[0].resolve(token('A', 60 * MINUTE));
    await first;

    clock += 31 * MINUTE;
    assert.equal(await ts.getToken(), 'A');
    assert.equal(cred.calls.length, 2);
    cred.calls[1].reject(new Error('identity endpoint down'));
    await flush();

    assert.equal(refreshErrors.length, 1);
    assert.ok(refreshErrors[0] instanceof TokenError);
    assert.match(ts.state().lastError ?? '', /identity endpoint down/);
    assert.equal(ts.state().hasToken, true);

    for (let i = 0; i < 10; i++) assert.equal(await ts.getToken(), 'A');
    clock += 4000;
    assert.equal(await ts.getToken(), 'A');
    assert.equal(cred.calls.length, 2, 'callers do not retry before retryDelayMs (no hammering of a failing endpoint)');

    clock += 1000;
    assert.equal(await ts.getToken(), 'A');
    assert.equal(cred.calls.length, 3, 'retried after retryDelayMs');
    cred.calls[2].reject(new Error('still down'));
    await flush();
    assert.equal(refreshErrors.length, 2);

    clock += 5000;
    assert.equal(await ts.getToken(), 'A');
    assert.equal(cred.calls.length, 4);
    cred.calls[3].resolve(token('B', 60 * MINUTE));
    await flush();
    assert.equal(await ts.getToken(), 'B');
    assert.equal(ts.state().lastError, undefined);
    assert.equal(ts.state().requests, 4);
  });

  it('after expiry a caller waits for a new token (the token counts as expired a margin early)', async () => {
    const cred = new FakeCredential();
    const ts = source(cred);
    const first = ts.getToken();
    cred.calls[0].resolve(token('A', 10 * MINUTE));
    await first;
    const expiresOn = clock + 10 * MINUTE;

    clock = expiresOn - 30_000; // within the 60 s margin
    assert.equal(ts.state().hasToken, false);
    const waiting = ts.getToken();
    assert.equal(await isSettled(waiting), false, 'the caller waits');
    assert.equal(cred.calls.length, 2);
    const alsoWaiting = ts.getToken();
    await flush();
    assert.equal(cred.calls.length, 2, 'waiting callers share one request');
    cred.calls[1].resolve(token('B', 10 * MINUTE));
    assert.equal(await waiting, 'B');
    assert.equal(await alsoWaiting, 'B');
  });

  it('with no valid token, a failure reaches the callers as TokenError; the next call tries again', async () => {
    const cred = new FakeCredential();
    const refreshErrors: Error[] = [];
    const ts = source(cred, { onRefreshError: (e) => refreshErrors.push(e) });

    const a = ts.getToken();
    const b = ts.getToken();
    await flush();
    assert.equal(cred.calls.length, 1);
    cred.calls[0].reject(new Error('ManagedIdentityCredential: no identity\nstack and details'));
    for (const p of [a, b]) {
      await assert.rejects(
        p,
        (err: unknown) =>
          err instanceof TokenError && err.message.includes(SCOPE) && /no identity/.test(err.message) && !err.message.includes('stack and details'),
      );
    }
    assert.equal(ts.state().hasToken, false);
    assert.match(ts.state().lastError ?? '', /no identity/);

    const c = ts.getToken();
    await flush();
    assert.equal(cred.calls.length, 2, 'not stuck on the failed request');
    cred.calls[1].resolve(null);
    await assert.rejects(c, (err: unknown) => err instanceof TokenError && /returned no token/.test(err.message));

    const d = ts.getToken();
    await flush();
    cred.calls[2].resolve(token('A', 10 * MINUTE));
    assert.equal(await d, 'A');

    clock += 11 * MINUTE; // expired; the refresh fails
    const e = ts.getToken();
    await flush();
    cred.calls[3].reject(new Error('endpoint down'));
    await assert.rejects(e, TokenError);
    assert.equal(refreshErrors.length, 0, 'onRefreshError is for background failures only');
  });

  it('a hung credential call times out instead of wedging every caller', async () => {
    const cred = new FakeCredential();
    const ts = source(cred, { requestTimeoutMs: 50 });
    const started = Date.now();
    await assert.rejects(ts.getToken(), (err: unknown) => err instanceof TokenError && /no answer within 50 ms/.test(err.message));
    assert.ok(Date.now() - started >= 40);
    assert.equal(cred.calls[0].options?.abortSignal?.aborted, true, 'the call is aborted');
    const next = ts.getToken();
    await flush();
    assert.equal(cred.calls.length, 2, 'a new call is made');
    cred.calls[1].resolve(token('A', 10 * MINUTE));
    assert.equal(await next, 'A');
  });
});

describe('createTokenSource timers (real clock)', () => {
  it('refreshes from a timer without callers, retries a failure from a timer, and close() stops both', async () => {
    const cred = new FakeCredential();
    const ts = createTokenSource(cred, SCOPE, { retryDelayMs: 50 });
    try {
      const first = ts.getToken();
      const t0 = Date.now();
      cred.calls[0].resolve({ token: 'A', expiresOnTimestamp: t0 + 1000 });
      assert.equal(await first, 'A');

      await waitUntil('the background refresh', () => cred.calls.length === 2, 3000, 10);
      const refreshedAfter = Date.now() - t0;
      assert.ok(refreshedAfter >= 450 && refreshedAfter < 900, `refresh after ${refreshedAfter} ms, expected about 500`);

      const failedAt = Date.now();
      cred.calls[1].reject(new Error('down'));
      await waitUntil('the retry', () => cred.calls.length === 3, 3000, 10);
      assert.ok(Date.now() - failedAt >= 40, 'retried after retryDelayMs');
      assert.equal(await ts.getToken(), 'A', 'still the valid token while retrying');

      cred.calls[2].resolve({ token: 'B', expiresOnTimestamp: Date.now() + 200 });
      await flush();
      assert.equal(await ts.getToken(), 'B');
      ts.close();
      await sleep(250); // B's refresh would have started at ~100 ms
      assert.equal(cred.calls.length, 3, 'no refresh after close()');

      // the same after a failure: close() also cancels a pending retry
      const ts2 = createTokenSource(cred, SCOPE, { retryDelayMs: 50, refreshFraction: 0 });
      const p = ts2.getToken();
      await flush();
      cred.calls[3].resolve({ token: 'C', expiresOnTimestamp: Date.now() + 10 * MINUTE });
      await p;
      await waitUntil('the immediate refresh', () => cred.calls.length === 5, 3000, 10);
      cred.calls[4].reject(new Error('down'));
      await flush();
      ts2.close();
      await sleep(120);
      assert.equal(cred.calls.length, 5, 'no retry after close()');

      // and a refresh still in flight at close() schedules nothing when it lands
      const ts3 = createTokenSource(cred, SCOPE, { refreshFraction: 0 });
      const q = ts3.getToken();
      await flush();
      cred.calls[5].resolve({ token: 'D', expiresOnTimestamp: Date.now() + 10 * MINUTE });
      await q;
      await waitUntil('the immediate refresh', () => cred.calls.length === 7, 3000, 10);
      ts3.close();
      cred.calls[6].resolve({ token: 'E', expiresOnTimestamp: Date.now() + 10 * MINUTE }); // refreshAt = now: would refresh at once
      await sleep(50);
      assert.equal(cred.calls.length, 7, 'no refresh scheduled after close()');
    } finally {
      ts.close();
    }
  });
});

describe('createTokenSource process lifetime', () => {
  it('its refresh timer does not keep the process alive', () => {
    const script = `
      const { createTokenSource } = require(${JSON.stringify(require.resolve('../../shared/identity/token-source'))});
      const cred = { getToken: async () => ({ token: 'A', expiresOnTimestamp: Date.now() + 3600000 }) };
      createTokenSource(cred, 'https://monitor.azure.com/.default').getToken().then((t) => console.log('got', t));
    `;
    const started = Date.now();
    const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 5000 });
    assert.equal(res.signal, null, 'the process had to be killed: a timer kept it alive');
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout.trim(), 'got A');
    assert.ok(Date.now() - started < 4000);
  });
});

describe('createTokenSource with the real ManagedIdentityCredential and the identity emulator', () => {
  const key = randomBytes(32);
  let emu: IdentityEmulator;
  const sources: TokenSource[] = [];
  const saved: Record<string, string | undefined> = {};
  const MI_VARS = [
    'IDENTITY_ENDPOINT',
    'IDENTITY_HEADER',
    'MSI_ENDPOINT',
    'MSI_SECRET',
    'IMDS_ENDPOINT',
    'IDENTITY_SERVER_THUMBPRINT',
    'AZURE_CLIENT_ID',
    'AZURE_POD_IDENTITY_AUTHORITY_HOST',
    'AZURE_FEDERATED_TOKEN_FILE',
  ];

  before(async () => {
    emu = await startIdentityEmulator({ key });
    for (const k of MI_VARS) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
    Object.assign(process.env, emu.env()); // before any credential is constructed
  });

  after(async () => {
    sources.forEach((s) => s.close());
    emu.failUntil = 0;
    await emu.close();
    for (const k of MI_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  function identity(env: Env): IdentityConfig {
    const problems: string[] = [];
    const cfg = loadIdentityConfig(env, problems);
    assert.deepEqual(problems, []);
    return cfg;
  }

  function source(cred: TokenCredential, scope: string, opts: Parameters<typeof createTokenSource>[2] = {}): TokenSource {
    const s = createTokenSource(cred, scope, opts);
    sources.push(s);
    return s;
  }

  /** The emulator's requests for a resource (each test uses its own: MSAL's cache is process-wide). */
  const requestsFor = (resource: string): { at: number; clientId?: string }[] => emu.requests.filter((r) => r.resource === resource);

  function assertValid(token: string, resource: string): { exp: number; sub: string } {
    const check = verifyToken(token, key, resource);
    assert.ok(check.ok, `token not valid: ${check.ok ? '' : check.reason}`);
    return check.claims;
  }

  it('50 concurrent and 50 sequential getToken calls make exactly one request', async () => {
    emu.tokenLifetimeSeconds = 3600;
    const cfg = identity({ IDENTITY_TYPE: 'systemAssigned' });
    const ts = source(createCredential(cfg)!, cfg.scope);
    const concurrent = await Promise.all(Array.from({ length: 50 }, () => ts.getToken()));
    const sequential: string[] = [];
    for (let i = 0; i < 50; i++) sequential.push(await ts.getToken());
    assert.equal(new Set([...concurrent, ...sequential]).size, 1);
    assert.equal(requestsFor('https://monitor.azure.com').length, 1);
    assert.equal(ts.state().requests, 1);
    assert.equal(requestsFor('https://monitor.azure.com')[0].clientId, undefined, 'system-assigned: no client_id');
    assert.equal(assertValid(concurrent[0], 'https://monitor.azure.com').sub, 'system');
  });

  it('userAssigned sends AZURE_CLIENT_ID to the identity endpoint', async () => {
    emu.tokenLifetimeSeconds = 3600;
    const clientId = '3c1d9a2e-0b4f-4e7a-9c8d-1a2b3c4d5e6f';
    const cfg = identity({ IDENTITY_TYPE: 'userAssigned', AZURE_CLIENT_ID: clientId, CLOUD: 'AzureChina' });
    const ts = source(createCredential(cfg)!, cfg.scope);
    const token = await ts.getToken();
    const reqs = requestsFor('https://monitor.azure.cn');
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].clientId, clientId);
    assert.equal(assertValid(token, 'https://monitor.azure.cn').sub, clientId);
  });

  it('short-lived tokens: a new request after half the lifetime, before expiry, while writes keep getting valid tokens without waiting', async () => {
    // MSAL treats tokens as expired 5 minutes early, so with 4 s tokens every credential
    // call goes to the endpoint: the token source alone decides how often that happens.
    emu.tokenLifetimeSeconds = 4;
    const resource = 'https://short-lived.example';
    const real = createCredential(identity({ IDENTITY_TYPE: 'systemAssigned' }))!;
    // Refreshes are slowed down, so a caller that waited for one would take over 400 ms.
    let credentialCalls = 0;
    const slowed: TokenCredential = {
      async getToken(scopes, options) {
        if (credentialCalls++ > 0) await sleep(400);
        return real.getToken(scopes, options);
      },
    };
    const ts = source(slowed, `${resource}/.default`);
    const first = await ts.getToken();
    const issuedAt = Date.now();
    const firstExpiry = assertValid(first, resource).exp * 1000;
    const lifetime = firstExpiry - issuedAt;
    assert.ok(lifetime > 2000 && lifetime <= 4000, `lifetime ${lifetime}`);

    const seen = new Set<string>([first]);
    let slowest = 0;
    let writes = 0;
    while (Date.now() < issuedAt + lifetime + 300) {
      // past the first token's expiry
      const started = Date.now();
      const token = await ts.getToken();
      slowest = Math.max(slowest, Date.now() - started);
      assertValid(token, resource);
      seen.add(token);
      writes++;
      await sleep(25);
    }

    ts.close();
    // A refresh may still be on its way; once it lands, every token-source request has
    // reached the endpoint (MSAL did not answer any from its cache).
    await waitUntil('token-source requests to match endpoint requests', () => requestsFor(resource).length === ts.state().requests, 1500, 10);
    const reqs = requestsFor(resource);
    assert.ok(reqs.length >= 2, 'a new token was requested');
    const second = reqs[1].at - reqs[0].at;
    assert.ok(second >= lifetime * 0.5 - 100, `second request ${second} ms after the first, before half of ${lifetime} ms`);
    assert.ok(reqs[1].at < firstExpiry, 'the new token was requested before the first expired');
    assert.ok(seen.size >= 2, 'writes moved on to the new token');
    assert.ok(slowest < 300, `a write waited ${slowest} ms for a token`);
    assert.ok(reqs.length <= 5, `${reqs.length} requests for ${writes} writes`);
    assert.ok(writes > 30);
  });

  it('with the identity endpoint failing, getToken keeps returning the cached valid token, then moves on once it recovers', async () => {
    emu.tokenLifetimeSeconds = 4;
    const resource = 'https://outage.example';
    const ts = source(createCredential(identity({ IDENTITY_TYPE: 'systemAssigned' }))!, `${resource}/.default`, { retryDelayMs: 200 });
    const cached = await ts.getToken();
    const expiry = assertValid(cached, resource).exp * 1000;
    emu.failUntil = Number.MAX_SAFE_INTEGER;

    await waitUntil('the background refresh to hit the failing endpoint', () => requestsFor(resource).length >= 2, 4000, 10);
    assert.ok(Date.now() < expiry, 'the refresh was attempted before the cached token expired');
    const started = Date.now();
    const during = await ts.getToken();
    assert.ok(Date.now() - started < 100, 'the caller did not wait for the failing endpoint');
    assert.equal(during, cached);
    assertValid(during, resource);
    assert.equal(ts.state().hasToken, true);

    emu.failUntil = 0;
    let fresh = during;
    await waitUntil(
      'a new token after recovery',
      () => {
        void ts.getToken().then(
          (t) => (fresh = t),
          () => undefined,
        );
        return fresh !== cached;
      },
      6000,
      10,
    );
    assertValid(fresh, resource);
    assert.ok(assertValid(fresh, resource).exp * 1000 > expiry);
    ts.close(); // B's refresh is a timer away: nothing is left in flight
  });
});
