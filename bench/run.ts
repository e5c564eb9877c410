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
//   BENCH_ONLY                comma list of sections: codec,path,compare,forwarder,drain,v2,relabel (v2: the remote-write 2.0 case and its yardstick alone; compare includes it)
//   BENCH_DRAIN_SAMPLES [3000000]  samples pushed per drain repetition
//   BENCH_DRAIN_REPS [3]      drain repetitions per target and latency (fresh processes each)
//   BENCH_DRAIN_LATENCIES [50,300]  the endpoint's answer delays, ms
//   BENCH_OUT                 results file [bench/results/latest.md]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CaseResult, type Target, compareProcesses } from './compare';
import { benchCodec, type CodecRow } from './codec';
import { type DrainResult, benchDrain } from './drain';
import {
  FIXED_PAYLOAD_ENV,
  type ForwarderProcess,
  type ForwarderResult,
  benchForwarder,
  forwarderAvailable,
  smokeForwarder,
  startForwarder as startBenchForwarder,
} from './forwarder';
import { RELABEL, withRelabelledCounts, writeTypicalRules } from './relabel';
import { machineFacts } from './lib/machine';
import { BENCH_CLUSTER, asRemoteWrite2, fixturePayloads, syntheticPayloads } from './lib/payloads';
import {
  type Child,
  type Sink,
  VMAGENT_ADDS_CLUSTER,
  distRoot,
  findVmagent,
  removeDir,
  repoRoot,
  startRelay,
  startSink,
  startVmagent,
  stopAll,
  tempDir,
} from './lib/processes';
import { clockTicks } from './lib/proc';
import { type RelayPathRow, benchRelayPath } from './relay-path';
import { nativeStatus } from '../shared/remote-write/native';
import { BARE, INJECT, INJECT_ONE, PASS, PASS_ONE, PASS_V2, STAGES, renderReport } from './report';
import { asError } from '../shared/errors';

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
  // Warm each process up to its steady state, as a relay that runs for days is; vmagent
  // gets the same warm-up. V8 keeps compiling the relay's per-request code for its first
  // ~3 000 requests: CPU per sample falls from 1.0-1.3 µs to ~0.45 over the first 6-7 M
  // samples and then holds (bench/README.md, session 10), so a process's first warm-up is
  // 8 M samples, and each further case it serves gets 2 M of its own payloads.
  const warmupSamples = num('BENCH_WARMUP_SAMPLES', 2_000_000);
  const processWarmupSamples = num('BENCH_PROCESS_WARMUP_SAMPLES', 8_000_000);
  const concurrency = num('BENCH_CONCURRENCY', 6);
  const minSeconds = num('BENCH_MIN_SECONDS', 0.2);
  const only = new Set((process.env.BENCH_ONLY ?? 'codec,path,compare,forwarder,drain,relabel').split(',').map((s) => s.trim()));
  const drainSettings = {
    samples: num('BENCH_DRAIN_SAMPLES', 3_000_000),
    reps: Math.floor(num('BENCH_DRAIN_REPS', 3)),
    latenciesMs: (process.env.BENCH_DRAIN_LATENCIES ?? '50,300')
      .split(',')
      .map(Number)
      .filter((x) => Number.isFinite(x) && x >= 0),
    series: 2000,
  };
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
  let drain: DrainResult[] = [];
  let drainNote: string | undefined;
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

    const vm = only.has('compare') || only.has('drain') || only.has('v2') || only.has('relabel') ? findVmagent(log) : {};
    vmagentVersion = vm.version;
    vmagentNote = vm.reason;

    if (only.has('compare')) {
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
          const p = await startRelay({
            ingestionUrls: sinkUrls,
            cluster: BENCH_CLUSTER,
            entry: path.join(distRoot, 'bench/relay-bare.js'),
            env: { RELAY_STAGE: stage },
          });
          running.push(p);
          stages.push({ name, pid: p.pid, writeUrl: p.writeUrl });
        }
      }
      // vmagent passing writes through, and (label injection) adding the cluster label as the
      // relay does: -remoteWrite.label, so that both deliver the same series (the sinks check
      // it during the warm-up, compare.ts requireLabel)
      const vmagents = async (urls: string[]): Promise<{ pass: Target[]; inject: Target[] }> => {
        if (!vm.path) return { pass: [], inject: [] };
        const pass = await startVmagent(vm.path, urls);
        const inject = await startVmagent(vm.path, urls, VMAGENT_ADDS_CLUSTER);
        running.push(pass, inject);
        return {
          pass: [{ name: 'vmagent', pid: pass.pid, writeUrl: pass.writeUrl }],
          inject: [{ name: 'vmagent', pid: inject.pid, writeUrl: inject.writeUrl }],
        };
      };
      if (!vm.path) log(`vmagent skipped: ${vm.reason}`);
      const yardstick = await vmagents(sinkUrls);
      // One workspace (most users have one): the relay as `npm run relay` serves it and
      // vmagent, each with the first sink alone.
      const oneSink = sinks.slice(0, 1);
      const relay1 = await startRelay({ ingestionUrls: [oneSink[0].writeUrl], cluster: BENCH_CLUSTER });
      running.push(relay1);
      const relayOne: Target[] = [{ name: 'relay', pid: relay1.pid, writeUrl: relay1.writeUrl }];
      const yardstickOne = await vmagents([oneSink[0].writeUrl]);
      const fwdTarget: Target[] = fwd ? [{ name: 'forwarder', pid: fwd.pid, writeUrl: fwd.writeUrl }] : [];
      const cases = [
        { name: PASS, set: withCluster, targets: [...ours, ...stages, ...fwdTarget, ...yardstick.pass] },
        { name: INJECT, set: withoutCluster, targets: [...ours, ...yardstick.inject], requireLabel: 'cluster' },
        { name: PASS_ONE, set: withCluster, targets: [...relayOne, ...yardstickOne.pass], sinks: oneSink },
        { name: INJECT_ONE, set: withoutCluster, targets: [...relayOne, ...yardstickOne.inject], sinks: oneSink, requireLabel: 'cluster' },
        { name: PASS_V2, set: asRemoteWrite2(withCluster), targets: ours.slice(0, 1) },
      ];
      log(
        `process vs process: ${[...ours, ...stages, ...fwdTarget, ...yardstick.pass].map((t) => t.name).join(', ')}; ${reps} reps × ${(samples / 1e6).toFixed(1)} M samples, ${concurrency} senders…`,
      );
      compare = await compareProcesses(cases, sinks, { reps, samples, warmupSamples, processWarmupSamples, concurrency, log });
      await Promise.all(running.map((c) => c.stop()));
    }
    await fwd?.stop();

    // BENCH_ONLY=v2: the remote-write 2.0 case alone, with its yardstick (vmagent passing the same writes through as 1.0)
    if (only.has('v2') && !only.has('compare')) {
      const relay = await startRelay({ ingestionUrls: sinkUrls, cluster: BENCH_CLUSTER });
      const running: Child[] = [relay];
      const ours: Target[] = [{ name: 'relay', pid: relay.pid, writeUrl: relay.writeUrl }];
      const yardstick: Target[] = [];
      if (vm.path) {
        const vmagent = await startVmagent(vm.path, sinkUrls);
        running.push(vmagent);
        yardstick.push({ name: 'vmagent', pid: vmagent.pid, writeUrl: vmagent.writeUrl });
      }
      log(`remote-write 2.0: relay and ${vm.path ? 'vmagent' : '(no vmagent)'}; ${reps} reps × ${(samples / 1e6).toFixed(1)} M samples…`);
      compare = await compareProcesses(
        [
          { name: PASS, set: withCluster, targets: [...ours, ...yardstick] },
          { name: PASS_V2, set: asRemoteWrite2(withCluster), targets: ours },
        ],
        sinks,
        { reps, samples, warmupSamples, processWarmupSamples, concurrency, log },
      );
      await Promise.all(running.map((c) => c.stop()));
    }

    if (only.has('relabel')) {
      // the same rule file in the forwarder, the relay and vmagent, one sink (one workspace)
      const dir = tempDir('bench-relabel-');
      const rules = writeTypicalRules(dir);
      const oneSink = sinks.slice(0, 1);
      const running: Child[] = [];
      const targets: Target[] = [];
      if (forwarderAvailable().ok) {
        const f = await startBenchForwarder([oneSink[0].writeUrl], { ...FIXED_PAYLOAD_ENV, RELABEL_CONFIG_FILE: rules });
        running.push(f);
        targets.push({ name: 'forwarder', pid: f.pid, writeUrl: f.writeUrl });
      }
      const relay = await startRelay({ ingestionUrls: [oneSink[0].writeUrl], cluster: BENCH_CLUSTER, env: { RELABEL_CONFIG_FILE: rules } });
      running.push(relay);
      targets.push({ name: 'relay', pid: relay.pid, writeUrl: relay.writeUrl });
      if (vm.path) {
        const v = await startVmagent(vm.path, [oneSink[0].writeUrl], [`-remoteWrite.urlRelabelConfig=${rules}`]);
        running.push(v);
        targets.push({ name: 'vmagent', pid: v.pid, writeUrl: v.writeUrl });
      }
      log(`relabel: ${targets.map((t) => t.name).join(', ')} with ${rules}; ${reps} reps × ${(samples / 1e6).toFixed(1)} M samples…`);
      compare.push(
        ...(await compareProcesses([{ name: RELABEL, set: withRelabelledCounts(withCluster), targets, sinks: oneSink }], sinks, {
          reps,
          samples,
          warmupSamples,
          processWarmupSamples,
          concurrency,
          log,
        })),
      );
      await Promise.all(running.map((c) => c.stop()));
      removeDir(dir);
    }

    if (only.has('drain')) {
      const avail = forwarderAvailable();
      if (!avail.ok) log(`drain: forwarder left out: ${avail.reason}`);
      if (!vm.path) log(`drain: vmagent left out: ${vm.reason}`);
      if (!avail.ok && !vm.path) {
        drainNote = `neither the forwarder (${avail.reason}) nor vmagent (${vm.reason})`;
      } else {
        log(
          `drain: ${drainSettings.reps} reps × ${(drainSettings.samples / 1e6).toFixed(1)} M samples at ${drainSettings.latenciesMs.join(' and ')} ms, fresh processes, ${concurrency} senders…`,
        );
        const drainSink = await startSink(); // its own sink: the delay mode never leaks into another section
        drain = await benchDrain({ sink: drainSink, ...drainSettings, concurrency, vmagentPath: vm.path, forwarder: avail.ok, log });
        await drainSink.stop();
      }
    }

    if (only.has('forwarder') && forwarderNote === undefined) {
      log('forwarder: dead upstream, batching…');
      try {
        forwarder = await benchForwarder({
          sinks,
          set: withCluster,
          deadSeconds: num('BENCH_DEAD_SECONDS', 15),
          batchSeconds: num('BENCH_BATCH_SECONDS', 10),
          log,
        });
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
    settings: { reps, samples, warmupSamples, processWarmupSamples, concurrency, minSeconds },
    sets: { fixtures, synthetic: withCluster, syntheticName: synthName },
    codec,
    relayPath,
    compare,
    vmagentVersion,
    vmagentNote,
    forwarder,
    forwarderNote,
    forwarderRunNote,
    drain,
    drainNote,
    drainSettings,
    seconds: (Date.now() - started) / 1000,
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, report);
  process.stdout.write(report);
  log(`written to ${path.relative(process.cwd(), out)} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const disordered = drain.filter((d) => d.target === 'forwarder' && d.outOfOrder > 0);
  if (disordered.length > 0) {
    log(`FAILED: the forwarder delivered samples out of order (${disordered.map((d) => `${d.outOfOrder} at ${d.latencyMs} ms`).join(', ')})`);
    process.exitCode = 1;
  }
}

main().catch(async (err: unknown) => {
  const e = asError(err);
  log(`bench failed: ${e.stack ?? e.message}`);
  await stopAll();
  process.exit(1);
});
