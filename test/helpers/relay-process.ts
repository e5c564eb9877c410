// A relay in a process of its own (the dev host, dist/dev/relay-host.js): two of them on
// one Azurite stand in for two instances of the Function app, sharing nothing but storage.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../dev/kit/repo';

export interface RelayProcess {
  /** base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startRelayProcess(env: Record<string, string>): Promise<RelayProcess> {
  // an empty working directory: no local.settings.json is read
  const cwd = mkdtempSync(join(tmpdir(), 'relay-proc-'));
  const child: ChildProcess = spawn(process.execPath, [join(repoRoot, 'dist/dev/relay-host.js')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', PORT: '0', PUBLISH_LOG_INTERVAL: '1h', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const until = Date.now() + 15_000;
  let url: string | undefined;
  while (!url) {
    url = /url="?(http:\/\/127\.0\.0\.1:\d+)\/api\/v1\/write/.exec(out)?.[1];
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`relay process did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
