// What the stores hold, checked through their PromQL HTTP APIs at one evaluation time,
// always over the whole run (from before the first scrape):
//
//   ground truth   every sample in the Prometheus sender's own TSDB is in both stores
//   cross-store    both stores hold the same series and the same samples (timestamps, values)
//   labels         every series in both stores carries cluster=<CLUSTER> and a sender label
//   up             up == 1 for every sender × job, at the evaluation time and all run long
//   no gaps        the `up` series' consecutive timestamps are never more than 1.5 scrape
//                  intervals apart, from the first scrape to the evaluation time
//   counts         samples per sender in each store vs what the sender reports having sent,
//                  within the in-flight window
//   order          the Prometheus store (no out-of-order window) refused no sample as out of
//                  order, out of bounds or duplicate: zero in its TSDB counters and zero
//                  "Out of order sample from remote write" lines in its log; and each
//                  emulated workspace, judging what its store accepted as Azure would, counts
//                  zero samples dropped as out of order or outside Azure's time window
//
// VictoriaMetrics drops NaN samples that are not staleness markers (summaries without
// observations report NaN quantiles), and a series that only ever had NaN is not stored
// there at all. Prometheus keeps them. So VictoriaMetrics is compared on the non-NaN
// samples, a series present only in the Prometheus store must hold nothing but NaN, and
// its sample count gets the Prometheus store's NaN samples added back before comparing.
// Staleness markers are returned by neither store's queries.

import { readFileSync } from 'node:fs';
import { type Labels, type RawSeries, seriesKey } from './lib/prom-api';
import { sumMetric } from '../dev/kit/metrics-text';
import { fmtInt } from './lib/util';
import type { Monitor } from './monitor';
import { V2_SENDER } from './native-histograms';
import { CLUSTER, JOBS, SCRAPE_INTERVAL_S, SENDERS, type Topology, type WorkspaceName } from './topology';

/** consecutive scrapes further apart than this are a gap */
export const GAP_LIMIT_MS = 1.5 * SCRAPE_INTERVAL_S * 1000;
/**
 * The in-flight window of the count check: samples a sender has scraped but not yet been
 * told were accepted (its batch deadline, 1 s), plus the age of the counter reading (the
 * sender's self-scrape, 2 s; vmagent's poll, 1 s), plus the forwarder's batch wait (1 s).
 */
export const IN_FLIGHT_S = 8;

export interface Gap {
  store: string;
  series: string;
  fromMs: number;
  toMs: number;
}

export interface SenderCount {
  sender: string;
  sent: number;
  prom: number;
  vm: number;
  tolerance: number;
}

/** What the emulated workspace would have dropped after answering 2xx (Azure's rules). */
export interface EmulatorDrops {
  outOfOrder: number;
  tooOld: number;
  tooNew: number;
  duplicate: number;
  throttled: number;
}

export interface OrderFigures {
  /** the Prometheus store's TSDB counters of refused samples */
  promStore: { outOfOrder: number; outOfBounds: number; tooOld: number };
  /** lines "Out of order sample from remote write" in its log, by their err= */
  promStoreLog: { lines: number; byError: Record<string, number>; example?: string };
  /** per workspace, over the whole run (restarts included); a string when unreadable */
  emulators: Record<WorkspaceName, EmulatorDrops | string>;
}

export interface CheckResult {
  evalMs: number;
  windowS: number;
  series: { prom: number; vm: number };
  samples: { prom: number; vm: number };
  nanOnlySeries: number;
  nanSamples: number;
  /** samples of the sender's TSDB absent from a store */
  truthMissing: { prom: number; vm: number; checked: number };
  /** samples in one store but not the other (NaN accounted for), and differing values */
  cross: { onlyProm: number; onlyVm: number; valueMismatch: number };
  gaps: Gap[];
  /** gaps in the sender's own TSDB: the source skipped a scrape, not our pipeline */
  sourceGaps: Gap[];
  counts: SenderCount[];
  order: OrderFigures;
  problems: string[];
  tookMs: number;
}

const isNaNValue = (v: string): boolean => v === 'NaN';

interface StoreData {
  /** key → (ts → value) */
  series: Map<string, { labels: Labels; samples: Map<number, string> }>;
}

function index(raw: RawSeries[], extra: Labels = {}): StoreData {
  const series: StoreData['series'] = new Map();
  for (const r of raw) {
    const labels = { ...r.labels, ...extra };
    const key = seriesKey(labels);
    const samples = new Map<number, string>();
    for (const s of r.samples) samples.set(s.t, s.v);
    series.set(key, { labels, samples });
  }
  return { series };
}

function sameValue(a: string, b: string): boolean {
  if (a === b) return true;
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

function describe(labels: Labels): string {
  const { __name__: name, ...rest } = labels;
  return `${name ?? ''}{${Object.entries(rest)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

function findGaps(store: string, labels: Labels, times: number[], fromMs: number, toMs: number): Gap[] {
  const gaps: Gap[] = [];
  const name = describe(labels);
  const ts = [...times].sort((a, b) => a - b);
  if (ts.length === 0) return [{ store, series: name, fromMs, toMs }];
  // the first scrape: within two intervals (and start-up time) of the senders' start
  if (ts[0] - fromMs > GAP_LIMIT_MS + 5000) gaps.push({ store, series: name, fromMs, toMs: ts[0] });
  for (let i = 1; i < ts.length; i++) if (ts[i] - ts[i - 1] > GAP_LIMIT_MS) gaps.push({ store, series: name, fromMs: ts[i - 1], toMs: ts[i] });
  if (toMs - ts[ts.length - 1] > GAP_LIMIT_MS) gaps.push({ store, series: name, fromMs: ts[ts.length - 1], toMs });
  return gaps;
}

export interface CheckContext {
  top: Topology;
  monitor: Monitor;
  /** when the senders started: the run's data begins after this */
  sendersStartedMs: number;
}

export async function runChecks(ctx: CheckContext, evalMs: number): Promise<CheckResult> {
  const started = Date.now();
  const { top } = ctx;
  const problems: string[] = [];
  const windowS = Math.ceil((evalMs - ctx.sendersStartedMs) / 1000) + 60;
  await top.flushVm();

  const [promRaw, vmRaw, truthRaw] = await Promise.all([
    top.promStore.raw('{sender=~".+"}', windowS, evalMs),
    top.vmStore.raw('{sender=~".+"}', windowS, evalMs),
    top.senderApi.raw('{__name__=~".+"}', windowS, evalMs),
  ]);
  const prom = index(promRaw);
  const vm = index(vmRaw);
  const truth = index(truthRaw, { sender: 'prometheus', cluster: CLUSTER });

  // ---- cross-store ----
  let onlyProm = 0;
  let onlyVm = 0;
  let valueMismatch = 0;
  let nanOnlySeries = 0;
  let nanSamples = 0;
  const nanBySender = new Map<string, number>();
  const examples: string[] = [];
  const example = (s: string): void => {
    if (examples.length < 5) examples.push(s);
  };
  for (const [key, p] of prom.series) {
    const v = vm.series.get(key);
    let nan = 0;
    for (const [t, val] of p.samples) {
      if (isNaNValue(val)) {
        nan++;
        continue;
      }
      const w = v?.samples.get(t);
      if (w === undefined) {
        onlyProm++;
        example(`only in the Prometheus store: ${describe(p.labels)} @${t}`);
      } else if (!sameValue(val, w)) {
        valueMismatch++;
        example(`value differs: ${describe(p.labels)} @${t}: ${val} vs ${w}`);
      }
    }
    nanSamples += nan;
    const sender = p.labels.sender ?? '';
    nanBySender.set(sender, (nanBySender.get(sender) ?? 0) + nan);
    if (!v && nan === p.samples.size) nanOnlySeries++;
  }
  for (const [key, v] of vm.series) {
    const p = prom.series.get(key);
    for (const [t, val] of v.samples) {
      if (isNaNValue(val)) continue;
      if (!p?.samples.has(t)) {
        onlyVm++;
        example(`only in VictoriaMetrics: ${describe(v.labels)} @${t}`);
      }
    }
  }
  const seriesOnlyProm = [...prom.series.entries()].filter(([k, p]) => !vm.series.has(k) && ![...p.samples.values()].every(isNaNValue));
  const seriesOnlyVm = [...vm.series.entries()].filter(([k]) => !prom.series.has(k));
  if (seriesOnlyProm.length + seriesOnlyVm.length > 0) {
    const e = [...seriesOnlyProm, ...seriesOnlyVm].slice(0, 3).map(([, x]) => describe(x.labels));
    problems.push(
      `series sets differ: ${seriesOnlyProm.length} series only in the Prometheus store (not NaN-only), ${seriesOnlyVm.length} only in VictoriaMetrics, e.g. ${e.join('; ')}`,
    );
  }
  if (onlyProm + onlyVm + valueMismatch > 0) {
    problems.push(
      `stores differ: ${fmtInt(onlyProm)} samples only in the Prometheus store, ${fmtInt(onlyVm)} only in VictoriaMetrics, ${fmtInt(valueMismatch)} with different values (e.g. ${examples.join('; ')})`,
    );
  }

  // ---- ground truth: the Prometheus sender's own TSDB ----
  let truthProm = 0;
  let truthVm = 0;
  let checked = 0;
  const truthExamples: string[] = [];
  for (const [key, s] of truth.series) {
    const p = prom.series.get(key);
    const v = vm.series.get(key);
    for (const [t, val] of s.samples) {
      checked++;
      if (!p?.samples.has(t)) {
        truthProm++;
        if (truthExamples.length < 3) truthExamples.push(`${describe(s.labels)} @${new Date(t).toISOString()} not in the Prometheus store`);
      }
      if (!isNaNValue(val) && !v?.samples.has(t)) {
        truthVm++;
        if (truthExamples.length < 3) truthExamples.push(`${describe(s.labels)} @${new Date(t).toISOString()} not in VictoriaMetrics`);
      }
    }
  }
  if (truthProm + truthVm > 0)
    problems.push(
      `samples the Prometheus sender scraped are missing: ${fmtInt(truthProm)} from the Prometheus store, ${fmtInt(truthVm)} from VictoriaMetrics (e.g. ${truthExamples.join('; ')})`,
    );
  const extra = [...prom.series.values()].filter((s) => s.labels.sender === 'prometheus' && !truth.series.has(seriesKey(s.labels)));
  if (extra.length > 0)
    problems.push(`${extra.length} series with sender="prometheus" in the Prometheus store that the sender does not have, e.g. ${describe(extra[0].labels)}`);

  // ---- labels: every series ever stored ----
  for (const store of [top.promStore, top.vmStore]) {
    const all = await store.series('{__name__=~".+"}', ctx.sendersStartedMs - 60_000, Date.now());
    const bad = all.filter((l) => l.cluster !== CLUSTER || ![...SENDERS, V2_SENDER].includes(l.sender ?? ''));
    if (all.length === 0) problems.push(`${store.name}: no series at all`);
    if (bad.length > 0)
      problems.push(`${store.name}: ${bad.length} of ${all.length} series lack cluster="${CLUSTER}" or a sender label, e.g. ${describe(bad[0])}`);
  }

  // ---- up ----
  for (const store of [top.promStore, top.vmStore]) {
    const now = await store.vector('up', evalMs);
    const min = await store.vector(`min_over_time(up[${windowS}s])`, evalMs);
    for (const sender of SENDERS) {
      for (const job of JOBS) {
        const cur = now.find((r) => r.labels.sender === sender && r.labels.job === job);
        const lo = min.find((r) => r.labels.sender === sender && r.labels.job === job);
        if (!cur || cur.value !== 1)
          problems.push(`${store.name}: up{sender="${sender}",job="${job}"} is ${cur ? cur.value : 'absent'} at the evaluation time`);
        else if (!lo || lo.value !== 1)
          problems.push(`${store.name}: up{sender="${sender}",job="${job}"} was ${lo ? lo.value : 'absent'} at some point of the run`);
      }
    }
  }

  // ---- gaps in the up series, both stores, and in the sender's own TSDB ----
  const gaps: Gap[] = [];
  const sourceGaps: Gap[] = [];
  const upOf = (d: StoreData, sender: string, job: string): { labels: Labels; times: number[] } | undefined => {
    for (const s of d.series.values()) {
      if (s.labels.__name__ === 'up' && s.labels.sender === sender && s.labels.job === job) {
        return { labels: s.labels, times: [...s.samples.entries()].filter(([, v]) => !isNaNValue(v)).map(([t]) => t) };
      }
    }
    return undefined;
  };
  for (const job of JOBS) {
    const src = upOf(truth, 'prometheus', job);
    if (src) sourceGaps.push(...findGaps('prometheus-sender', src.labels, src.times, ctx.sendersStartedMs, evalMs));
  }
  const excused = (g: Gap): boolean =>
    g.series.includes('sender="prometheus"') && sourceGaps.some((s) => s.series === g.series && s.fromMs === g.fromMs && s.toMs === g.toMs);
  for (const [name, d] of [
    ['prometheus-store', prom],
    ['victoria-metrics', vm],
  ] as const) {
    for (const sender of SENDERS) {
      for (const job of JOBS) {
        const up = upOf(d, sender, job);
        const found = up
          ? findGaps(name, up.labels, up.times, ctx.sendersStartedMs, evalMs)
          : [{ store: name, series: `up{job="${job}",sender="${sender}"}`, fromMs: ctx.sendersStartedMs, toMs: evalMs }];
        gaps.push(...found.filter((g) => !excused(g)));
      }
    }
  }
  for (const g of gaps.slice(0, 5))
    problems.push(
      `gap in ${g.store} ${g.series}: no sample from ${new Date(g.fromMs).toISOString()} to ${new Date(g.toMs).toISOString()} (${((g.toMs - g.fromMs) / 1000).toFixed(1)} s)`,
    );
  if (gaps.length > 5) problems.push(`… and ${gaps.length - 5} more gaps`);

  // ---- counts vs what the senders report ----
  const counts: SenderCount[] = [];
  const perSender = (d: StoreData, sender: string): { series: number; samples: number } => {
    let series = 0;
    let samples = 0;
    for (const s of d.series.values()) {
      if (s.labels.sender !== sender) continue;
      series++;
      for (const v of s.samples.values()) if (d === prom || !isNaNValue(v)) samples++;
    }
    return { series, samples };
  };
  const promSent = await top.senderApi.vector(
    'sum(prometheus_remote_storage_samples_total) - sum(prometheus_remote_storage_samples_retried_total) - sum(prometheus_remote_storage_samples_failed_total)',
    evalMs,
  );
  const vmaSent = ctx.monitor.vmagentAt('vmagent_remotewrite_rows_pushed_after_relabel_total', {}, evalMs);
  for (const sender of SENDERS) {
    const p = perSender(prom, sender);
    const v = perSender(vm, sender);
    const sent = sender === 'prometheus' ? promSent[0]?.value : vmaSent?.value;
    const tolerance = Math.ceil((p.series / SCRAPE_INTERVAL_S) * IN_FLIGHT_S);
    const c: SenderCount = { sender, sent: sent ?? NaN, prom: p.samples, vm: v.samples + (nanBySender.get(sender) ?? 0), tolerance };
    counts.push(c);
    if (sent === undefined) {
      problems.push(`${sender}: no sent-samples counter at the evaluation time`);
      continue;
    }
    for (const [store, n] of [
      ['Prometheus store', c.prom],
      ['VictoriaMetrics (+NaN)', c.vm],
    ] as const) {
      if (Math.abs(n - sent) > tolerance)
        problems.push(
          `${sender}: ${store} holds ${fmtInt(n)} samples, the sender reports ${fmtInt(sent)} sent (more than the in-flight window of ${fmtInt(tolerance)} apart)`,
        );
    }
  }

  const order = await orderFigures(top);
  problems.push(...orderProblems(order));

  let promSamples = 0;
  for (const s of prom.series.values()) promSamples += s.samples.size;
  let vmSamples = 0;
  for (const s of vm.series.values()) for (const v of s.samples.values()) if (!isNaNValue(v)) vmSamples++;

  return {
    evalMs,
    windowS,
    series: { prom: prom.series.size, vm: vm.series.size },
    samples: { prom: promSamples, vm: vmSamples },
    nanOnlySeries,
    nanSamples,
    truthMissing: { prom: truthProm, vm: truthVm, checked },
    cross: { onlyProm, onlyVm, valueMismatch },
    gaps,
    sourceGaps,
    counts,
    order,
    problems,
    tookMs: Date.now() - started,
  };
}

/** Prometheus 2.42's remote-write handler logs each refused write (write_handler.go). */
const REFUSAL_LOG = 'Out of order sample from remote write';

export async function orderFigures(top: Topology): Promise<OrderFigures> {
  const m = await top.promStoreMetrics();
  const promStore = {
    outOfOrder: sumMetric(m, 'prometheus_tsdb_out_of_order_samples_total') ?? NaN,
    outOfBounds: sumMetric(m, 'prometheus_tsdb_out_of_bound_samples_total') ?? NaN,
    tooOld: sumMetric(m, 'prometheus_tsdb_too_old_samples_total') ?? NaN,
  };
  const promStoreLog = refusalsInLog(readFileSync(top.promStoreLogPath, 'utf8'));
  const emulators = {} as Record<WorkspaceName, EmulatorDrops | string>;
  for (const name of top.ws.keys()) {
    try {
      emulators[name] = emulatorDrops(await top.workspaceSummary(name), name);
    } catch (err) {
      emulators[name] = `workspace ${name}: cannot read GET /emulator/summary: ${(err as Error).message}`;
    }
  }
  return { promStore, promStoreLog, emulators };
}

/** The Prometheus store's log lines for refused remote writes, counted by their err="…". */
export function refusalsInLog(text: string): OrderFigures['promStoreLog'] {
  const out: OrderFigures['promStoreLog'] = { lines: 0, byError: {} };
  for (const line of text.split('\n')) {
    if (!line.includes(REFUSAL_LOG)) continue;
    out.lines++;
    out.example ??= line;
    const err = /\berr="([^"]*)"/.exec(line)?.[1] ?? '?';
    out.byError[err] = (out.byError[err] ?? 0) + 1;
  }
  return out;
}

/** dropped.{outOfOrder,tooOld,tooNew,duplicate} and throttled of a summary, or why not. */
export function emulatorDrops(summary: unknown, name: string): EmulatorDrops | string {
  const s = (typeof summary === 'object' && summary !== null ? summary : {}) as Record<string, unknown>;
  const d = (typeof s.dropped === 'object' && s.dropped !== null ? s.dropped : undefined) as Record<string, unknown> | undefined;
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const out = {
    outOfOrder: num(d?.outOfOrder),
    tooOld: num(d?.tooOld),
    tooNew: num(d?.tooNew),
    duplicate: num(d?.duplicate),
    throttled: num(s.throttled),
  };
  const missing = Object.entries(out)
    .filter(([, v]) => v === undefined)
    .map(([k]) => (k === 'throttled' ? k : `dropped.${k}`));
  if (missing.length > 0) {
    return `workspace ${name}: GET /emulator/summary has no ${missing.join(', ')}: the workspace emulator is too old to judge samples as Azure does (dev/emulators/workspace.ts), so its out-of-order drops cannot be counted`;
  }
  return out as EmulatorDrops;
}

export function orderProblems(o: OrderFigures): string[] {
  const out: string[] = [];
  const p = o.promStore;
  if ([p.outOfOrder, p.outOfBounds, p.tooOld].some(Number.isNaN)) {
    out.push(
      'prometheus-store: /metrics lacks prometheus_tsdb_out_of_order_samples_total, _out_of_bound_samples_total or _too_old_samples_total (not Prometheus 2.42?)',
    );
  }
  if (p.outOfOrder + p.outOfBounds + p.tooOld > 0) {
    out.push(
      `prometheus-store refused samples: ${fmtInt(p.outOfOrder)} out of order, ${fmtInt(p.outOfBounds)} out of bounds, ${fmtInt(p.tooOld)} too old (prometheus_tsdb_*_samples_total; each refusal rejects its whole write with 400)`,
    );
  }
  if (o.promStoreLog.lines > 0) {
    const by = Object.entries(o.promStoreLog.byError)
      .map(([e, n]) => `${n}× "${e}"`)
      .join(', ');
    out.push(`prometheus-store logged ${o.promStoreLog.lines} refused write(s) ("${REFUSAL_LOG}": ${by}), e.g. ${o.promStoreLog.example ?? ''}`);
  }
  for (const [name, d] of Object.entries(o.emulators)) {
    if (typeof d === 'string') out.push(d);
    else if (d.outOfOrder + d.tooOld + d.tooNew > 0) {
      out.push(
        `workspace ${name} (emulated Azure) dropped after answering 2xx: ${fmtInt(d.outOfOrder)} samples out of order, ${fmtInt(d.tooOld)} too old, ${fmtInt(d.tooNew)} too new`,
      );
    }
  }
  return out;
}
