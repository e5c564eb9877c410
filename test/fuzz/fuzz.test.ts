// Hostile input (issue 6, point 5): never a crash, never unbounded memory, every hostile
// request a 4xx, valid traffic served throughout. A bounded run of the fuzz harness
// (test/fuzz/README.md): 600 generated bodies through the single-tenant relay, 300 bodies
// and hostile credentials through the multi-tenant one, and hostile HTTP against the dev
// Function host and the forwarder's server. `npm run fuzz` runs the same with many more.
//
// FUZZ_SEED and FUZZ_CI_CASES override this run's fixed seed and case count.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type EntraIssuerEmulator, startEntraIssuer } from '../../dev/emulators/entra-issuer';
import { createFunctionHost } from '../../dev/function-host';
import { createForwarderServer } from '../../local-proxy/server';
import { type Harness, startHarness } from '../../dev/kit/relay-harness';
import { type FuzzContext, KINDS } from '../../dev/kit/fuzz/cases';
import { runHttpCases, serverTimeouts } from '../../dev/kit/fuzz/http-cases';
import { formatReport, formatViolation, runCases } from '../../dev/kit/fuzz/runner';
import { FUZZ_ENV, TEST_TIMEOUTS, fuzzContext, startHttpTargets, stubForwarderRoutes } from '../../dev/kit/fuzz/setup';
import { TENANT_HEADERS, tenantCase, tenantContext, tenantEnv } from '../../dev/kit/fuzz/tenant';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : 20_260_506;
const CASES = Number(process.env.FUZZ_CI_CASES ?? 600);
const TENANT_CASES = Math.ceil(CASES / 2);

describe('fuzz: hostile write bodies', () => {
  let h: Harness;
  let ctx: FuzzContext;
  before(async () => {
    h = await startHarness({ workspaces: 2, env: FUZZ_ENV });
    ctx = fuzzContext();
  });
  after(() => h.close());

  test(`${CASES} generated cases (seed ${SEED}): the oracle's status every time, valid writes keep arriving, memory bounded`, async (t) => {
    const report = await runCases(h, ctx, { seed: SEED, cases: CASES, checkEvery: 50 });
    for (const line of formatReport(report).split('\n')) t.diagnostic(line);
    assert.deepEqual(
      KINDS.filter((k) => report.byKind.get(k)!.cases === 0),
      [],
      'every kind of case ran',
    );
    assert.ok(report.sentinels >= Math.floor(CASES / 50), 'valid writes were checked throughout');
    assert.equal(report.violations.length, 0, `\n${report.violations.map(formatViolation).join('\n\n')}`);
  });

  test('slow-loris and lying HTTP: dropped within the timeouts or a 4xx, never a 5xx, valid writes keep their 204', async (t) => {
    const http = await startHttpTargets(h, ctx, TEST_TIMEOUTS);
    try {
      const results = (await Promise.all(http.targets.map(({ target, timeouts }) => runHttpCases(target, timeouts)))).flat();
      for (const r of results) t.diagnostic(`${r.ok ? 'ok  ' : 'FAIL'} ${r.target}: ${r.name}: ${r.detail}`);
      assert.deepEqual(
        results.filter((r) => !r.ok).map((r) => `${r.target}: ${r.name}: ${r.detail}`),
        [],
      );
      assert.ok(results.length >= 40);
    } finally {
      await http.close();
    }
  });

  test("the servers' own timeouts bound every request (the mechanism the HTTP cases exercise, scaled down)", () => {
    // Node's defaults: headers within 60 s, the whole request within 300 s, enforced every 30 s.
    for (const [name, server] of [
      ['dev Function host', createFunctionHost([])],
      ['forwarder server', createForwarderServer(stubForwarderRoutes(1024))],
    ] as const) {
      const t = serverTimeouts(server);
      assert.ok(t.headersTimeout > 0 && t.headersTimeout <= 60_000, `${name}: headersTimeout ${t.headersTimeout}`);
      assert.ok(t.requestTimeout > 0 && t.requestTimeout <= 300_000, `${name}: requestTimeout ${t.requestTimeout}`);
      assert.ok(
        t.connectionsCheckingInterval > 0 && t.connectionsCheckingInterval <= 30_000,
        `${name}: connectionsCheckingInterval ${t.connectionsCheckingInterval}`,
      );
    }
  });
});

describe('fuzz: the multi-tenant relay', () => {
  let issuer: EntraIssuerEmulator;
  let h: Harness;
  let ctx: FuzzContext;
  before(async () => {
    issuer = await startEntraIssuer();
    let env: Record<string, string> = {};
    h = await startHarness({ workspaces: 2, env: (ws) => (env = tenantEnv(ws, issuer)) });
    ctx = tenantContext(fuzzContext(), env);
  });
  after(async () => {
    await h.close();
    await issuer.close();
  });

  test(`${TENANT_CASES} cases with the tenant's key or hostile credentials: 401/403 for the credentials, the oracle's status for the bodies`, async (t) => {
    const report = await runCases(h, ctx, { seed: SEED, cases: TENANT_CASES, generate: (i) => tenantCase(ctx, issuer, SEED, i), validHeaders: TENANT_HEADERS });
    for (const line of formatReport(report).split('\n')) t.diagnostic(line);
    assert.ok((report.byKind.get('credentials')?.cases ?? 0) >= Math.floor(TENANT_CASES / 5));
    assert.equal(report.violations.length, 0, `\n${report.violations.map(formatViolation).join('\n\n')}`);
  });
});
