// The relay reuses request bodies (shared/buffers/pool.ts) as soon as it has answered,
// so a send must not settle while its socket may still read the body: an endpoint that
// answers before it has read the whole body (an early 401) must never receive bytes
// written into the buffer after the send settled.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { endpointId } from '../../shared/fanout/endpoints';
import { makePart } from '../../shared/fanout/fanout';
import { sendToEndpoint } from '../../shared/fanout/send';

let server: Server | undefined;
after(() => {
  server?.closeAllConnections();
  server?.close();
});

test('an early answer settles the send only once the socket is done with the body', async () => {
  const body = randomBytes(16 * 1024 * 1024);
  const received: Buffer[] = [];
  let done!: () => void;
  const serverDone = new Promise<void>((r) => (done = r));
  server = createServer((req, res) => {
    // answer at once, then read the body slowly: the client's writes stay pending meanwhile
    req.on('data', (c: Buffer) => {
      received.push(c);
      req.pause();
      setTimeout(() => req.resume(), 5);
    });
    req.on('end', done);
    req.on('close', done);
    res.writeHead(401, { 'content-type': 'text/plain' }).end('no token\n');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/write`;
  const outcome = await sendToEndpoint({ url, id: endpointId(url), host: '127.0.0.1' } as Parameters<typeof sendToEndpoint>[0], [makePart(Buffer.alloc(0), 1, body)], {
    timeoutMs: 10_000,
    userAgent: 'test',
    makePart: (raw) => makePart(raw),
  });
  assert.equal(outcome.kind, 'retryable');
  assert.equal((outcome as { status?: number }).status, 401);
  const original = Buffer.from(body);
  body.fill(0); // what a reused buffer would hold by now
  await serverDone;
  const got = Buffer.concat(received);
  assert.ok(got.length > 0, 'the endpoint read part of the body');
  assert.ok(got.equals(original.subarray(0, got.length)), 'the endpoint got only the original bytes, none written after the send settled');
});
