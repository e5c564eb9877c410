// A relay in a process of its own (the dev host, dist/dev/relay-host.js): two of them on
// one Azurite stand in for two instances of the Function app, sharing nothing but storage.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnNode, waitForOutput } from '../../dev/kit/child';
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
  const c = spawnNode(join(repoRoot, 'dist/dev/relay-host.js'), { PORT: '0', PUBLISH_LOG_INTERVAL: '1h', ...env }, cwd);
  let url: string;
  try {
    [, url] = await waitForOutput(c, /url="?(http:\/\/127\.0\.0\.1:\d+)\/api\/v1\/write/, 15_000, 'relay process start');
  } catch (err) {
    c.child.kill('SIGKILL');
    throw err;
  }
  return {
    url,
    output: c.output,
    stop: async () => {
      if (c.child.exitCode === null) c.child.kill('SIGKILL');
      await c.exited;
    },
  };
}
