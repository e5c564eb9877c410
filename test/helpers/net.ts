import { createServer } from 'node:net';

/** A loopback port nothing listens on right now (for "unreachable" and "down" upstreams). */
export function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}
