// The relay reuses request bodies (shared/buffers/pool.ts) as soon as it has answered,
// so a send must not settle while its socket may still read the body: an endpoint that
// answers before it has read the whole body (an early 401) must never receive bytes
// written into the buffer after the send settled. The same holds for a send the fan-out
// cuts off (X-Relay-Straggler-Timeout) while it is still writing the body.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { endpointId } from '../../shared/fanout/endpoints';
import { fanout, makePart } from '../../shared/fanout/fanout';
import { sendToEndpoint } from '../../shared/fanout/send';

let server: Server | undefined;
const servers: Server[] = [];
after(() => {
  for (const s of [server, ...servers]) {
    s?.closeAllConnections();
    s?.close();
  }
});

async function listen(s: Server): Promise<string> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/write`;
}

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
  const outcome = await sendToEndpoint({ url, id: endpointId(url), host: '127.0.0.1' }, [makePart(Buffer.alloc(0), 1, body)], {
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

test('a straggler cut off mid-body: the fan-out returns only once its request no longer reads the body', async () => {
  const body = randomBytes(64 * 1024 * 1024);
  // healthy: reads the whole body, then answers
  const healthyUrl = await listen(
    createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    }),
  );
  // hanging: takes the headers, reads nothing until told to, never answers
  let arrive!: (req: IncomingMessage) => void;
  const arrived = new Promise<IncomingMessage>((r) => (arrive = r));
  const hangingUrl = await listen(
    createServer((req) => {
      req.pause();
      arrive(req);
    }),
  );
  const endpoint = (url: string): Parameters<typeof fanout>[0][number] => ({ url, id: endpointId(url), host: new URL(url).host });

  const original = Buffer.from(body);
  const started = Date.now();
  const outcomes = await fanout(
    [endpoint(healthyUrl), endpoint(hangingUrl)],
    { raw: Buffer.alloc(0), rawLength: 0, original: body, samples: 1 },
    {
      maxUpstreamBytes: 1 << 30,
      timeoutMs: 20_000,
      userAgent: 'test',
      stragglerTimeoutMs: 200,
    },
  );
  const took = Date.now() - started;
  body.fill(0); // what a reused buffer would hold by now
  assert.equal(outcomes[0].kind, 'delivered');
  assert.equal(outcomes[1].kind, 'retryable');
  assert.match((outcomes[1] as { reason: string }).reason, /no answer within 200 ms after the other endpoints delivered/);
  assert.ok(took < 10_000, `cut off after ${took} ms, not at the 20 s timeout`);

  const req = await arrived;
  const received: Buffer[] = [];
  await new Promise<void>((done) => {
    req.on('data', (c: Buffer) => received.push(c));
    req.on('end', done);
    req.on('close', done);
    req.on('error', done);
    req.resume(); // now read whatever reached the endpoint, up to the client's close
  });
  const got = Buffer.concat(received);
  assert.ok(got.length > 0, 'the endpoint got part of the body');
  assert.ok(got.length < original.length, `the body was cut off mid-way (${got.length} of ${original.length} bytes)`);
  assert.ok(got.equals(original.subarray(0, got.length)), 'the endpoint got only the original bytes, none written after the fan-out returned');
});
