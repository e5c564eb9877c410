import { readFileSync } from 'node:fs';
import { type AddressInfo, type Server, createServer } from 'node:net';

/** A loopback port nothing listens on right now (emulators, test peers, "down" upstreams). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/**
 * n distinct free ports on 127.0.0.1, below the kernel's ephemeral range. For peers that are
 * restarted on their ports during a run: a port from the ephemeral range could meanwhile
 * become the local end of any outgoing connection on the machine (or another program's
 * port-0 listener), and the restart would fail.
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
