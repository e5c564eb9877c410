// A/B of the relay host against an earlier build, process against process, with vmagent in
// the same run: `node dist/bench/side-by-side.js <earlier dist/>` (an earlier build's dist/
// with its build/ beside it, e.g. a copy made before a change). The one-workspace cases
// (issue 11) and the two-workspace ones, repetitions interleaved as compare.ts does;
// prints the medians and each relay's ratio to vmagent. Knobs: BENCH_REPS (5), BENCH_SAMPLES
// (1 M), BENCH_WARMUP_SAMPLES (1 M), SIDE_CASES (comma list of pass1,inject1,pass2,inject2), SIDE_NODE_ARGS
// and SIDE_BEFORE_NODE_ARGS (node flags after the shipped ones, functions/node-flags.ts, for the
// new build's relay and the earlier one's: a later flag overrides an earlier one, e.g. to try V8 flags);
// SIDE_BEFORE_UNFLAGGED=1 starts the earlier build without the shipped flags (as before they existed).

import * as path from 'node:path';
import { type Target, compareProcesses } from './compare';
import { BENCH_CLUSTER, syntheticPayloads } from './lib/payloads';
import { type Child, VMAGENT_ADDS_CLUSTER, findVmagent, startRelay, startSink, startVmagent, stopAll } from './lib/processes';
import { median } from './lib/stats';
import { asError } from '../shared/errors';

const num = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};

const flags = (name: string): string[] => (process.env[name] ?? '').split(' ').filter(Boolean);

async function main(): Promise<void> {
  const earlier = process.argv[2];
  if (!earlier) throw new Error('usage: node dist/bench/side-by-side.js <earlier build dist/ directory>');
  const vm = findVmagent((s) => process.stderr.write(`${s}\n`));
  if (!vm.path) throw new Error(`vmagent is needed as the yardstick: ${vm.reason}`);
  const wanted = new Set((process.env.SIDE_CASES ?? 'pass1,inject1,pass2,inject2').split(','));
  const sinks = [await startSink(), await startSink()];
  const running: Child[] = [];
  const targetsFor = async (urls: string[]): Promise<{ pass: Target[]; inject: Target[] }> => {
    const before = await startRelay({
      ingestionUrls: urls,
      cluster: BENCH_CLUSTER,
      entry: path.resolve(earlier, 'dev/relay-host.js'),
      nodeArgs: flags('SIDE_BEFORE_NODE_ARGS'),
      shippedFlags: process.env.SIDE_BEFORE_UNFLAGGED !== '1',
    });
    const after = await startRelay({ ingestionUrls: urls, cluster: BENCH_CLUSTER, nodeArgs: flags('SIDE_NODE_ARGS') });
    // vmagent passing through, and adding the cluster label as the relays do (run.ts)
    const vmagent = await startVmagent(vm.path!, urls);
    const vmagentLabel = await startVmagent(vm.path!, urls, VMAGENT_ADDS_CLUSTER);
    running.push(before, after, vmagent, vmagentLabel);
    const relays: Target[] = [
      { name: 'relay before', pid: before.pid, writeUrl: before.writeUrl },
      { name: 'relay after', pid: after.pid, writeUrl: after.writeUrl },
    ];
    return {
      pass: [...relays, { name: 'vmagent', pid: vmagent.pid, writeUrl: vmagent.writeUrl }],
      inject: [...relays, { name: 'vmagent', pid: vmagentLabel.pid, writeUrl: vmagentLabel.writeUrl }],
    };
  };
  const withCluster = syntheticPayloads({ requests: 8, series: 2000, withCluster: true });
  const withoutCluster = syntheticPayloads({ requests: 8, series: 2000, withCluster: false });
  const none = { pass: [], inject: [] };
  const one = wanted.has('pass1') || wanted.has('inject1') ? await targetsFor([sinks[0].writeUrl]) : none;
  const two = wanted.has('pass2') || wanted.has('inject2') ? await targetsFor(sinks.map((s) => s.writeUrl)) : none;
  const cases = [
    ...(wanted.has('pass1') ? [{ name: 'pass-through, one workspace', set: withCluster, targets: one.pass, sinks: sinks.slice(0, 1) }] : []),
    ...(wanted.has('inject1')
      ? [{ name: 'label injection, one workspace', set: withoutCluster, targets: one.inject, sinks: sinks.slice(0, 1), requireLabel: 'cluster' }]
      : []),
    ...(wanted.has('pass2') ? [{ name: 'pass-through, two workspaces', set: withCluster, targets: two.pass }] : []),
    ...(wanted.has('inject2') ? [{ name: 'label injection, two workspaces', set: withoutCluster, targets: two.inject, requireLabel: 'cluster' }] : []),
  ];

  const results = await compareProcesses(cases, sinks, {
    reps: Math.max(3, Math.floor(num('BENCH_REPS', 5))),
    samples: num('BENCH_SAMPLES', 1_000_000),
    warmupSamples: num('BENCH_WARMUP_SAMPLES', 1_000_000),
    processWarmupSamples: num('BENCH_PROCESS_WARMUP_SAMPLES', 8_000_000),
    concurrency: 6,
    log: (s) => process.stderr.write(`${s}\n`),
  });
  for (const c of cases) {
    const rows = results.filter((r) => r.caseName === c.name);
    const vmagent = rows.find((r) => r.target === 'vmagent')!.medianUsPerSample;
    process.stdout.write(`${c.name}\n`);
    for (const r of rows) {
      const us = r.reps.map((x) => x.usPerSample);
      process.stdout.write(
        `  ${r.target.padEnd(13)} ${median(us).toFixed(3)} µs (${Math.min(...us).toFixed(2)}–${Math.max(...us).toFixed(2)})  ${(r.medianUsPerSample / vmagent).toFixed(2)}× vmagent\n`,
      );
    }
  }
  await Promise.all(running.map((r) => r.stop()));
  await stopAll();
}

main().catch(async (err: unknown) => {
  const e = asError(err);
  process.stderr.write(`${e.stack ?? e.message}\n`);
  await stopAll();
  process.exit(1);
});
