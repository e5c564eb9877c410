// A cheap remote-write sink, run as its own process so its CPU is never counted
// against the relay under test: reads each body, counts requests, bytes and samples
// (snappy decode + a tag scan), answers 204. GET /stats reports the counters,
// POST /reset zeroes them, POST /mode?status=503 makes every write answer that status
// (a dead upstream), /mode?status=204 heals it. Drain mode (bench/drain.ts):
// /mode?delay=300 answers each write 300 ms after its body arrived (a timer per request,
// so writes overlap as they would against a distant endpoint), /mode?order=1 also checks
// per-series timestamp order at arrival (lib/order.ts) and counts what is out of order.
// /mode?label=cluster counts the series that arrive without that label (lib/labels.ts;
// /mode?label= stops it): the label-injection cases check that every target added it.
// A write's samples count once it is answered; `lastAt` is when that last happened.
//   node dist/bench/sink.js [port]   → prints {"port":N} on stdout once listening

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countSamples } from '../shared/remote-write/count';
import { decompressBounded } from '../shared/remote-write/snappy';
import { seriesWithoutLabel } from './lib/labels';
import { scanSeriesOrder } from './lib/order';

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
  /** order mode: samples not newer than the last one seen for their series */
  outOfOrder: number;
  /** label mode: series that arrived without the label */
  unlabelled: number;
  /** writes received and not yet answered, now and at most (drain mode: the target's calls in flight) */
  inFlight: number;
  maxInFlight: number;
  /** writes answered 2xx (requests counts them on arrival) */
  answered: number;
  /** Date.now() when samples last grew (0: never) */
  lastAt: number;
}

function fresh(): SinkStats {
  return {
    requests: 0,
    bytes: 0,
    samples: 0,
    errors: 0,
    minSamplesPerRequest: 0,
    maxSamplesPerRequest: 0,
    refused: 0,
    outOfOrder: 0,
    unlabelled: 0,
    inFlight: 0,
    maxInFlight: 0,
    answered: 0,
    lastAt: 0,
  };
}

if (require.main === module) {
  let stats = fresh();
  let failStatus = 0;
  let delayMs = 0;
  let checkOrder = false;
  let requireLabel: Buffer | undefined;
  /** order mode: series key (hash of the raw label bytes) → newest timestamp seen */
  let newest = new Map<number, number>();
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url.startsWith('/stats')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    if (req.method === 'POST' && url.startsWith('/reset')) {
      stats = fresh();
      newest = new Map();
      req.resume();
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'POST' && url.startsWith('/mode')) {
      const q = new URL(url, 'http://x').searchParams;
      if (q.has('status')) {
        const status = Number(q.get('status'));
        failStatus = status >= 200 && status < 300 ? 0 : status;
      }
      if (q.has('delay')) delayMs = Math.max(0, Number(q.get('delay')) || 0);
      if (q.has('order')) checkOrder = q.get('order') === '1';
      if (q.has('label')) requireLabel = q.get('label') ? Buffer.from(q.get('label')!, 'utf8') : undefined;
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
      const counted = stats; // a /reset while this write waits must not count it in the new run
      counted.requests++;
      counted.bytes += size;
      if (++counted.inFlight > counted.maxInFlight) counted.maxInFlight = counted.inFlight;
      let n = 0;
      try {
        if (size > 0) {
          const raw = decompressBounded(body, 256 << 20);
          if (checkOrder) {
            const scan = scanSeriesOrder(raw, newest);
            n = scan.samples;
            counted.outOfOrder += scan.outOfOrder;
          } else {
            n = countSamples(raw);
          }
          if (requireLabel) counted.unlabelled += seriesWithoutLabel(raw, requireLabel).without;
        }
      } catch {
        counted.errors++;
      }
      const answer = (): void => {
        counted.inFlight--;
        counted.samples += n;
        counted.lastAt = Date.now();
        if (++counted.answered === 1 || n < counted.minSamplesPerRequest) counted.minSamplesPerRequest = n;
        if (n > counted.maxSamplesPerRequest) counted.maxSamplesPerRequest = n;
        res.writeHead(204).end();
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
