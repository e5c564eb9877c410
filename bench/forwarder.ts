// The forwarder (local-proxy/) as a process: accept → batch → spool → send upstream,
// here in direct mode to the two sinks (INGESTION_URL, IDENTITY_TYPE=none). Measured
// only when dist/local-proxy/main.js exists and passes a smoke test (one write must
// reach both sinks); otherwise the section is left out and the report says why.
//   - CPU per sample: as a third target of the process comparison (compare.ts)
//   - peak RSS while the upstream is dead and 100 000 samples/s arrive
//   - samples per upstream call when fed 500-sample requests at 20 000 samples/s

import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { resetSinks, waitDelivered } from './compare';
import { sendLoad } from './lib/load';
import { BENCH_CLUSTER, type PayloadSet, syntheticPayloads } from './lib/payloads';
import { type Child, type Sink, baseEnv, distRoot, freePort, removeDir, sinkCall, sinkStats, tempDir, track, waitForHttp } from './lib/processes';
import { processMemory } from './lib/proc';
import { sleep } from './lib/stats';
import { FORWARDER_NODE_FLAGS } from '../local-proxy/node-flags';

const MAIN = path.join(distRoot, 'local-proxy/main.js');

export function forwarderAvailable(): { ok: boolean; reason?: string } {
  if (!fs.existsSync(MAIN)) return { ok: false, reason: 'dist/local-proxy/main.js does not exist (the forwarder is not built yet)' };
  return { ok: true };
}

/**
 * The forwarder's settings in every bench run (compare, forwarder, drain), beside what
 * startForwarder sets per process (INGESTION_URL, IDENTITY_TYPE=none, a temp SPOOL_DIR,
 * the loopback listening address). Everything not named here is the forwarder's default
 * (CATCHUP_MAX_RATE among them: no cap since issue 11, so a drain is not paced).
 */
export const FORWARDER_BENCH_ENV: Readonly<Record<string, string>> = {
  CLUSTER: BENCH_CLUSTER, // the bench payloads carry it already: nothing is injected
  PUBLISH_LOG_INTERVAL: '1h', // quiet stderr
};

/**
 * The comparison, smoke, dead-upstream and batching cases replay fixed payloads (their
 * timestamps are from when they were made), which the forwarder's Azure window would count
 * too old and not send; vmagent keeps old data. Those cases turn the window off (the check
 * itself is two comparisons per record); the drain case uses current timestamps and defaults.
 */
export const FIXED_PAYLOAD_ENV: Readonly<Record<string, string>> = { MAX_SAMPLE_AGE: '0' };

export interface ForwarderProcess extends Child {
  writeUrl: string;
  spoolDir: string;
}

export async function startForwarder(
  sinkUrls: readonly string[],
  extraEnv: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): Promise<ForwarderProcess> {
  const port = await freePort();
  const spoolDir = tempDir('bench-spool-');
  const env = baseEnv({
    LISTENING_PORT: String(port),
    LISTENING_HOST: '127.0.0.1',
    INGESTION_URL: sinkUrls.join(','),
    IDENTITY_TYPE: 'none',
    SPOOL_DIR: spoolDir,
    ...FORWARDER_BENCH_ENV,
    ...extraEnv,
  });
  const proc = spawn(process.execPath, [...FORWARDER_NODE_FLAGS, ...nodeArgs, MAIN], { cwd: spoolDir, stdio: ['ignore', 'ignore', 'pipe'], env });
  const tracked = track('forwarder', proc);
  const child: ForwarderProcess = {
    ...tracked,
    writeUrl: `http://127.0.0.1:${port}/api/v1/write`,
    spoolDir,
    async stop() {
      await tracked.stop(); // SIGTERM: the forwarder settles and exits by itself
      removeDir(spoolDir);
    },
  };
  try {
    await waitForHttp(`http://127.0.0.1:${port}/health`, 15_000, 'forwarder', child);
  } catch (e) {
    await child.stop();
    throw e;
  }
  return child;
}

/** Starts a forwarder and checks that one write reaches both sinks; the reason if not. */
export async function smokeForwarder(sinks: readonly Sink[], set: PayloadSet): Promise<{ forwarder?: ForwarderProcess; reason?: string }> {
  let f: ForwarderProcess | undefined;
  try {
    f = await startForwarder(
      sinks.map((s) => s.writeUrl),
      FIXED_PAYLOAD_ENV,
    );
    await resetSinks(sinks);
    const load = await sendLoad({ url: f.writeUrl, payloads: set.payloads.slice(0, 1), requests: 1, concurrency: 1, deadlineMs: 10_000 });
    if (load.failed > 0) throw new Error(`the forwarder refused a valid write: ${JSON.stringify(load.failures)}`);
    await waitDelivered(sinks, load.samples, 15_000);
    return { forwarder: f };
  } catch (err) {
    await f?.stop();
    return { reason: `the forwarder did not pass the smoke test: ${(err as Error).message.split('\n')[0].slice(0, 300)}` };
  }
}

export interface ForwarderResult {
  dead: { seconds: number; offeredRate: number; accepted: number; refused: number; peakRss: number; rssSamples: number[] };
  batching: { seconds: number; offeredRate: number; requestSamples: number; sent: number; upstreamCalls: number; samplesPerCall: number; minPerCall: number };
}

/** Peak RSS with a dead upstream, and batch sizes at 20 000 samples/s of 500-sample writes. */
export async function benchForwarder(opts: {
  sinks: readonly Sink[];
  set: PayloadSet;
  deadSeconds: number;
  batchSeconds: number;
  log: (s: string) => void;
}): Promise<ForwarderResult> {
  const { sinks } = opts;
  const sinkUrls = sinks.map((s) => s.writeUrl);

  // 1. upstream dead, 100 000 samples/s arriving
  const deadRate = 100_000;
  await sinkCall(sinks, '/mode?status=503');
  let dead: ForwarderResult['dead'];
  {
    const f = await startForwarder(sinkUrls, FIXED_PAYLOAD_ENV);
    try {
      const rssSamples: number[] = [];
      const timer = setInterval(() => {
        try {
          rssSamples.push(processMemory(f.pid).rss);
        } catch {
          // exited: reported by the load's failures
        }
      }, 250);
      const load = await sendLoad({
        url: f.writeUrl,
        payloads: opts.set.payloads,
        requests: Math.ceil((deadRate * opts.deadSeconds) / (opts.set.samples / opts.set.payloads.length)),
        concurrency: 4,
        deadlineMs: opts.deadSeconds * 1000 + 30_000,
        rate: deadRate,
      });
      clearInterval(timer);
      const peakRss = processMemory(f.pid).peakRss;
      dead = { seconds: load.wallSeconds, offeredRate: load.samples / load.wallSeconds, accepted: load.samples, refused: load.failed, peakRss, rssSamples };
      opts.log(
        `  dead upstream: ${(load.samples / 1e6).toFixed(2)} M samples accepted in ${load.wallSeconds.toFixed(1)} s, ${load.failed} writes refused, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
      );
    } finally {
      await sinkCall(sinks, '/mode?status=204');
      await f.stop();
    }
  }

  // 2. 500-sample writes at 20 000 samples/s: how many samples per upstream call
  const batchRate = 20_000;
  const small = syntheticPayloads({ requests: 16, series: 500, withCluster: true, seed: 7 });
  let batching: ForwarderResult['batching'];
  {
    const f = await startForwarder(sinkUrls, FIXED_PAYLOAD_ENV);
    try {
      await resetSinks(sinks);
      const load = await sendLoad({
        url: f.writeUrl,
        payloads: small.payloads,
        requests: Math.ceil((batchRate * opts.batchSeconds) / 500),
        concurrency: 4,
        deadlineMs: opts.batchSeconds * 1000 + 30_000,
        rate: batchRate,
      });
      if (load.failed > 0) throw new Error(`forwarder refused ${load.failed} writes: ${JSON.stringify(load.failures)}`);
      await waitDelivered(sinks, load.samples, 30_000);
      await sleep(100);
      const stats = await Promise.all(sinks.map(sinkStats));
      const calls = stats.reduce((a, s) => a + s.requests, 0) / stats.length;
      batching = {
        seconds: load.wallSeconds,
        offeredRate: load.samples / load.wallSeconds,
        requestSamples: 500,
        sent: load.samples,
        upstreamCalls: calls,
        samplesPerCall: load.samples / calls,
        minPerCall: Math.min(...stats.map((s) => s.minSamplesPerRequest)),
      };
      opts.log(
        `  batching: ${load.samples} samples in ${load.requests} writes → ${calls} upstream calls per sink, ${batching.samplesPerCall.toFixed(0)} samples per call`,
      );
    } finally {
      await f.stop();
    }
  }
  return { dead, batching };
}
