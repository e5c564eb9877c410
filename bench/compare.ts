// Process against process: our relay host and vmagent (and, when it exists, our
// forwarder) relay the same payloads from the same load generator to the same two
// sink processes. Each relay's CPU is utime + stime from /proc/<pid>/stat, read
// before the load starts and after both sinks hold every sample, so buffering relays
// (vmagent) are charged for delivery too. Repetitions of all targets are interleaved
// so that noise on this shared machine falls on every target alike.

import { sendLoad } from './lib/load';
import type { PayloadSet } from './lib/payloads';
import { type Sink, sinkCall, sinkStats } from './lib/processes';
import { processCpuSeconds, processMemory } from './lib/proc';
import { median, sleep } from './lib/stats';

export interface Target {
  /** e.g. "relay", "vmagent" */
  name: string;
  pid: number;
  writeUrl: string;
}

export interface Rep {
  cpuSeconds: number;
  samples: number;
  requests: number;
  wallSeconds: number;
  /** wall time from the first request until both sinks held everything */
  deliveredSeconds: number;
  usPerSample: number;
  rss: number;
}

export interface CaseResult {
  target: string;
  caseName: string;
  reps: Rep[];
  medianUsPerSample: number;
  peakRss: number;
}

export async function resetSinks(sinks: readonly Sink[]): Promise<void> {
  await sinkCall(sinks, '/reset');
}

/** Waits until every sink has received `samples` samples; throws on timeout or excess. */
export async function waitDelivered(sinks: readonly Sink[], samples: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await Promise.all(sinks.map(sinkStats));
    if (stats.some((s) => s.errors > 0)) throw new Error(`a sink could not decode what it received: ${JSON.stringify(stats)}`);
    if (stats.some((s) => s.samples > samples)) throw new Error(`a sink received more samples than were sent (${samples}): ${JSON.stringify(stats)}`);
    if (stats.every((s) => s.samples === samples)) return;
    if (Date.now() > deadline) throw new Error(`not delivered within ${timeoutMs} ms: sent ${samples}, sinks hold ${stats.map((s) => s.samples).join(', ')}`);
    await sleep(50);
  }
}

export async function runRep(target: Target, set: PayloadSet, sinks: readonly Sink[], opts: { samples: number; concurrency: number }): Promise<Rep> {
  const perRequest = set.samples / set.payloads.length;
  const requests = Math.max(set.payloads.length, Math.round(opts.samples / perRequest));
  await resetSinks(sinks);
  const cpu0 = processCpuSeconds(target.pid);
  const t0 = Date.now();
  const load = await sendLoad({
    url: target.writeUrl,
    payloads: set.payloads,
    requests,
    concurrency: opts.concurrency,
    deadlineMs: 180_000,
    headers: set.headers,
  });
  if (load.failed > 0) throw new Error(`${target.name}: ${load.failed} of ${load.requests} writes failed: ${JSON.stringify(load.failures)}`);
  await waitDelivered(sinks, load.delivered, 60_000);
  const deliveredSeconds = (Date.now() - t0) / 1000;
  const cpuSeconds = processCpuSeconds(target.pid) - cpu0;
  return {
    cpuSeconds,
    samples: load.samples,
    requests: load.requests,
    wallSeconds: load.wallSeconds,
    deliveredSeconds,
    usPerSample: (cpuSeconds / load.samples) * 1e6,
    rss: processMemory(target.pid).rss,
  };
}

/**
 * Runs `reps` measured repetitions (after one warm-up each) of every case × its
 * targets, interleaved: rep 1 of everything, then rep 2, … alternating target order.
 */
export async function compareProcesses(
  /**
   * `sinks`: where this case's targets deliver, when not the run's `sinks` (the one-workspace
   * cases). `requireLabel`: during its warm-up the sinks count series without that label, and
   * any fails the run (every target must deliver the same series: the label-injection cases).
   */
  cases: ReadonlyArray<{ name: string; set: PayloadSet; targets: readonly Target[]; sinks?: readonly Sink[]; requireLabel?: string }>,
  sinks: readonly Sink[],
  opts: { reps: number; samples: number; warmupSamples: number; processWarmupSamples: number; concurrency: number; log: (s: string) => void },
): Promise<CaseResult[]> {
  const results = new Map<string, CaseResult>();
  // a target name may stand for different processes in different cases (the relay with
  // one endpoint and with two): the peak RSS is read from the case's own process
  const pids = new Map<string, number>();
  const warmed = new Set<number>();
  for (const c of cases) {
    for (const t of c.targets) {
      // a process's first warm-up is the long one (processWarmupSamples); each further case it serves gets warmupSamples of its own payloads
      const first = !warmed.has(t.pid);
      warmed.add(t.pid);
      const caseSinks = c.sinks ?? sinks;
      if (c.requireLabel) await sinkCall(caseSinks, `/mode?label=${encodeURIComponent(c.requireLabel)}`);
      await runRep(t, c.set, caseSinks, {
        samples: first ? Math.max(opts.processWarmupSamples, opts.warmupSamples) : opts.warmupSamples,
        concurrency: opts.concurrency,
      });
      if (c.requireLabel) {
        const stats = await Promise.all(caseSinks.map(sinkStats));
        await sinkCall(caseSinks, '/mode?label=');
        const missing = stats.reduce((sum, x) => sum + x.unlabelled, 0);
        if (missing > 0) throw new Error(`${t.name} (${c.name}): ${missing} series reached the sinks without the ${c.requireLabel} label`);
      }
      results.set(`${t.name}|${c.name}`, { target: t.name, caseName: c.name, reps: [], medianUsPerSample: Number.NaN, peakRss: 0 });
      pids.set(`${t.name}|${c.name}`, t.pid);
    }
  }
  for (let r = 0; r < opts.reps; r++) {
    for (const c of cases) {
      const order = r % 2 === 0 ? c.targets : [...c.targets].reverse();
      for (const t of order) {
        const rep = await runRep(t, c.set, c.sinks ?? sinks, { samples: opts.samples, concurrency: opts.concurrency });
        const res = results.get(`${t.name}|${c.name}`)!;
        res.reps.push(rep);
        opts.log(
          `  rep ${r + 1}/${opts.reps} ${c.name} ${t.name}: ${rep.usPerSample.toFixed(3)} CPU-µs/sample (${rep.cpuSeconds.toFixed(2)} s CPU, ${(rep.samples / 1e6).toFixed(2)} M samples, ${rep.deliveredSeconds.toFixed(1)} s)`,
        );
      }
    }
  }
  for (const res of results.values()) {
    res.medianUsPerSample = median(res.reps.map((x) => x.usPerSample));
  }
  for (const res of results.values()) res.peakRss = processMemory(pids.get(`${res.target}|${res.caseName}`)!).peakRss;
  return [...results.values()];
}
