// `npm run fuzz`: the relay against hostile input, many more cases than `npm test` runs.
// Same generator, oracle and checks as test/fuzz/fuzz.test.ts (see test/fuzz/README.md):
// the single-tenant relay, then the multi-tenant relay (hostile bodies with a tenant key,
// hostile credentials), then hostile HTTP against the dev Function host and the
// forwarder's server.
//
//   FUZZ_CASES=20000        generated cases for the single-tenant relay (from FUZZ_FIRST, default 0)
//   FUZZ_TENANT_CASES=…     cases for the multi-tenant relay (default FUZZ_CASES / 4)
//   FUZZ_SEED=<n>           the run's seed (default: random, printed)
//   FUZZ_MODE=tenant|single only that relay (with FUZZ_ONLY: the one the case came from)
//   FUZZ_ONLY=12,907        run just these case indices of the seed, printing each answer
//   FUZZ_VERBOSE=1          print every case's answer
//   FUZZ_HTTP=0             skip the HTTP cases
//   FUZZ_REAL_TIMEOUTS=1    HTTP cases against the servers' own timeouts (Node's defaults:
//                           headers 60 s, request 300 s, checked every 30 s: takes ~6 minutes)
//   FUZZ_SAVE=<dir>         where offending bodies are written (default: <tmp>/relay-fuzz)
//
// Exits 1 on any violation, printing the seed and each offending case to reproduce it.

import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEntraIssuer } from './emulators/entra-issuer';
import type { FuzzCase, FuzzContext } from './kit/fuzz/cases';
import { runHttpCases } from './kit/fuzz/http-cases';
import { type RunReport, formatReport, formatViolation, mib, runCases } from './kit/fuzz/runner';
import { FUZZ_ENV, TEST_TIMEOUTS, fuzzContext, startHttpTargets } from './kit/fuzz/setup';
import { TENANT_HEADERS, tenantCase, tenantContext, tenantEnv } from './kit/fuzz/tenant';
import { type Harness, startHarness } from './kit/relay-harness';
import { asError } from '../shared/errors';

const env = process.env;
const seed = env.FUZZ_SEED !== undefined && env.FUZZ_SEED !== '' ? Number(env.FUZZ_SEED) >>> 0 : randomInt(0, 2 ** 31);
const only = env.FUZZ_ONLY ? env.FUZZ_ONLY.split(',').map((s) => Number(s.trim())) : undefined;
const cases = Number(env.FUZZ_CASES ?? 20_000);
const tenantCases = Number(env.FUZZ_TENANT_CASES ?? Math.ceil(cases / 4));
const first = Number(env.FUZZ_FIRST ?? 0);
const mode = env.FUZZ_MODE ?? (only ? 'single' : 'both');
const verbose = env.FUZZ_VERBOSE === '1' || only !== undefined;
const saveDir = env.FUZZ_SAVE ?? join(tmpdir(), 'relay-fuzz');
const out = (s: string): void => void process.stdout.write(`${s}\n`);

async function run(
  title: string,
  h: Harness,
  ctx: FuzzContext,
  count: number,
  extra: { generate?: (i: number) => FuzzCase; validHeaders?: Record<string, string>; reproduceEnv?: string },
): Promise<RunReport> {
  out(`\n== ${title}: ${only ? `cases ${only.join(',')}` : `${count} cases from #${first}`}`);
  const report = await runCases(h, ctx, {
    seed,
    cases: count,
    first,
    only,
    maxViolations: 50,
    ...extra,
    progress: (done, r) => {
      if (done % 1000 === 0) {
        const m = process.memoryUsage();
        out(`  ${done} cases, ${r.violations.length} violations, rss ${mib(m.rss)}, heap ${mib(m.heapUsed)}`);
      }
    },
    onCase: verbose
      ? (c, a, expected, why) =>
          out(`  #${c.index} [${c.kind}] ${c.name}\n    → ${a.status} in ${a.ms.toFixed(1)} ms (expected ${expected}: ${why}) ${a.body.slice(0, 200)}`)
      : undefined,
  });
  out(formatReport(report));
  if (report.violations.length > 0) {
    mkdirSync(saveDir, { recursive: true });
    for (const v of report.violations) {
      out(`\n${formatViolation(v)}`);
      if (v.body !== undefined) {
        const file = join(saveDir, `seed${v.seed}-case${v.index}${v.reproduceEnv ? '-tenant' : ''}.bin`);
        writeFileSync(file, v.body);
        out(`  saved: ${file}${v.headers ? `  headers: ${JSON.stringify(v.headers).slice(0, 300)}` : ''}`);
      }
    }
  }
  return report;
}

async function main(): Promise<number> {
  out(`fuzz: seed ${seed} (reproduce: FUZZ_SEED=${seed} npm run fuzz)`);
  let failed = false;
  const base = fuzzContext();

  if (mode === 'both' || mode === 'single') {
    const h = await startHarness({ workspaces: 2, env: FUZZ_ENV });
    try {
      const report = await run('single-tenant relay', h, base, cases, {});
      if (report.violations.length > 0) failed = true;
      if (env.FUZZ_HTTP !== '0' && only === undefined) {
        const real = env.FUZZ_REAL_TIMEOUTS === '1';
        const http = await startHttpTargets(h, base, real ? undefined : TEST_TIMEOUTS);
        try {
          out(`\n== HTTP (${real ? "the servers' own timeouts" : 'timeouts scaled down to headers 1 s, request 2 s, checked every 250 ms'})`);
          const all = await Promise.all(http.targets.map(({ target, timeouts }) => runHttpCases(target, timeouts)));
          for (const [i, results] of all.entries()) {
            const t = http.targets[i].timeouts;
            out(
              `  ${http.targets[i].target.name} (headersTimeout ${t.headersTimeout} ms, requestTimeout ${t.requestTimeout} ms, checked every ${t.connectionsCheckingInterval} ms)`,
            );
            for (const r of results) {
              out(`    ${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
              if (!r.ok) failed = true;
            }
          }
          if (http.hostErrors.length > 0) out(`  handler failures logged by the servers (clients gone mid-request): ${http.hostErrors.length}`);
        } finally {
          await http.close();
        }
      }
    } finally {
      await h.close();
    }
  }

  if ((mode === 'both' || mode === 'tenant') && (tenantCases > 0 || only)) {
    const issuer = await startEntraIssuer();
    let tenantSettings: Record<string, string> = {};
    const h = await startHarness({ workspaces: 2, env: (ws) => (tenantSettings = tenantEnv(ws, issuer)) });
    try {
      const ctx = tenantContext(base, tenantSettings);
      const report = await run('multi-tenant relay', h, ctx, tenantCases, {
        generate: (i) => tenantCase(ctx, issuer, seed, i),
        validHeaders: TENANT_HEADERS,
        reproduceEnv: 'FUZZ_MODE=tenant',
      });
      if (report.violations.length > 0) failed = true;
    } finally {
      await h.close();
      await issuer.close();
    }
  }

  out(`\n${failed ? `FAIL (seed ${seed})` : 'PASS'}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = asError(err);
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(2);
  },
);
