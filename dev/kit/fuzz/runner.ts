// Runs generated cases through the relay in-process (the Function's own write handler,
// dev/kit/relay-harness.ts) and checks each against the oracle:
//   - the handler never throws, never answers 5xx;
//   - it answers exactly the oracle's (or the case's stated) status: 4xx for anything
//     hostile, 204 only for a body that is a valid request after all;
//   - nothing of a refused request reaches a workspace, and an accepted one does;
//   - a refusal's reason is one line, of bounded length (≤ 4 KiB beyond what the
//     request's headers hold: the relay may quote a header, never the whole body);
//   - every `checkEvery` cases a real capture and a fresh marker request still get 204
//     and the marker series arrives, cluster label added, at every workspace;
//   - memory: peak RSS over the run and retained heap + external memory (after a full
//     GC, emulator state cleared) stay under their bounds.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { compressSync } from 'snappy';
import { seriesKey } from '../../emulators/workspace';
import { encodeWriteRequest } from '../../../shared/remote-write/model/encode';
import type { Label } from '../../../shared/remote-write/model/types';
import type { Harness } from '../relay-harness';
import { type CaseKind, type FuzzCase, type FuzzContext, KINDS, generateCase, isHeavy } from './cases';
import { expectedVerdict, oracleCanJudge } from './oracle';

export interface RunOptions {
  seed: number;
  /** number of cases, from index `first` (default 0) */
  cases: number;
  first?: number;
  /** run only these case indices instead */
  only?: readonly number[];
  /** a valid write is checked every this many cases (default 50) */
  checkEvery?: number;
  /** violation when RSS grows more than this while the relay handles one case (default 200 MiB) */
  caseRssLimitMiB?: number;
  /** violation when peak RSS over the whole run grows more than this over the baseline (default 512 MiB) */
  rssGrowthLimitMiB?: number;
  /** violation when heap + external memory after a full GC grows more than this (default 48 MiB) */
  retainedGrowthLimitMiB?: number;
  /** a single case taking longer than this is a violation (default 10 s) */
  slowCaseMs?: number;
  /** stop after this many violations (default 20) */
  maxViolations?: number;
  /** called every `checkEvery` cases */
  progress?: (done: number, report: RunReport) => void;
  /** the case of an index (default: generateCase of the seed) */
  generate?: (index: number) => FuzzCase;
  /** headers of the valid writes checked in between (default: a plain remote-write request) */
  validHeaders?: Record<string, string>;
  /** extra settings of `npm run fuzz` that reproduce this run (e.g. FUZZ_MODE=tenant) */
  reproduceEnv?: string;
  /** called after each case (reproduction, verbose runs) */
  onCase?: (c: FuzzCase, answer: { status: number; body: string; ms: number }, expected: number, why: string) => void;
}

export interface Violation {
  seed: number;
  index: number;
  kind: CaseKind | 'sentinel' | 'memory';
  name: string;
  problem: string;
  /** the offending body (absent for run-level violations) */
  body?: Buffer;
  headers?: Record<string, string>;
  reproduceEnv?: string;
}

export interface KindStats {
  cases: number;
  /** status → count */
  statuses: Record<string, number>;
  totalMs: number;
  maxMs: number;
  slowest: string;
  bytes: number;
  /** largest RSS growth from before generating a case to after its answer */
  maxRssDelta: number;
}

export interface MemoryStats {
  /** RSS before the first case */
  baselineRss: number;
  peakRss: number;
  finalRss: number;
  peakHeapUsed: number;
  /** heap used + external memory after a full GC, before and after the run */
  retainedBefore: number;
  retainedAfter: number;
}

export interface RunReport {
  seed: number;
  cases: number;
  sentinels: number;
  durationMs: number;
  byKind: Map<CaseKind, KindStats>;
  violations: Violation[];
  memory: MemoryStats;
}

const MiB = 1024 * 1024;

let gcFn: (() => void) | undefined;

/** A full GC, exposed at runtime (no --expose-gc needed on the command line). */
export function fullGc(): void {
  if (gcFn === undefined) {
    const existing = (globalThis as { gc?: () => void }).gc;
    if (existing) {
      gcFn = existing;
    } else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

function retained(): number {
  fullGc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Clears what the emulated workspaces keep, so their memory is not counted as the relay's. */
function clearWorkspaces(h: Harness): void {
  for (const ws of h.workspaces) {
    ws.series.clear();
    ws.metadata.clear();
    ws.requests.length = 0;
  }
  h.logs.length = 0;
}

/** A valid write must still be accepted and arrive: a real capture and a unique marker series. */
async function sentinel(h: Harness, ctx: FuzzContext, n: number, headers: Record<string, string> | undefined): Promise<string | undefined> {
  const fixture = ctx.fixtures[n % ctx.fixtures.length];
  const a = await h.write(fixture.body, headers);
  if (a.status !== 204) return `a valid capture (${fixture.name}) got ${a.status}: ${a.body}`;
  const labels: Label[] = [
    { name: '__name__', value: 'fuzz_sentinel' },
    { name: 'seq', value: String(n) },
  ];
  const body = compressSync(
    encodeWriteRequest({
      timeseries: [{ labels, samples: [{ value: 0x3ff0000000000000n, timestamp: 1_700_000_000_000n + BigInt(n) }], exemplars: [], histograms: [] }],
      metadata: [],
    }),
  );
  const b = await h.write(body, headers);
  if (b.status !== 204) return `the marker request #${n} got ${b.status}: ${b.body}`;
  const cluster = ctx.cfg.cluster;
  const key = seriesKey(cluster === undefined ? labels : [...labels, { name: 'cluster', value: cluster }]);
  for (const ws of h.workspaces) if (!ws.series.has(key)) return `the marker series #${n} did not arrive at ${ws.name}`;
  return undefined;
}

function emptyStats(): KindStats {
  return { cases: 0, statuses: {}, totalMs: 0, maxMs: 0, slowest: '', bytes: 0, maxRssDelta: 0 };
}

export async function runCases(h: Harness, ctx: FuzzContext, opts: RunOptions): Promise<RunReport> {
  const checkEvery = opts.checkEvery ?? 50;
  const caseRssLimit = (opts.caseRssLimitMiB ?? 200) * MiB;
  const rssLimit = (opts.rssGrowthLimitMiB ?? 512) * MiB;
  const retainedLimit = (opts.retainedGrowthLimitMiB ?? 48) * MiB;
  const slowCaseMs = opts.slowCaseMs ?? 10_000;
  const maxViolations = opts.maxViolations ?? 20;
  const first = opts.first ?? 0;
  const indices = opts.only ?? Array.from({ length: opts.cases }, (_, i) => first + i);

  const byKind = new Map<CaseKind, KindStats>(KINDS.map((k) => [k, emptyStats()]));
  const generate = opts.generate ?? ((index: number) => generateCase(ctx, opts.seed, index));
  const check = (n: number): Promise<string | undefined> => sentinel(h, ctx, n, opts.validHeaders);
  const violations: Violation[] = [];
  const started = Date.now();
  let sentinels = 0;

  // warm up with valid traffic only (no hostile case may hide a ratchet in the baseline)
  const warm = await check(sentinels++);
  if (warm !== undefined) throw new Error(`the relay does not take valid writes before fuzzing: ${warm}`);
  clearWorkspaces(h);
  const retainedBefore = retained();
  const baselineRss = process.memoryUsage().rss;
  const memory: MemoryStats = { baselineRss, peakRss: baselineRss, finalRss: baselineRss, peakHeapUsed: 0, retainedBefore, retainedAfter: retainedBefore };
  const report: RunReport = { seed: opts.seed, cases: 0, sentinels, durationMs: 0, byKind, violations, memory };
  const sampleMemory = (): void => {
    const m = process.memoryUsage();
    if (m.rss > memory.peakRss) memory.peakRss = m.rss;
    if (m.heapUsed > memory.peakHeapUsed) memory.peakHeapUsed = m.heapUsed;
  };

  for (const index of indices) {
    if (violations.length >= maxViolations) break;
    const c: FuzzCase = generate(index);
    const fail = (problem: string): void => {
      violations.push({ seed: opts.seed, index, kind: c.kind, name: c.name, problem, body: c.body, headers: c.headers, reproduceEnv: opts.reproduceEnv });
    };
    let expected: number;
    let why: string;
    /** a 204 must reach every workspace (not a request with nothing to send) */
    let forwards: boolean;
    if (c.expect !== undefined) {
      expected = c.expect;
      why = 'by construction';
      forwards = c.expect === 204 && c.body.length > 0;
      // the construction's claim is checked against the oracle wherever the oracle can judge
      // (it judges 1.0 bodies: 2.0 cases and header cases are judged by construction alone)
      if (c.kind !== 'headers' && c.kind !== 'credentials' && c.kind !== 'remote-write-2' && oracleCanJudge(c.body, ctx.cfg)) {
        const v = expectedVerdict(c.body, ctx.cfg);
        if (v.status !== c.expect) fail(`generator says ${c.expect} but the oracle says ${v.status} (${v.why})`);
        forwards = v.forwards;
      }
    } else {
      try {
        const v = expectedVerdict(c.body, ctx.cfg);
        expected = v.status;
        why = v.why;
        forwards = v.forwards;
      } catch (err) {
        fail(`the oracle cannot judge it: ${(err as Error).message}`);
        continue;
      }
    }
    // A heavy case (tens of MiB) is sent from a collected heap, so its RSS growth is the
    // relay's (and the Functions request object's) and not the generator's or the oracle's
    // garbage, or that of earlier cases V8 has not collected yet.
    if (isHeavy(c.kind)) fullGc();
    const rssBefore = process.memoryUsage.rss();
    const before = h.workspaces.map((w) => w.requests.length);
    const t0 = process.hrtime.bigint();
    let res: { status: number; headers: Record<string, string>; body: string };
    try {
      res = await h.write(c.body, c.headers);
    } catch (err) {
      fail(`the write handler threw: ${(err as Error).stack ?? String(err)}`);
      continue;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    sampleMemory();
    report.cases++;
    let stats = byKind.get(c.kind);
    if (stats === undefined) byKind.set(c.kind, (stats = emptyStats()));
    const rssDelta = process.memoryUsage.rss() - rssBefore;
    stats.maxRssDelta = Math.max(stats.maxRssDelta, rssDelta);
    if (rssDelta > caseRssLimit) fail(`RSS grew by ${mib(rssDelta)} while the relay handled it (limit ${mib(caseRssLimit)})`);
    stats.cases++;
    stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
    stats.totalMs += ms;
    stats.bytes += c.body.length;
    if (ms > stats.maxMs) {
      stats.maxMs = ms;
      stats.slowest = `#${index} ${c.name}`;
    }

    opts.onCase?.(c, { status: res.status, body: res.body, ms }, expected, why);
    const forwarded = h.workspaces.some((w, i) => w.requests.length > before[i]);
    if (res.status >= 500) fail(`answered ${res.status} (a server error) to hostile input: ${res.body.slice(0, 300)}`);
    else if (res.status !== expected) fail(`answered ${res.status}, the oracle expects ${expected} (${why}): ${res.body.slice(0, 300)}`);
    if (expected >= 400 && forwarded) fail(`a request the oracle refuses (${why}) was forwarded to a workspace (relay answered ${res.status})`);
    if (expected === 204 && res.status === 204 && forwards && !h.workspaces.every((w, i) => w.requests.length > before[i])) {
      fail('accepted with 204 but not forwarded to every workspace');
    }
    if (res.status === 204 && !forwards && forwarded) fail(`a request with nothing to send (${why}) was forwarded to a workspace`);
    // One line of bounded length: a reason may quote what the caller sent in headers (a
    // tenant name, a key id), never an unbounded part of the body.
    const headerChars = Object.entries(c.headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (res.status >= 400 && (/[\r\n]/.test(res.body) || res.body.length > 4096 + headerChars))
      fail(`the refusal's reason is not one bounded line (${res.body.length} chars)`);
    if (ms > slowCaseMs) fail(`took ${ms.toFixed(0)} ms (limit ${slowCaseMs} ms)`);

    if (report.cases % checkEvery === 0) {
      const problem = await check(sentinels++);
      report.sentinels = sentinels;
      if (problem !== undefined) violations.push({ seed: opts.seed, index, kind: 'sentinel', name: `valid write after case #${index}`, problem });
      clearWorkspaces(h);
      opts.progress?.(report.cases, report);
    }
  }

  const last = await check(sentinels++);
  report.sentinels = sentinels;
  if (last !== undefined) violations.push({ seed: opts.seed, index: -1, kind: 'sentinel', name: 'valid write after the run', problem: last });
  clearWorkspaces(h);
  sampleMemory();
  memory.retainedAfter = retained();
  memory.finalRss = process.memoryUsage().rss;
  report.durationMs = Date.now() - started;

  if (memory.peakRss - memory.baselineRss > rssLimit) {
    violations.push({
      seed: opts.seed,
      index: -1,
      kind: 'memory',
      name: 'peak RSS',
      problem: `RSS grew by ${mib(memory.peakRss - memory.baselineRss)} (limit ${mib(rssLimit)})`,
    });
  }
  if (memory.retainedAfter - memory.retainedBefore > retainedLimit) {
    violations.push({
      seed: opts.seed,
      index: -1,
      kind: 'memory',
      name: 'retained memory',
      problem: `heap + external after GC grew by ${mib(memory.retainedAfter - memory.retainedBefore)} (limit ${mib(retainedLimit)})`,
    });
  }
  return report;
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** The summary table: cases and statuses per kind, timings, memory. */
export function formatReport(r: RunReport): string {
  const lines: string[] = [];
  const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
  lines.push(
    `${pad('kind', 21)} ${lpad('cases', 6)}  ${pad('statuses', 30)} ${lpad('avg ms', 8)} ${lpad('max ms', 8)} ${lpad('MiB in', 8)} ${lpad('max ΔRSS', 9)}`,
  );
  let bytes = 0;
  for (const [kind, s] of r.byKind) {
    if (s.cases === 0) continue;
    bytes += s.bytes;
    const statuses = Object.entries(s.statuses)
      .map(([k, v]) => `${k}×${v}`)
      .join(' ');
    lines.push(
      `${pad(kind, 21)} ${lpad(String(s.cases), 6)}  ${pad(statuses, 30)} ${lpad((s.totalMs / s.cases).toFixed(2), 8)} ${lpad(s.maxMs.toFixed(1), 8)} ${lpad((s.bytes / MiB).toFixed(1), 8)} ${lpad(mib(s.maxRssDelta), 9)}`,
    );
  }
  const secs = r.durationMs / 1000;
  const m = r.memory;
  lines.push(
    `${r.cases} cases + ${r.sentinels} valid-write checks in ${secs.toFixed(1)} s (${(r.cases / secs).toFixed(0)} cases/s, ${(bytes / MiB / secs).toFixed(1)} MiB/s of hostile bodies), seed ${r.seed}`,
    `memory: RSS ${mib(m.baselineRss)} at start, peak ${mib(m.peakRss)} (+${mib(m.peakRss - m.baselineRss)}), ${mib(m.finalRss)} at the end; peak heap used ${mib(m.peakHeapUsed)}; heap+external after GC ${mib(m.retainedBefore)} → ${mib(m.retainedAfter)} (${m.retainedAfter >= m.retainedBefore ? '+' : ''}${mib(m.retainedAfter - m.retainedBefore)})`,
    `violations: ${r.violations.length}`,
  );
  return lines.join('\n');
}

export function formatViolation(v: Violation): string {
  const lines = [`[${v.kind}] case #${v.index} (seed ${v.seed}): ${v.name}`, `  ${v.problem}`];
  if (v.body !== undefined) {
    lines.push(`  body: ${v.body.length} bytes, starts ${v.body.subarray(0, 48).toString('hex')}`);
    lines.push(`  reproduce: ${v.reproduceEnv ? `${v.reproduceEnv} ` : ''}FUZZ_SEED=${v.seed} FUZZ_ONLY=${v.index} npm run fuzz`);
  }
  return lines.join('\n');
}
