// Renders a bench run as markdown (bench/results/latest.md).

import type { CaseResult } from './compare';
import { RELABEL } from './relabel';
import type { CodecRow } from './codec';
import type { DrainResult } from './drain';
import type { ForwarderResult } from './forwarder';
import type { MachineFacts } from './lib/machine';
import type { PayloadSet } from './lib/payloads';
import { fmt, median, si, spread } from './lib/stats';
import type { RelayStage } from './relay-bare';
import type { RelayPathRow } from './relay-path';

export interface RunReport {
  facts: MachineFacts;
  clkTck: number;
  settings: { reps: number; samples: number; warmupSamples: number; processWarmupSamples: number; concurrency: number; minSeconds: number };
  sets: { fixtures: PayloadSet; synthetic: PayloadSet; syntheticName: string };
  codec: CodecRow[];
  relayPath: RelayPathRow[];
  compare: CaseResult[];
  vmagentVersion?: string;
  vmagentNote?: string;
  forwarder?: ForwarderResult;
  forwarderNote?: string;
  /** why the dead-upstream / batching part has no figures although the forwarder ran */
  forwarderRunNote?: string;
  /** the drain section (issue 11); empty or absent when not run */
  drain?: DrainResult[];
  drainNote?: string;
  drainSettings?: { samples: number; reps: number; latenciesMs: readonly number[]; series: number };
  seconds: number;
}

/** case names of the process comparison */
export const PASS = 'pass-through';
export const INJECT = 'label injection';
export const PASS_ONE = 'pass-through, one workspace';
export const INJECT_ONE = 'label injection, one workspace';
/** the pass-through writes sent as remote-write 2.0: the relay translates them to 1.0 */
export const PASS_V2 = 'remote-write 2.0 in (pass-through writes)';
/** vmagent does not take 2.0: a case it does not run is held against vmagent's case here */
const YARDSTICK_CASE: Readonly<Record<string, string>> = { [PASS_V2]: PASS };

const MiB = 2 ** 20;

/** target name of bench/relay-bare.ts in the process comparison */
export const BARE = 'relay core (bare node:http)';

/** bench/relay-bare.ts cut short (RELAY_STAGE), pass-through only: the relay's CPU stage by stage */
export const STAGES: ReadonlyArray<readonly [RelayStage, string]> = [
  ['forward', 'stage: receive + fan-out only'],
  ['decompress', 'stage: + decompress'],
  ['validate', 'stage: + decompress + validate (JS)'],
  ['native', 'stage: + native fast path'],
];

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function find(r: RunReport, target: string, caseName: string): CaseResult | undefined {
  return r.compare.find((c) => c.target === target && c.caseName === caseName);
}

/** ours / vmagent's, from the medians of the same run */
export function ratio(r: RunReport, target: string, caseName: string): number {
  const ours = find(r, target, caseName);
  const vm = find(r, 'vmagent', caseName) ?? find(r, 'vmagent', YARDSTICK_CASE[caseName] ?? caseName);
  return ours && vm ? ours.medianUsPerSample / vm.medianUsPerSample : Number.NaN;
}

function drainOf(r: RunReport, target: string, latencyMs: number): DrainResult | undefined {
  return r.drain?.find((d) => d.target === target && d.latencyMs === latencyMs);
}

/** forwarder / vmagent of a drain figure, from the medians of the same run */
export function drainRatio(r: RunReport, latencyMs: number, of: 'medianRate' | 'medianUsPerSample'): number {
  const f = drainOf(r, 'forwarder', latencyMs);
  const v = drainOf(r, 'vmagent', latencyMs);
  return f && v ? f[of] / v[of] : Number.NaN;
}

const met = (ok: boolean | undefined, why?: string): string =>
  why !== undefined ? `not measured: ${why}` : ok === undefined ? 'not measured' : ok ? 'met' : '**not met**';

/** Issue 11's targets: the drain, the forwarder while draining, the relay with one workspace. */
function issue11Targets(r: RunReport): string[] {
  const rows: string[][] = [];
  const noDrain = r.drain === undefined || r.drain.length === 0 ? (r.drainNote ?? 'drain section not run') : undefined;
  const latencies = noDrain === undefined ? (r.drainSettings?.latenciesMs ?? []) : [];
  if (noDrain !== undefined) rows.push(['drain rate, CPU, peak RSS and order while draining (50 and 300 ms)', '—', `not measured: ${noDrain}`]);
  for (const ms of latencies) {
    const f = drainOf(r, 'forwarder', ms);
    const v = drainOf(r, 'vmagent', ms);
    const why = noDrain ?? f?.failure ?? (f === undefined ? 'forwarder not run' : undefined);
    const rate = drainRatio(r, ms, 'medianRate');
    const floor = ms >= 300 ? 400_000 : 0;
    const name = `drain rate at ${ms} ms ≥ 4× vmagent's${floor > 0 ? ` and ≥ ${si(floor, 0)} samples/s` : ''}`;
    const measured = f
      ? `${si(f.medianRate, 0)} samples/s, ${Number.isNaN(rate) ? `vmagent ${v?.failure ?? 'not run'}` : `${fmt(rate, 2)}× vmagent's ${si(v!.medianRate, 0)}`}`
      : '—';
    const ok = Number.isNaN(rate) ? undefined : rate >= 4 && f!.medianRate >= floor;
    const reach = f && v ? `; ${headroomAt4x(r, f, v)}` : '';
    rows.push([name, measured + reach, met(ok, why ?? (Number.isNaN(rate) ? `vmagent ${v?.failure ?? 'not run'}` : undefined))]);
  }
  for (const ms of latencies) {
    const f = drainOf(r, 'forwarder', ms);
    const why = noDrain ?? f?.failure ?? (f === undefined ? 'forwarder not run' : undefined);
    const cpu = drainRatio(r, ms, 'medianUsPerSample');
    rows.push([
      `forwarder CPU per sample while draining (${ms} ms) ≤ 0.5× vmagent's`,
      f ? `${fmt(f.medianUsPerSample, 2)} µs, ${fmt(cpu, 2)}×` : '—',
      met(Number.isNaN(cpu) ? undefined : cpu <= 0.5, why),
    ]);
  }
  for (const ms of latencies) {
    const f = drainOf(r, 'forwarder', ms);
    const why = noDrain ?? f?.failure ?? (f === undefined ? 'forwarder not run' : undefined);
    rows.push([
      `forwarder peak RSS while draining (${ms} ms) ≤ 128 MiB`,
      f ? `${fmt(f.peakRss / MiB, 0)} MiB (largest of ${f.reps.length})` : '—',
      met(f && f.reps.length > 0 ? f.peakRss <= 128 * MiB : undefined, why),
    ]);
  }
  for (const ms of latencies) {
    const f = drainOf(r, 'forwarder', ms);
    const why = noDrain ?? (f === undefined ? 'forwarder not run' : f.reps.length === 0 ? f.failure : undefined);
    rows.push([
      `forwarder delivers every series in timestamp order (${ms} ms)`,
      f ? `${f.outOfOrder} samples out of order in ${f.reps.length} drains` : '—',
      why !== undefined ? `not measured: ${why}` : f!.outOfOrder === 0 ? 'met' : '**FAILED**',
    ]);
  }
  const p1 = ratio(r, 'relay', PASS_ONE);
  const i1 = ratio(r, 'relay', INJECT_ONE);
  rows.push(['relay, one workspace: pass-through ≤ 0.6× vmagent', Number.isNaN(p1) ? '—' : `${fmt(p1, 2)}×`, met(Number.isNaN(p1) ? undefined : p1 <= 0.6)]);
  rows.push(['relay, one workspace: label injection ≤ 0.7× vmagent', Number.isNaN(i1) ? '—' : `${fmt(i1, 2)}×`, met(Number.isNaN(i1) ? undefined : i1 <= 0.7)]);
  return ['## Targets (issue 11)', '', table(['target', 'measured', ''], rows), ''];
}

/**
 * What 4× vmagent's drain rate leaves the forwarder on this machine: the sink and the
 * senders run beside it on the same cores and spend CPU per sample too.
 */
function headroomAt4x(r: RunReport, f: DrainResult, v: DrainResult): string {
  const rate = 4 * v.medianRate;
  const harnessCores = (rate * f.medianHarnessUsPerSample) / 1e6;
  const cores = r.facts.cores;
  if (Number.isNaN(harnessCores)) return 'sink and senders not measured';
  if (harnessCores >= cores)
    return `at 4× (${si(rate, 0)} samples/s) the sink and senders alone would need ${fmt(harnessCores, 2)} of the ${cores} cores: out of reach on this machine`;
  const us = ((cores - harnessCores) * 1e6) / rate;
  return `at 4× (${si(rate, 0)} samples/s) the sink and senders use ${fmt(harnessCores, 2)} of ${cores} cores, leaving the forwarder ${fmt(us, 2)} CPU-µs per sample`;
}

/** The drain table: one endpoint answering after a fixed latency, forwarder and vmagent. */
function drainSection(r: RunReport): string[] {
  const out: string[] = ['## Drain: one endpoint answering after a fixed latency', ''];
  if (r.drain === undefined || r.drain.length === 0) {
    out.push(`Not measured: ${r.drainNote ?? 'section not selected'}.`, '');
    return out;
  }
  const st = r.drainSettings;
  if (st) {
    out.push(
      `Per repetition a fresh process gets ${si(st.samples, 1)} samples in ${fmt(st.series, 0)}-series writes stamped with the current time, pushed as fast as it accepts them by ${r.settings.concurrency} senders (each a shard owning its own series, sending its writes one after another); the sink answers every write after the latency, checks per-series timestamp order on arrival and counts a sample once it answered it. *drain rate* = samples / (first push → last sample answered); CPU = the target's utime + stime over the same span; *sink + senders* = the CPU the sink (decompressing and order-checking every write) and the senders spend per sample meanwhile, on the same ${r.facts.cores} cores: what they leave of the cores bounds any target's drain (the issue 11 table says how far at 4× vmagent); peak RSS = VmHWM at the end. Medians of ${st.reps} interleaved repetitions (min–max beside); *out of order* sums every repetition. The forwarder runs in direct mode with its defaults (bench/forwarder.ts \`FORWARDER_BENCH_ENV\`); vmagent with its defaults (one -remoteWrite.url, -remoteWrite.tmpDataPath).`,
    );
    out.push('');
  }
  const rows: string[][] = [];
  for (const d of r.drain) {
    const isFwd = d.target === 'forwarder';
    const rates = d.reps.map((x) => x.rate);
    const calls = median(d.reps.map((x) => x.upstreamCalls));
    const perCall = median(d.reps.map((x) => x.samples / x.upstreamCalls));
    const inFlight = d.reps.length > 0 ? Math.max(...d.reps.map((x) => x.maxInFlight)) : Number.NaN;
    const push = median(d.reps.map((x) => x.samples / x.pushSeconds));
    rows.push([
      `${d.latencyMs} ms`,
      d.target,
      d.reps.length > 0 ? `**${si(d.medianRate, 0)}**` : '—',
      spread(
        rates.map((x) => x / 1000),
        0,
      ) + (rates.length > 0 ? ' k' : ''),
      isFwd ? `**${fmt(drainRatio(r, d.latencyMs, 'medianRate'), 2)}×**` : '1',
      si(push, 0),
      fmt(d.medianUsPerSample, 2),
      isFwd ? `${fmt(drainRatio(r, d.latencyMs, 'medianUsPerSample'), 2)}×` : '1',
      fmt(d.medianHarnessUsPerSample, 2),
      fmt(d.peakRss / MiB, 0),
      `${fmt(calls, 0)} (${fmt(perCall, 0)})`,
      Number.isNaN(inFlight) ? '—' : String(inFlight),
      d.reps.length > 0 ? (isFwd && d.outOfOrder > 0 ? `**${d.outOfOrder} FAILED**` : String(d.outOfOrder)) : '—',
      d.failure !== undefined ? `failed: ${d.failure}` : '',
    ]);
  }
  out.push(
    table(
      [
        'latency',
        'process',
        'drain rate samples/s (median)',
        'min–max',
        'forwarder / vmagent',
        'accepted samples/s',
        'CPU-µs / sample',
        'forwarder / vmagent',
        'sink + senders CPU-µs / sample',
        'peak RSS MiB (largest)',
        'upstream calls (samples per call)',
        'most calls in flight',
        'out of order',
        '',
      ],
      rows,
    ),
  );
  out.push('');
  return out;
}

export function renderReport(r: RunReport): string {
  const f = r.facts;
  const out: string[] = [];
  out.push('# Benchmark results');
  out.push('');
  out.push(`Run on ${f.date} by \`npm run bench\` (${r.seconds.toFixed(0)} s). Method and optimisation log: [bench/README.md](../README.md).`);
  out.push('');
  out.push(
    table(
      ['machine', ''],
      [
        ['CPU', f.cpuModel],
        ['cores', String(f.cores)],
        ['memory', `${f.memoryGiB} GiB`],
        ['Node.js', f.node],
        ['kernel', f.kernel],
        ['load average at start', f.loadAverage],
        ['vmagent', r.vmagentVersion ?? `not run: ${r.vmagentNote ?? 'skipped'}`],
        [
          'repetitions',
          `${r.settings.reps} measured per case after a warm-up of ${si(r.settings.processWarmupSamples, 1)} samples per process and ${si(r.settings.warmupSamples, 1)} per case; medians reported (min–max beside)`,
        ],
        [
          'process runs',
          `${si(r.settings.samples, 1)} samples per repetition, ${r.settings.concurrency} concurrent senders, CPU = utime + stime from /proc (CLK_TCK ${r.clkTck})`,
        ],
      ],
    ),
  );
  out.push('');

  // ---- summary ----
  if (r.compare.length > 0) {
    out.push('## Ours against vmagent (same payloads, same sinks, same run)');
    out.push('');
    const targets = [...new Set(r.compare.map((c) => c.target))];
    const cases = [...new Set(r.compare.map((c) => c.caseName))];
    const rows: string[][] = [];
    for (const c of cases) {
      for (const t of targets) {
        const res = find(r, t, c);
        if (res === undefined) continue; // not every target runs every case
        const us = res.reps.map((x) => x.usPerSample);
        const rate = median(res.reps.map((x) => x.samples / x.deliveredSeconds));
        rows.push([
          c,
          t,
          `**${fmt(res.medianUsPerSample, 3)}**`,
          spread(us, 3),
          fmt(res.medianUsPerSample, 2),
          si(rate, 2),
          fmt(res.peakRss / MiB, 0),
          t === 'vmagent' ? '1' : `**${fmt(ratio(r, t, c), 2)}×**`,
        ]);
      }
    }
    out.push(
      `Synthetic Prometheus-like writes of ${r.sets.syntheticName}, one sample per series (${fmt(r.sets.synthetic.rawBytes / r.sets.synthetic.samples, 0)} bytes per sample uncompressed, ${fmt(r.sets.synthetic.bodyBytes / r.sets.synthetic.samples, 0)} compressed), fanned out to two sink processes (two workspaces); the *one workspace* cases are other relay and vmagent processes, each configured with the first sink alone. *pass-through*: every series already carries \`cluster\`, the relay forwards the sender's compressed bytes; *label injection*: none does, the relay adds \`cluster\` to every series and re-compresses once for both sinks, and vmagent adds it too (\`-remoteWrite.label=cluster=…\`, another vmagent process); during each target's warm-up the sinks check that every series arrives with it.`,
    );
    out.push('');
    out.push(
      table(
        ['case', 'process', 'CPU-µs / sample (median)', 'min–max', 'CPU-s / million samples', 'delivered samples/s', 'peak RSS MiB', 'ours / vmagent'],
        rows,
      ),
    );
    out.push('');
  }

  // ---- targets ----
  out.push('## Targets (issue 5)');
  out.push('');
  const tRows: string[][] = [];
  const holds = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'holds' : '**does not hold**');
  const rPass = ratio(r, 'relay', PASS);
  const rInj = ratio(r, 'relay', INJECT);
  tRows.push(['relay pass-through ≤ 0.5× vmagent', Number.isNaN(rPass) ? '—' : `${fmt(rPass, 2)}×`, holds(Number.isNaN(rPass) ? undefined : rPass <= 0.5)]);
  tRows.push(['relay with label injection ≤ 1.0× vmagent', Number.isNaN(rInj) ? '—' : `${fmt(rInj, 2)}×`, holds(Number.isNaN(rInj) ? undefined : rInj <= 1.0)]);
  const rV2 = ratio(r, 'relay', PASS_V2);
  tRows.push([
    '(issue 12) relay, remote-write 2.0 in → 1.0 out ≤ 1.0× vmagent passing 1.0 through',
    Number.isNaN(rV2) ? '—' : `${fmt(rV2, 2)}×`,
    holds(Number.isNaN(rV2) ? undefined : rV2 <= 1.0),
  ]);
  const bPass = ratio(r, BARE, PASS);
  const bInj = ratio(r, BARE, INJECT);
  if (!Number.isNaN(bPass)) {
    tRows.push([
      `(for reference) the same data path behind a bare node:http server instead of dev/function-host.ts: pass-through ≤ 0.5×, injection ≤ 1.0×`,
      `${fmt(bPass, 2)}× / ${fmt(bInj, 2)}×`,
      `${holds(bPass <= 0.5)} / ${holds(bInj <= 1.0)}`,
    ]);
  }
  const fPass = ratio(r, 'forwarder', PASS);
  const fNote = r.forwarderNote ? `not measured: ${r.forwarderNote}` : undefined;
  tRows.push([
    'forwarder ≤ 1.0× vmagent (pass-through payloads)',
    Number.isNaN(fPass) ? '—' : `${fmt(fPass, 2)}×`,
    fNote ?? holds(Number.isNaN(fPass) ? undefined : fPass <= 1.0),
  ]);
  const runNote = fNote ?? (r.forwarderRunNote ? `not measured: ${r.forwarderRunNote}` : undefined);
  const dead = r.forwarder?.dead;
  tRows.push([
    'forwarder peak RSS ≤ 128 MiB, upstream dead, 100 000 samples/s',
    dead ? `${fmt(dead.peakRss / MiB, 0)} MiB at ${si(dead.offeredRate, 0)} samples/s for ${fmt(dead.seconds, 0)} s (${dead.refused} writes refused)` : '—',
    runNote ?? holds(dead ? dead.peakRss <= 128 * MiB && dead.offeredRate >= 95_000 : undefined),
  ]);
  const b = r.forwarder?.batching;
  tRows.push([
    'forwarder ≥ 10 000 samples per upstream call (500-sample writes at 20 000/s)',
    b ? `${fmt(b.samplesPerCall, 0)} per call (smallest call ${b.minPerCall})` : '—',
    runNote ?? holds(b ? b.samplesPerCall >= 10_000 : undefined),
  ]);
  out.push(table(['target', 'measured', ''], tRows));
  out.push('');
  out.push(...relabelTargets(r));
  out.push(...issue11Targets(r));
  out.push(...drainSection(r));

  // ---- where the relay's CPU goes ----
  const med = (t: string): number => find(r, t, PASS)?.medianUsPerSample ?? Number.NaN;
  const [floor, withDecompress, withValidate, withNative] = STAGES.map(([, name]) => med(name));
  if (![floor, withDecompress, withValidate].some(Number.isNaN)) {
    const vm = med('vmagent');
    const share = (us: number): string => (Number.isNaN(vm) ? '' : `${fmt(us / vm, 2)}×`);
    const bare = med(BARE);
    const host = med('relay');
    const aRows: string[][] = [
      ["receive + fan-out of the sender's bytes (HTTP in, two requests out: the floor)", fmt(floor, 3), share(floor)],
      ['JS path: snappy decompression (napi binding)', fmt(withDecompress - floor, 3), share(withDecompress - floor)],
      ['JS path: validation', fmt(withValidate - withDecompress, 3), share(withValidate - withDecompress)],
    ];
    if (!Number.isNaN(withNative))
      aRows.push(['native fast path instead (decompression and validation in one call)', fmt(withNative - floor, 3), share(withNative - floor)]);
    const before = Number.isNaN(withNative) ? withValidate : withNative;
    if (!Number.isNaN(bare)) aRows.push(['the rest of the relay (quota, token, telemetry, answer)', fmt(bare - before, 3), share(bare - before)]);
    if (!Number.isNaN(host) && !Number.isNaN(bare))
      aRows.push(['dev host adapter (@azure/functions request and response, HTTP streams mode)', fmt(host - bare, 3), share(host - bare)]);
    out.push("## Where the relay's CPU goes (pass-through)");
    out.push('');
    out.push(
      'Differences of medians between processes of the same run: `bench/relay-bare.ts` cut short after each stage (`RELAY_STAGE`), the whole data path behind the same bare server (which takes the native fast path for these requests), and the dev host. Each difference carries the noise of two medians.',
    );
    out.push('');
    out.push(table(['stage', 'CPU-µs / sample', "of vmagent's whole"], aRows));
    out.push('');
  }

  // ---- relay path ----
  if (r.relayPath.length > 0) {
    out.push('## Relay data path, in process');
    out.push('');
    out.push(
      '`createRelay().handleWrite` with the fan-out to two sink processes over HTTP (4 writes in flight), CPU-µs per sample from `process.cpuUsage()`; the stages beside it are the same functions run alone over the same payloads.',
    );
    out.push('');
    const rows = r.relayPath.map((p) => [
      p.set,
      p.mode,
      fmt(p.stages.decompress, 3),
      fmt(p.stages.validate, 3),
      p.stages.rewrite === undefined ? '—' : fmt(p.stages.rewrite, 3),
      p.stages.compress === undefined ? '—' : fmt(p.stages.compress, 3),
      `**${fmt(p.full, 3)}**`,
      spread(p.fullSpread, 3),
    ]);
    out.push(table(['payloads', 'case', 'decompress', 'validate', 'rewrite (after validate)', 'compress (once)', 'whole path incl. fan-out', 'min–max'], rows));
    out.push('');
  }

  // ---- codec ----
  if (r.codec.length > 0) {
    out.push('## Codec throughput, in process');
    out.push('');
    const fx = r.sets.fixtures;
    out.push(
      `Fixtures: ${fx.payloads.length} captured Prometheus 2.42 writes, ${si(fx.samples, 1)} samples, ${fmt(fx.rawBytes / 1e6, 1)} MB uncompressed (${fmt(fx.rawBytes / fx.samples, 0)} bytes per sample, much of it metadata). MB/s counts uncompressed protobuf bytes; per CPU second.`,
    );
    out.push('');
    const rows = r.codec.map((c) => [c.set, c.op, fmt(c.usPerSample, 3), si(c.samplesPerSecond, 2), fmt(c.mbPerSecond, 0), spread(c.spreadUs, 3)]);
    out.push(table(['payloads', 'operation', 'CPU-µs / sample', 'samples / s', 'MB / s', 'min–max µs'], rows));
    out.push('');
  }

  // ---- forwarder ----
  out.push('## Forwarder');
  out.push('');
  if (r.forwarder) {
    const d = r.forwarder.dead;
    const bt = r.forwarder.batching;
    out.push(
      `- Upstream dead (both sinks answer 503): ${si(d.accepted, 2)} samples accepted in ${fmt(d.seconds, 1)} s (${si(d.offeredRate, 0)} samples/s offered), ${d.refused} writes refused; peak RSS **${fmt(d.peakRss / MiB, 0)} MiB** (VmHWM), RSS over time ${d.rssSamples
        .filter((_, i) => i % 8 === 0)
        .map((x) => fmt(x / MiB, 0))
        .join(', ')} MiB.`,
    );
    out.push(
      `- 500-sample writes at ${si(bt.offeredRate, 1)} samples/s for ${fmt(bt.seconds, 0)} s: ${bt.sent} samples in ${fmt(bt.upstreamCalls, 0)} upstream calls per endpoint, **${fmt(bt.samplesPerCall, 0)} samples per call** (smallest ${bt.minPerCall}).`,
    );
  } else {
    out.push(`Not measured: ${r.forwarderNote ?? r.forwarderRunNote ?? 'section not selected'}.`);
  }
  out.push('');
  return `${out.join('\n')}\n`;
}

/** Issue 13: with a typical rule set, ours against vmagent given the same rules, same run. */
function relabelTargets(r: RunReport): string[] {
  if (!r.compare.some((c) => c.caseName === RELABEL)) return [];
  const rows = ['forwarder', 'relay'].map((t) => {
    const x = ratio(r, t, RELABEL);
    return [
      `${t} with typical relabel rules ≤ 1.0× vmagent with the same rules`,
      Number.isNaN(x) ? '—' : `${fmt(x, 2)}×`,
      Number.isNaN(x) ? 'not measured' : x <= 1.0 ? 'holds' : '**does not hold**',
    ];
  });
  return [
    '## Relabel rules (issue 13)',
    '',
    `Rules (bench/relabel.ts): drop \`go_.*|process_.*\` by \`__name__\` (20 % of the samples), labeldrop \`endpoint\`, labeldrop \`service\`, one replace of \`instance\`; one sink; CPU per sample sent.`,
    '',
    table(['target', 'measured', ''], rows),
    '',
  ];
}
