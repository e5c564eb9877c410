// Drain rate (issue 11): how fast a target empties a backlog into ONE endpoint that
// answers every write after a fixed latency (the sink's delay mode: a timer per
// request, so calls in flight overlap as they would against a distant Azure endpoint).
//
// Per repetition, a FRESH target process (the forwarder in direct mode, or vmagent with
// its defaults) gets BENCH_DRAIN_SAMPLES samples in 2 000-series writes, pushed as fast as
// it accepts them by the load generator's senders, each sender a shard owning its own
// series (lib/drain-payloads.ts), the writes stamped with current time just before the
// push. Measured: drain rate = samples / (first push → the sink answered the last
// sample), the target's CPU (utime + stime, all threads) over the same span per sample,
// peak RSS (VmHWM) at the end, and the sink's per-series order check. The sink's and the
// senders' CPU is measured too: they share the machine's cores with the target, which
// bounds what any target can reach here (the report says how far). Repetitions are
// interleaved (forwarder then vmagent, then the other way round) so that noise on this
// shared machine falls on both.

import { type DrainWrite, drainTemplates, drainWrites } from './lib/drain-payloads';
import { startForwarder } from './forwarder';
import { sendLoad } from './lib/load';
import { type Sink, sinkCall, sinkStats, startVmagent } from './lib/processes';
import type { SinkStats } from './sink';
import { processCpuSeconds, processMemory } from './lib/proc';
import { median, sleep } from './lib/stats';

export type DrainTargetName = 'forwarder' | 'vmagent';

export interface DrainRep {
  samples: number;
  /** first push → the sink answered the last sample */
  seconds: number;
  /** the push alone: first write sent → last write acknowledged by the target */
  pushSeconds: number;
  rate: number;
  cpuSeconds: number;
  usPerSample: number;
  /** CPU of everything else on the machine that takes part: the sink and this process (the senders), per sample */
  harnessUsPerSample: number;
  peakRss: number;
  /** samples the sink saw not newer than the last of their series */
  outOfOrder: number;
  upstreamCalls: number;
  /** most writes the sink held unanswered at once: the target's calls in flight */
  maxInFlight: number;
}

export interface DrainResult {
  target: DrainTargetName;
  latencyMs: number;
  reps: DrainRep[];
  medianRate: number;
  medianUsPerSample: number;
  medianHarnessUsPerSample: number;
  /** the largest VmHWM over the repetitions */
  peakRss: number;
  /** summed over the repetitions */
  outOfOrder: number;
  /** why this target has no (or fewer) figures at this latency */
  failure?: string;
}

export interface DrainOptions {
  sink: Sink;
  latenciesMs: readonly number[];
  samples: number;
  reps: number;
  concurrency: number;
  /** series per write */
  series: number;
  /** vmagent's binary; undefined: the forwarder alone */
  vmagentPath?: string;
  forwarder: boolean;
  log: (s: string) => void;
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function startTarget(
  name: DrainTargetName,
  sink: Sink,
  vmagentPath: string | undefined,
): Promise<{ pid: number; writeUrl: string; stop(): Promise<void> }> {
  if (name === 'forwarder') return startForwarder([sink.writeUrl]);
  return startVmagent(vmagentPath!, [sink.writeUrl]);
}

async function drainRep(name: DrainTargetName, latencyMs: number, writes: readonly DrainWrite[], o: DrainOptions): Promise<DrainRep> {
  const requests = writes.length;
  const target = await startTarget(name, o.sink, o.vmagentPath);
  try {
    await sinkCall([o.sink], '/reset');
    const cpu0 = processCpuSeconds(target.pid);
    const harness0 = processCpuSeconds(o.sink.pid) + ownCpuSeconds();
    const t0 = Date.now();
    const load = await sendLoad({ url: target.writeUrl, payloads: writes, requests, concurrency: o.concurrency, deadlineMs: 600_000, partitioned: true });
    if (load.failed > 0) throw new Error(`${load.failed} of ${load.requests} writes refused: ${JSON.stringify(load.failures)}`);
    // a drain slower than 10 000 samples/s is a finding in itself: stop waiting
    const deadline = Date.now() + Math.max(120_000, (load.samples / 10_000) * 1000);
    let stats: SinkStats;
    for (;;) {
      stats = await sinkStats(o.sink);
      if (stats.errors > 0) throw new Error(`the sink could not decode ${stats.errors} writes`);
      if (stats.samples > load.samples) throw new Error(`the sink received ${stats.samples} samples, more than the ${load.samples} sent`);
      if (stats.samples === load.samples) break;
      if (Date.now() > deadline)
        throw new Error(
          `not drained within ${((Date.now() - t0) / 1000).toFixed(0)} s at ${latencyMs} ms: ${stats.samples} of ${load.samples} samples delivered`,
        );
      await sleep(100);
    }
    const cpuSeconds = processCpuSeconds(target.pid) - cpu0;
    const harnessSeconds = processCpuSeconds(o.sink.pid) + ownCpuSeconds() - harness0;
    const seconds = (stats.lastAt - t0) / 1000;
    return {
      samples: load.samples,
      seconds,
      pushSeconds: load.wallSeconds,
      rate: load.samples / seconds,
      cpuSeconds,
      usPerSample: (cpuSeconds / load.samples) * 1e6,
      harnessUsPerSample: (harnessSeconds / load.samples) * 1e6,
      peakRss: processMemory(target.pid).peakRss,
      outOfOrder: stats.outOfOrder,
      upstreamCalls: stats.requests,
      maxInFlight: stats.maxInFlight,
    };
  } finally {
    await target.stop();
  }
}

export async function benchDrain(o: DrainOptions): Promise<DrainResult[]> {
  const targets: DrainTargetName[] = [];
  if (o.forwarder) targets.push('forwarder');
  if (o.vmagentPath) targets.push('vmagent');
  const templates = drainTemplates({ shards: o.concurrency, series: o.series });
  const results = new Map<string, DrainResult>();
  for (const latencyMs of o.latenciesMs) {
    for (const target of targets) {
      results.set(`${target}|${latencyMs}`, {
        target,
        latencyMs,
        reps: [],
        medianRate: Number.NaN,
        medianUsPerSample: Number.NaN,
        medianHarnessUsPerSample: Number.NaN,
        peakRss: Number.NaN,
        outOfOrder: 0,
      });
    }
  }
  try {
    await sinkCall([o.sink], '/mode?order=1');
    for (let r = 0; r < o.reps; r++) {
      for (const latencyMs of o.latenciesMs) {
        await sinkCall([o.sink], `/mode?delay=${latencyMs}`);
        // Both targets of this round push the same writes, made now (~1 CPU-ms each, so
        // not during a push): the second one's are older by the first one's drain, well
        // inside Azure's 20 minutes, and each target sees every series rise from round
        // to round.
        const writes = drainWrites(templates, Math.ceil(o.samples / o.series), Date.now());
        const order = r % 2 === 0 ? targets : [...targets].reverse();
        for (const target of order) {
          const res = results.get(`${target}|${latencyMs}`)!;
          if (res.failure !== undefined) continue;
          try {
            const rep = await drainRep(target, latencyMs, writes, o);
            res.reps.push(rep);
            o.log(
              `  rep ${r + 1}/${o.reps} ${latencyMs} ms ${target}: ${(rep.rate / 1000).toFixed(1)} k samples/s (${rep.seconds.toFixed(1)} s, push ${rep.pushSeconds.toFixed(1)} s), ${rep.usPerSample.toFixed(2)} CPU-µs/sample (sink + senders ${rep.harnessUsPerSample.toFixed(2)}), peak RSS ${(rep.peakRss / 2 ** 20).toFixed(0)} MiB, ${rep.upstreamCalls} calls (≤ ${rep.maxInFlight} in flight), ${rep.outOfOrder} out of order`,
            );
          } catch (err) {
            res.failure = (err as Error).message.split('\n')[0].slice(0, 300);
            o.log(`  rep ${r + 1}/${o.reps} ${latencyMs} ms ${target} failed: ${res.failure}`);
          }
        }
      }
    }
  } finally {
    await sinkCall([o.sink], '/mode?delay=0&order=0');
    await sinkCall([o.sink], '/reset');
  }
  for (const res of results.values()) {
    if (res.reps.length === 0) continue;
    res.medianRate = median(res.reps.map((x) => x.rate));
    res.medianUsPerSample = median(res.reps.map((x) => x.usPerSample));
    res.medianHarnessUsPerSample = median(res.reps.map((x) => x.harnessUsPerSample));
    res.peakRss = Math.max(...res.reps.map((x) => x.peakRss));
    res.outOfOrder = res.reps.reduce((a, x) => a + x.outOfOrder, 0);
  }
  return [...results.values()];
}
