// `npm run bench`: measures the codec, the relay path in process, and our relay (and
// forwarder, when present) against vmagent process by process, then writes
// bench/results/latest.md. Not part of `npm test`. Method: bench/README.md.
//
// Environment knobs (defaults in brackets):
//   BENCH_REPS [5]            measured repetitions per case (after a warm-up)
//   BENCH_SAMPLES [1000000]   samples per process-vs-process repetition
//   BENCH_WARMUP_SAMPLES [2000000]  samples each process gets per case before the measured ones
//   BENCH_BARE [1]            also run the relay core behind a bare node:http server (0: no)
//   BENCH_STAGES [1]          also run the relay cut short stage by stage, pass-through (0: no)
//   BENCH_CONCURRENCY [6]     concurrent senders of the load generator
//   BENCH_MIN_SECONDS [0.2]   CPU seconds per in-process repetition
//   BENCH_ONLY                comma list of sections: codec,path,compare,forwarder
//   BENCH_OUT                 results file [bench/results/latest.md]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CaseResult, type Target, compareProcesses } from './compare';
import { benchCodec, type CodecRow } from './codec';
import { type ForwarderProcess, type ForwarderResult, benchForwarder, forwarderAvailable, smokeForwarder } from './forwarder';
import { machineFacts } from './lib/machine';
import { BENCH_CLUSTER, fixturePayloads, syntheticPayloads } from './lib/payloads';
import { type Child, type Sink, distRoot, findVmagent, repoRoot, startRelay, startSink, startVmagent, stopAll } from './lib/processes';
import { clockTicks } from './lib/proc';
import { type RelayPathRow, benchRelayPath } from './relay-path';
import { nativeStatus } from '../shared/remote-write/native';
import { BARE, STAGES, renderReport } from './report';

const num = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};

const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

async function main(): Promise<void> {
  const reps = Math.max(5, Math.floor(num('BENCH_REPS', 5)));
  const samples = num('BENCH_SAMPLES', 1_000_000);
  // V8 is still compiling the request path after 300 k samples (a first repetition after
  // that ran ~50 % above the rest): warm each process up to its steady state, as a relay
  // that runs for days is. vmagent gets the same warm-up.
  const warmupSamples = num('BENCH_WARMUP_SAMPLES', 2_000_000);
  const concurrency = num('BENCH_CONCURRENCY', 6);
  const minSeconds = num('BENCH_MIN_SECONDS', 0.2);
  const only = new Set((process.env.BENCH_ONLY ?? 'codec,path,compare,forwarder').split(',').map((s) => s.trim()));
  const out = process.env.BENCH_OUT ?? path.join(repoRoot, 'bench/results/latest.md');
  const started = Date.now();
  const facts = machineFacts();
  log(`bench: ${facts.cpuModel}, ${facts.cores} cores, Node ${facts.node}, load ${facts.loadAverage}`);

  const fixtures = fixturePayloads();
  const withCluster = syntheticPayloads({ requests: 8, series: 2000, withCluster: true });
  const withoutCluster = syntheticPayloads({ requests: 8, series: 2000, withCluster: false });
  const synthName = '2 000 series × 10 labels';

  let codec: CodecRow[] = [];
  if (only.has('codec')) {
    log('codec (in process)…');
    codec = benchCodec([fixtures, withCluster], { reps, minSeconds });
  }

  const sinks: Sink[] = [];
  let relayPath: RelayPathRow[] = [];
  let compare: CaseResult[] = [];
  let vmagentVersion: string | undefined;
  let vmagentNote: string | undefined;
  let forwarder: ForwarderResult | undefined;
  let forwarderNote: string | undefined;
  let forwarderRunNote: string | undefined;
  try {
    sinks.push(await startSink(), await startSink());
    const sinkUrls = sinks.map((s) => s.writeUrl);

    if (only.has('path')) {
      log('relay path (in process, fan-out to two sink processes)…');
      relayPath = await benchRelayPath(
        [
          { set: fixtures, mode: 'pass-through' },
          { set: withCluster, mode: 'pass-through' },
          { set: withoutCluster, mode: 'label injection' },
        ],
        sinkUrls,
        { reps, minSeconds, concurrency: 4 },
      );
    }

    let fwd: ForwarderProcess | undefined;
    if (only.has('forwarder')) {
      const avail = forwarderAvailable();
      if (avail.ok) {
        const smoke = await smokeForwarder(sinks, withCluster);
        fwd = smoke.forwarder;
        forwarderNote = smoke.reason;
      } else {
        forwarderNote = avail.reason;
      }
      if (forwarderNote) log(`forwarder left out: ${forwarderNote}`);
    }

    if (only.has('compare')) {
      const vm = findVmagent(log);
      vmagentVersion = vm.version;
      vmagentNote = vm.reason;
      const relay = await startRelay({ ingestionUrls: sinkUrls, cluster: BENCH_CLUSTER });
      const running: Child[] = [relay];
      const ours: Target[] = [{ name: 'relay', pid: relay.pid, writeUrl: relay.writeUrl }];
      if (process.env.BENCH_BARE !== '0') {
        const bare = await startRelay({ ingestionUrls: sinkUrls, cluster: BENCH_CLUSTER, entry: path.join(distRoot, 'bench/relay-bare.js') });
        running.push(bare);
        ours.push({ name: BARE, pid: bare.pid, writeUrl: bare.writeUrl });
      }
      // The data path cut short stage by stage (bench/relay-bare.ts), pass-through only:
      // where the relay's CPU goes, measured in the same run.
      const stages: Target[] = [];
      if (process.env.BENCH_STAGES !== '0') {
        for (const [stage, name] of STAGES) {
          // without the native module (no compiler at npm ci) the relays run the JS path: no native stage
          if (stage === 'native' && !nativeStatus().loaded) {
            log(`native stage left out: ${nativeStatus().reason}`);
            continue;
          }
          const p = await startRelay({ ingestionUrls: sinkUrls, cluster: BENCH_CLUSTER, entry: path.join(distRoot, 'bench/relay-bare.js'), env: { RELAY_STAGE: stage } });
          running.push(p);
          stages.push({ name, pid: p.pid, writeUrl: p.writeUrl });
        }
      }
      const yardstick: Target[] = [];
      if (vm.path) {
        const vmagent = await startVmagent(vm.path, sinkUrls);
        running.push(vmagent);
        yardstick.push({ name: 'vmagent', pid: vmagent.pid, writeUrl: vmagent.writeUrl });
      } else {
        log(`vmagent skipped: ${vm.reason}`);
      }
      const fwdTarget: Target[] = fwd ? [{ name: 'forwarder', pid: fwd.pid, writeUrl: fwd.writeUrl }] : [];
      const cases = [
        { name: 'pass-through', set: withCluster, targets: [...ours, ...stages, ...fwdTarget, ...yardstick] },
        { name: 'label injection', set: withoutCluster, targets: [...ours, ...yardstick] },
      ];
      log(`process vs process: ${[...ours, ...stages, ...fwdTarget, ...yardstick].map((t) => t.name).join(', ')}; ${reps} reps × ${(samples / 1e6).toFixed(1)} M samples, ${concurrency} senders…`);
      compare = await compareProcesses(cases, sinks, { reps, samples, warmupSamples, concurrency, log });
      await Promise.all(running.map((c) => c.stop()));
    }
    await fwd?.stop();

    if (only.has('forwarder') && forwarderNote === undefined) {
      log('forwarder: dead upstream, batching…');
      try {
        forwarder = await benchForwarder({ sinks, set: withCluster, deadSeconds: num('BENCH_DEAD_SECONDS', 15), batchSeconds: num('BENCH_BATCH_SECONDS', 10), log });
      } catch (err) {
        // the forwarder is another component under construction: report, do not lose the run
        forwarderRunNote = `failed: ${(err as Error).message.split('\n')[0].slice(0, 300)}`;
        log(`forwarder memory/batching part ${forwarderRunNote}`);
      }
    }
  } finally {
    await stopAll();
  }

  const report = renderReport({
    facts,
    clkTck: clockTicks(),
    settings: { reps, samples, warmupSamples, concurrency, minSeconds },
    sets: { fixtures, synthetic: withCluster, syntheticName: synthName },
    codec,
    relayPath,
    compare,
    vmagentVersion,
    vmagentNote,
    forwarder,
    forwarderNote,
    forwarderRunNote,
    seconds: (Date.now() - started) / 1000,
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, report);
  process.stdout.write(report);
  log(`written to ${path.relative(process.cwd(), out)} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch(async (err: Error) => {
  log(`bench failed: ${err.stack ?? err.message}`);
  await stopAll();
  process.exit(1);
});
