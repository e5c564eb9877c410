// Profiles our relay process under the bench load: `node dist/bench/profile.js
// [pass-through|label injection|v2] [samples] [host|bare]` (v2: the pass-through writes as remote-write 2.0). Starts two sinks and the relay
// host (or the bare node:http host, bench/relay-bare.ts) under `node --cpu-prof`, sends the synthetic payloads, stops the relay and prints
// the functions with the most self time. The .cpuprofile stays in $PROFILE_DIR
// (default: <tmp>/relay-bench-profiles; open it in Chrome DevTools or VS Code).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resetSinks, runRep } from './compare';
import { topSelfTime } from './lib/cpuprofile';
import { BENCH_CLUSTER, asRemoteWrite2, syntheticPayloads } from './lib/payloads';
import { startRelay, startSink, stopAll } from './lib/processes';

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'pass-through';
  const samples = Number(process.argv[3] ?? 1_000_000);
  const dir = process.env.PROFILE_DIR ?? path.join(os.tmpdir(), 'relay-bench-profiles');
  fs.mkdirSync(dir, { recursive: true });
  const sinks = [await startSink(), await startSink()];
  const synthetic = syntheticPayloads({ requests: 8, series: 2000, withCluster: mode !== 'label injection' });
  const set = mode === 'v2' ? asRemoteWrite2(synthetic) : synthetic;
  const before = new Set(fs.readdirSync(dir));
  const relay = await startRelay({
    ingestionUrls: sinks.map((s) => s.writeUrl),
    cluster: BENCH_CLUSTER,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    entry: path.join(__dirname, process.argv[4] === 'bare' ? 'relay-bare.js' : 'relay-entry.js'),
  });
  const rep = await runRep({ name: 'relay', pid: relay.pid, writeUrl: relay.writeUrl }, set, sinks, { samples, concurrency: 6 });
  process.stdout.write(`${mode}: ${rep.usPerSample.toFixed(3)} CPU-µs/sample over ${rep.samples} samples\n`);
  await resetSinks(sinks);
  await relay.stop();
  await stopAll();
  const file = fs.readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile written');
  process.stdout.write(`profile: ${path.join(dir, file)}\n`);
  for (const h of topSelfTime(path.join(dir, file), Number(process.env.TOP ?? 30))) {
    process.stdout.write(`${(h.share * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(6)} ms  ${h.name}  ${h.where}\n`);
  }
}

main().catch(async (err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  await stopAll();
  process.exit(1);
});
