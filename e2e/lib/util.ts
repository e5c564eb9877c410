// Small helpers of the end-to-end test: bounded waits, HTTP with timeouts, free ports.

import { readFileSync } from 'node:fs';
import { type AddressInfo, type Server, createServer } from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Thrown by a probe to end a wait at once (e.g. the process being waited for exited). */
export class WaitAborted extends Error {}

/** Polls `probe` until it returns true; throws naming `what` (and the last error) after timeoutMs. */
export async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 250): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    try {
      if (await probe()) return Date.now() - started;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      last = (err as Error).message;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await sleep(intervalMs);
  }
}

/** fetch with a deadline; the body is read as text. */
export async function http(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const { timeoutMs = 15_000, ...rest } = init;
  const res = await fetch(url, { ...rest, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

export async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await http(url, { timeoutMs: 2000 });
    return r.status >= 200 && r.status < 300;
  } catch {
    return false;
  }
}

/**
 * n distinct free ports on 127.0.0.1, below the kernel's ephemeral range. The relay, the
 * forwarder and a workspace are restarted on their ports during the run; a port from the
 * ephemeral range could meanwhile become the local end of any outgoing connection on the
 * machine (or another program's port-0 listener), and the restart would fail.
 */
export async function freePorts(n: number): Promise<number[]> {
  let ephemeralStart = 32768;
  try {
    ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralStart;
  } catch {
    // not Linux: the common default
  }
  const lo = 10_000;
  const hi = Math.max(lo + 1000, ephemeralStart - 1);
  const held: Server[] = [];
  try {
    for (let attempt = 0; held.length < n && attempt < 500; attempt++) {
      const port = lo + Math.floor(Math.random() * (hi - lo));
      if (held.some((s) => (s.address() as AddressInfo).port === port)) continue;
      const s = await new Promise<Server | undefined>((ok) => {
        const srv = createServer();
        srv.once('error', () => ok(undefined));
        srv.listen(port, '127.0.0.1', () => ok(srv));
      });
      if (s) held.push(s);
    }
    if (held.length < n) throw new Error(`found only ${held.length} of ${n} free ports between ${lo} and ${hi}`);
    return held.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((ok) => s.close(ok))));
  }
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
