// Child processes of a bench run: sinks, our relay host, vmagent. Every child is
// tracked and stopped by its own pid when the run ends (or fails).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { stopChild } from '../../dev/kit/child';
import { freePort } from '../../dev/kit/ports';
import { tempDir as makeTempDir } from '../../dev/kit/temp-dir';
import * as os from 'node:os';
import * as path from 'node:path';
import { sleep } from './stats';
import { RELAY_NODE_FLAGS } from '../../functions/node-flags';
import type { SinkStats } from '../sink';
import { BENCH_CLUSTER } from './payloads';

const children = new Set<ChildProcess>();
/** temporary directories of children, removed when they stop or at stopAll */
const tempDirs = new Set<string>();

export function tempDir(prefix: string): string {
  const { dir } = makeTempDir(prefix);
  tempDirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export const distRoot = path.resolve(__dirname, '../..'); // dist/
export const repoRoot = path.resolve(distRoot, '..');

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** stderr seen so far (capped), for error messages */
  stderr(): string;
  stop(): Promise<void>;
}

export function track(name: string, proc: ChildProcess): Child {
  if (proc.pid === undefined) throw new Error(`${name}: could not start`);
  children.add(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (err.length < 20_000) err += d.toString();
  });
  return {
    name,
    proc,
    pid: proc.pid,
    stderr: () => err,
    async stop() {
      await stopChild(proc, 5_000);
      children.delete(proc);
    },
  };
}

/** Stops every child still running (by pid); for exit paths. */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((p) => stopChild(p, 3_000)));
  children.clear();
  for (const dir of tempDirs) removeDir(dir);
}

process.on('exit', () => {
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
});

export { freePort };

/** A minimal environment: no telemetry connection strings or settings leak into children. */
export function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir(), LANG: 'C.UTF-8' };
  return { ...env, ...extra };
}

export async function waitForHttp(url: string, timeoutMs: number, what: string, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && child.proc.exitCode !== null) throw new Error(`${what} exited with code ${child.proc.exitCode}: ${child.stderr().slice(-2000)}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${what} did not come up at ${url} within ${timeoutMs} ms (${last})${child ? `: ${child.stderr().slice(-2000)}` : ''}`);
}

// ---- sinks ----

export interface Sink extends Child {
  url: string;
  writeUrl: string;
}

export async function startSink(): Promise<Sink> {
  const proc = spawn(process.execPath, [path.join(distRoot, 'bench/sink.js'), '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: baseEnv({}) });
  const child = track('sink', proc);
  const port = await new Promise<number>((ok, fail) => {
    let out = '';
    const t = setTimeout(() => fail(new Error(`sink did not start: ${child.stderr()}`)), 10_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        ok((JSON.parse(out.slice(0, nl)) as { port: number }).port);
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return { ...child, url, writeUrl: `${url}/api/v1/write` };
}

/** POSTs a control request (`/reset`, `/mode?…`: bench/sink.ts) to every sink. */
export async function sinkCall(sinks: readonly Sink[], pathAndQuery: string): Promise<void> {
  await Promise.all(
    sinks.map(async (s) => {
      const res = await fetch(`${s.url}${pathAndQuery}`, { method: 'POST' });
      await res.arrayBuffer();
    }),
  );
}

/** A sink's counters (GET /stats). */
export async function sinkStats(sink: Sink): Promise<SinkStats> {
  const res = await fetch(`${sink.url}/stats`);
  return (await res.json()) as SinkStats;
}

// ---- our relay: node dist/dev/relay-host.js ----

export interface RelayProcess extends Child {
  writeUrl: string;
}

export async function startRelay(opts: {
  ingestionUrls: string[];
  cluster: string;
  nodeArgs?: string[];
  cwd?: string;
  entry?: string;
  env?: Record<string, string>;
  /** false: without the flags the relay ships with (an A/B of them, bench/side-by-side.ts) */
  shippedFlags?: boolean;
}): Promise<RelayProcess> {
  const port = await freePort();
  const cwd = opts.cwd ?? tempDir('bench-relay-'); // no local.settings.json here
  const env = baseEnv({
    PORT: String(port),
    INGESTION_URL: opts.ingestionUrls.join(','),
    IDENTITY_TYPE: 'none',
    CLUSTER: opts.cluster,
    PUBLISH_LOG_INTERVAL: '1h',
    ...opts.env,
  });
  // the flags the relay ships with (functions/node-flags.ts), also for the bare and stage hosts
  const proc = spawn(
    process.execPath,
    [...(opts.shippedFlags === false ? [] : RELAY_NODE_FLAGS), ...(opts.nodeArgs ?? []), opts.entry ?? path.join(distRoot, 'dev/relay-host.js')],
    {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
    },
  );
  const child = track('relay', proc);
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await child.stop();
    if (opts.cwd === undefined) removeDir(cwd);
  };
  try {
    await waitForHttp(`${url}/api/health`, 15_000, 'relay host', child);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...child, writeUrl: `${url}/api/v1/write`, stop };
}

// ---- vmagent ----

export const VMAGENT_INSTALL = 'apt-get update && apt-get install -y --no-install-recommends victoria-metrics';

/** Path of vmagent, installing Debian's victoria-metrics package when root; undefined with a reason otherwise. */
export function findVmagent(log: (s: string) => void): { path?: string; version?: string; reason?: string } {
  const candidates = ['/usr/bin/vmagent', '/usr/local/bin/vmagent'];
  let found = candidates.find((p) => fs.existsSync(p));
  if (!found && process.getuid?.() === 0) {
    log(`vmagent not found: installing it (${VMAGENT_INSTALL})`);
    try {
      execFileSync('sh', ['-c', `${VMAGENT_INSTALL} >/dev/null`], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 240_000 });
    } catch (err) {
      return { reason: `installing vmagent failed: ${(err as Error).message.split('\n')[0]}` };
    }
    found = candidates.find((p) => fs.existsSync(p));
  }
  if (!found) return { reason: `vmagent is not installed; as root run: ${VMAGENT_INSTALL}` };
  let version = '';
  try {
    version = execFileSync(found, ['-version'], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n')[0];
  } catch {
    // Debian's build prints nothing; the package version below says it
  }
  if (version === '') {
    try {
      version = `victoria-metrics ${execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'victoria-metrics'], { encoding: 'utf8', timeout: 10_000 }).trim()} (Debian package)`;
    } catch {
      version = 'unknown version';
    }
  }
  return { path: found, version: `${found}, ${version}` };
}

export interface VmagentProcess extends Child {
  writeUrl: string;
  metricsUrl: string;
  tmpDir: string;
}

/** vmagent adding the bench's cluster label to every series, as the relay does in the label-injection cases */
export const VMAGENT_ADDS_CLUSTER: readonly string[] = [`-remoteWrite.label=cluster=${BENCH_CLUSTER}`];

export async function startVmagent(bin: string, remoteWriteUrls: string[], extraArgs: readonly string[] = []): Promise<VmagentProcess> {
  const port = await freePort();
  const tmpDir = tempDir('bench-vmagent-');
  const args = [
    `-httpListenAddr=127.0.0.1:${port}`,
    ...remoteWriteUrls.map((u) => `-remoteWrite.url=${u}`),
    `-remoteWrite.tmpDataPath=${tmpDir}`,
    '-loggerLevel=WARN',
    ...extraArgs,
  ];
  const proc = spawn(bin, args, { cwd: tmpDir, stdio: ['ignore', 'ignore', 'pipe'], env: baseEnv({}) });
  const child = track('vmagent', proc);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, 15_000, 'vmagent', child);
  return {
    ...child,
    writeUrl: `${url}/api/v1/write`,
    metricsUrl: `${url}/metrics`,
    tmpDir,
    async stop() {
      await child.stop();
      removeDir(tmpDir);
    },
  };
}

/** Sums the values of every series of a metric family in Prometheus text exposition. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) sum += v;
    }
  }
  return sum;
}
