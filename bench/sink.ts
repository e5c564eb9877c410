// A cheap remote-write sink, run as its own process so its CPU is never counted
// against the relay under test: reads each body, counts requests, bytes and samples
// (snappy decode + a tag scan), answers 204. GET /stats reports the counters,
// POST /reset zeroes them, POST /mode?status=503 makes every write answer that status
// (a dead upstream), /mode?status=204 heals it.
//   node dist/bench/sink.js [port]   → prints {"port":N} on stdout once listening

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countSamples } from '../shared/remote-write/count';
import { decompressBounded } from '../shared/remote-write/snappy';

export interface SinkStats {
  requests: number;
  bytes: number;
  samples: number;
  errors: number;
  /** fewest / most samples one write carried */
  minSamplesPerRequest: number;
  maxSamplesPerRequest: number;
  /** answered with a failure status (dead-upstream mode) */
  refused: number;
}

function fresh(): SinkStats {
  return { requests: 0, bytes: 0, samples: 0, errors: 0, minSamplesPerRequest: 0, maxSamplesPerRequest: 0, refused: 0 };
}

if (require.main === module) {
  let stats = fresh();
  let failStatus = 0;
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url.startsWith('/stats')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    if (req.method === 'POST' && url.startsWith('/reset')) {
      stats = fresh();
      req.resume();
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'POST' && url.startsWith('/mode')) {
      const status = Number(new URL(url, 'http://x').searchParams.get('status') ?? 204);
      failStatus = status >= 200 && status < 300 ? 0 : status;
      req.resume();
      res.writeHead(204).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    req.on('end', () => {
      if (failStatus !== 0) {
        stats.refused++;
        res.writeHead(failStatus, { 'retry-after': '1' }).end('sink refuses (bench: dead upstream)');
        return;
      }
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      stats.requests++;
      stats.bytes += size;
      try {
        const n = size === 0 ? 0 : countSamples(decompressBounded(body, 256 << 20));
        stats.samples += n;
        if (stats.requests === 1 || n < stats.minSamplesPerRequest) stats.minSamplesPerRequest = n;
        if (n > stats.maxSamplesPerRequest) stats.maxSamplesPerRequest = n;
      } catch {
        stats.errors++;
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
