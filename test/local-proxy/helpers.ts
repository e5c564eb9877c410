// Shared pieces of the forwarder tests: generated requests whose samples are unique
// (series, timestamp) pairs, posting to a forwarder, the set of what a workspace
// emulator holds, polling with the forwarder tests' defaults, and the forwarder as a child process.

import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { compressSync } from 'snappy';
import { type WorkspaceEmulator, seriesKey } from '../../dev/emulators/workspace';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type Label, type TimeSeries, type WriteRequest, numberToBits } from '../../shared/remote-write/model/types';
import { repoRoot } from '../../dev/kit/repo';
import { waitUntil } from '../../dev/kit/wait';
import { spawnNode, waitForOutput } from '../../dev/kit/child';

export const SAMPLES_PER_REQUEST = 500;

/**
 * Generated timestamps start at this run's start, not at a fixed date: the workspace
 * emulator drops samples more than 20 minutes old as Azure does, and these tests must see
 * Azure's out-of-order and duplicate rules on current data.
 */
const RUN_START_MS = BigInt(Date.now());

export interface Generated {
  body: Buffer;
  raw: Buffer;
  req: WriteRequest;
  /** "<seriesKey>@<timestamp>" for every sample */
  keys: string[];
}

/**
 * Request number n of a run: `series` series × `perSeries` samples, all timestamps unique
 * across requests of the same run (each series' samples in time order, like Prometheus).
 */
export function generateRequest(n: number, opts: { run?: string; series?: number; perSeries?: number; extraLabels?: Label[] } = {}): Generated {
  const series = opts.series ?? 50;
  const perSeries = opts.perSeries ?? SAMPLES_PER_REQUEST / series;
  const base = RUN_START_MS + BigInt(n) * BigInt(perSeries);
  const timeseries: TimeSeries[] = [];
  for (let s = 0; s < series; s++) {
    const labels: Label[] = [
      { name: '__name__', value: 'fwd_test_metric' },
      ...(opts.extraLabels ?? []),
      { name: 'instance', value: `host-${s}` },
      { name: 'job', value: opts.run ?? 'fwd' },
    ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const samples = [];
    for (let i = 0; i < perSeries; i++) samples.push({ value: numberToBits(n * 1000 + i), timestamp: base + BigInt(i) });
    timeseries.push({ labels, samples, exemplars: [], histograms: [] });
  }
  const req: WriteRequest = { timeseries, metadata: [] };
  const raw = encodeWriteRequest(req);
  return { body: compressSync(raw), raw, req, keys: sampleKeys(req) };
}

export function sampleKeys(req: WriteRequest, addLabels: Label[] = []): string[] {
  const out: string[] = [];
  for (const ts of req.timeseries) {
    const key = seriesKey([...ts.labels, ...addLabels]);
    for (const s of ts.samples) out.push(`${key}@${s.timestamp}`);
  }
  return out;
}

/** Every (series, timestamp) the emulated workspace holds. */
export function receivedKeys(ws: WorkspaceEmulator): Set<string> {
  const out = new Set<string>();
  for (const [key, s] of ws.series) for (const t of s.samples.keys()) out.add(`${key}@${t}`);
  return out;
}

export const WRITE_HEADERS = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf',
  'x-prometheus-remote-write-version': '0.1.0',
};

export async function postWrite(
  baseUrl: string,
  body: Buffer,
  headers: Record<string, string> = WRITE_HEADERS,
): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${baseUrl}/api/v1/write`, { method: 'POST', body, headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Polls until check() is true (every 25 ms, 10 s at most by default); throws naming `what`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  await waitUntil(what, check, timeoutMs, everyMs);
}

// ---- the forwarder as a child process ----

export const mainJs = path.join(repoRoot, 'dist/local-proxy/main.js');

export interface ChildForwarder {
  child: ChildProcess;
  url: string;
  output(): string;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts dist/local-proxy/main.js with env; resolves once it logs that it listens. */
export async function spawnForwarder(env: Record<string, string>, timeoutMs = 15_000): Promise<ChildForwarder> {
  const c = spawnNode(mainJs, { LISTENING_PORT: '0', LISTENING_HOST: '127.0.0.1', ...env });
  const [, port] = await waitForOutput(c, /msg="forwarder listening" port=(\d+)/, timeoutMs, 'forwarder start');
  return {
    child: c.child,
    url: `http://127.0.0.1:${port}`,
    output: c.output,
    exited: c.exited,
    kill: (signal) => c.child.kill(signal),
  };
}

/** Runs main.js to its exit (for start-up errors); SIGKILLed after timeoutMs. */
export async function runForwarderToExit(env: Record<string, string>, timeoutMs = 15_000): Promise<{ code: number | string; output: string }> {
  const c = spawnNode(mainJs, env);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const code = await c.exited;
  clearTimeout(timer);
  return { code, output: c.output() };
}
