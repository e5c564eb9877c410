// Profiles our relay (or forwarder) process under the bench load: `node dist/bench/profile.js
// [pass-through|label injection|relabel|v2] [samples] [host|bare|forwarder]`. Starts the sinks
// and the relay host (or the bare node:http host, bench/relay-bare.ts, or the forwarder)
// under `node --cpu-prof`, sends the synthetic payloads, stops the process and prints the
// functions with the most self time. `relabel` gives the process bench/relabel.ts's rules
// and one sink, as the relabel case does; `v2` sends the pass-through writes as remote-write
// 2.0. `PROFILE_SINKS=1`: one sink (the one-workspace cases). The .cpuprofile stays in $PROFILE_DIR
// (default: <tmp>/relay-bench-profiles; open it in Chrome DevTools or VS Code).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resetSinks, runRep } from './compare';
import { FIXED_PAYLOAD_ENV, startForwarder } from './forwarder';
import { withRelabelledCounts, writeTypicalRules } from './relabel';
import { type Child, removeDir, tempDir } from './lib/processes';
import { topSelfTime } from './lib/cpuprofile';
import { BENCH_CLUSTER, asRemoteWrite2, syntheticPayloads } from './lib/payloads';
import { startRelay, startSink, stopAll } from './lib/processes';
import { asError } from '../shared/errors';

async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'pass-through';
  const samples = Number(process.argv[3] ?? 1_000_000);
  const host = process.argv[4] ?? 'host';
  const dir = process.env.PROFILE_DIR ?? path.join(os.tmpdir(), 'relay-bench-profiles');
  fs.mkdirSync(dir, { recursive: true });
  const relabel = mode === 'relabel';
  const sinks = relabel || process.env.PROFILE_SINKS === '1' ? [await startSink()] : [await startSink(), await startSink()];
  const synthetic = syntheticPayloads({ requests: 8, series: 2000, withCluster: mode !== 'label injection' });
  const set = relabel ? withRelabelledCounts(synthetic) : mode === 'v2' ? asRemoteWrite2(synthetic) : synthetic;
  const rulesDir = tempDir('bench-profile-');
  const env: Record<string, string> = relabel ? { RELABEL_CONFIG_FILE: writeTypicalRules(rulesDir) } : {};
  const before = new Set(fs.readdirSync(dir));
  const profArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const target: Child & { writeUrl: string } =
    host === 'forwarder'
      ? await startForwarder(
          sinks.map((s) => s.writeUrl),
          { ...FIXED_PAYLOAD_ENV, ...env },
          profArgs,
        )
      : await startRelay({
          ingestionUrls: sinks.map((s) => s.writeUrl),
          cluster: BENCH_CLUSTER,
          nodeArgs: profArgs,
          entry: path.join(__dirname, host === 'bare' ? 'relay-bare.js' : 'relay-entry.js'),
          env,
        });
  const rep = await runRep({ name: host, pid: target.pid, writeUrl: target.writeUrl }, set, sinks, { samples, concurrency: 6 });
  process.stdout.write(`${mode} (${host}): ${rep.usPerSample.toFixed(3)} CPU-µs/sample over ${rep.samples} samples\n`);
  await resetSinks(sinks);
  await target.stop();
  await stopAll();
  removeDir(rulesDir);
  const file = fs.readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile written');
  process.stdout.write(`profile: ${path.join(dir, file)}\n`);
  for (const h of topSelfTime(path.join(dir, file), Number(process.env.TOP ?? 30))) {
    process.stdout.write(`${(h.share * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(6)} ms  ${h.name}  ${h.where}\n`);
  }
}

main().catch(async (err: unknown) => {
  const e = asError(err);
  process.stderr.write(`${e.stack ?? e.message}\n`);
  await stopAll();
  process.exit(1);
});
