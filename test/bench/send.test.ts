// The fan-out's node:http client (it replaced fetch() for CPU, bench/README.md): the
// cases fetch used to handle for us — a connection cut in the middle of an answer, a
// kept-alive connection the server closed while idle, long error bodies, Retry-After.

import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makePart } from '../../shared/fanout/fanout';
import { sendToEndpoint } from '../../shared/fanout/send';
import type { Endpoint } from '../../shared/fanout/endpoints';
import { rawLabel, rawSample, rawSeries } from '../../dev/kit/random-write-request';
import { compress as snappyCompress, decompress as snappyDecompress, mergeSnappyBlocks, snappyBlockParts } from '../../shared/remote-write/snappy';

const raw = rawSeries(rawLabel('__name__', 'up'), rawSample(0x3ff0000000000000n, 1n));
const opts = { timeoutMs: 2000, userAgent: 'test', makePart: (r: Buffer) => makePart(r) };

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((ok) => {
    if (!server) return ok();
    server.closeAllConnections();
    server.close(() => ok());
  });
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Endpoint> {
  server = createServer(handler);
  await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', () => ok()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write?x=1`;
  return { id: 'e1', url, host: '127.0.0.1' };
}

describe('fan-out HTTP client', () => {
  it('sends the remote-write headers and the body, reads the path with its query', async () => {
    let seen: { headers: IncomingMessage['headers']; url?: string; body: Buffer } | undefined;
    const ep = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { headers: req.headers, url: req.url, body: Buffer.concat(chunks) };
        res.writeHead(204).end();
      });
    });
    const part = makePart(raw);
    const o = await sendToEndpoint(ep, [part], { ...opts, token: 'tok' });
    assert.equal(o.kind, 'delivered');
    assert.equal(seen!.url, '/api/v1/write?x=1');
    assert.equal(seen!.headers['content-encoding'], 'snappy');
    assert.equal(seen!.headers['content-type'], 'application/x-protobuf');
    assert.equal(seen!.headers['x-prometheus-remote-write-version'], '0.1.0');
    assert.equal(seen!.headers['user-agent'], 'test');
    assert.equal(seen!.headers.authorization, 'Bearer tok');
    assert.ok(seen!.body.equals(part.compressed() as Buffer));
  });

  it('a body in pieces (a merged batch, not joined) arrives as their concatenation, with its length', async () => {
    let seen: { length?: string; body: Buffer } | undefined;
    const ep = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { length: req.headers['content-length'], body: Buffer.concat(chunks) };
        res.writeHead(204).end();
      });
    });
    const blocks = [snappyCompress(raw), snappyCompress(Buffer.concat([raw, raw]))];
    const pieces = snappyBlockParts(blocks);
    assert.ok(pieces.length > 1);
    const o = await sendToEndpoint(ep, [makePart(() => Buffer.concat([raw, raw, raw]), 3, pieces)], opts);
    assert.equal(o.kind, 'delivered');
    assert.equal(seen!.length, String(Buffer.concat(pieces).length));
    assert.ok(seen!.body.equals(mergeSnappyBlocks(blocks)));
    assert.ok(snappyDecompress(seen!.body).equals(Buffer.concat([raw, raw, raw])));
  });

  it('a connection cut in the middle of the answer is a retryable network error, not a timeout', async () => {
    const ep = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-length': '1000' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 20);
      });
    });
    const started = Date.now();
    const o = await sendToEndpoint(ep, [makePart(raw)], opts);
    assert.equal(o.kind, 'retryable');
    assert.match(o.kind === 'retryable' ? o.reason : '', /network error/);
    assert.ok(Date.now() - started < 1500, 'answered before the deadline');
  });

  it('a kept-alive connection the server closed while idle is replaced without failing the write', async () => {
    let requests = 0;
    const ep = await serve((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    assert.equal((await sendToEndpoint(ep, [makePart(raw)], opts)).kind, 'delivered');
    server!.closeIdleConnections(); // the server drops the idle kept-alive connection
    await new Promise((ok) => setTimeout(ok, 20));
    assert.equal((await sendToEndpoint(ep, [makePart(raw)], opts)).kind, 'delivered');
    assert.equal(requests, 2);
  });

  it('keeps a bounded, one-line reason from a long error body and honours Retry-After', async () => {
    const ep = await serve((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503, { 'retry-after': '9' }).end(`busy\n${'x'.repeat(100_000)}`));
    });
    const o = await sendToEndpoint(ep, [makePart(raw)], opts);
    assert.equal(o.kind, 'retryable');
    if (o.kind !== 'retryable') return;
    assert.equal(o.retryAfterSeconds, 9);
    assert.ok(o.reason.startsWith('HTTP 503: busy x'));
    assert.ok(o.reason.length <= 320 && !o.reason.includes('\n'));
  });
});
