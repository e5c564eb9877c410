// The upstream clients: what the relay client sends (snappy remote-write 1.0, function
// key, Easy Auth bearer token, X-Relay-Only-Endpoints) and how every answer is classified;
// the direct client's token failures. A loopback server stands in for the relay.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uncompressSync } from 'snappy';
import { type UpstreamRequest, classifyRelayAnswer, createDirectUpstream, createRelayUpstream } from '../../local-proxy/upstream';
import { TokenError, type TokenSource } from '../../shared/identity/token-source';
import { generateRequest } from './helpers';

const req = (n: number): UpstreamRequest => {
  const g = generateRequest(n);
  return { block: g.body, bytes: g.raw.length, samples: 500 };
};

interface Seen {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let server: Server;
let url: string;
const seen: Seen[] = [];
type Reply = { status: number; headers?: Record<string, string>; body?: string; delayMs?: number };
let reply: Reply = { status: 204 };
/** answers for the next requests, before `reply` */
const replies: Reply[] = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks) });
      const r = replies.shift() ?? reply;
      setTimeout(() => {
        res.writeHead(r.status, r.headers ?? {});
        res.end(r.body ?? '');
      }, r.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const tokens = (token: string | Error): TokenSource => ({
  getToken: async () => {
    if (token instanceof Error) throw token;
    return token;
  },
  state: () => ({ hasToken: true, requests: 0 }),
  close: () => undefined,
});

describe('relay client', () => {
  it('sends remote-write 1.0 with the function key, the bearer token and X-Relay-Only-Endpoints', async () => {
    reply = { status: 204 };
    seen.length = 0;
    const g = generateRequest(1);
    const up = createRelayUpstream({ url, host: 'relay.test', key: 'the-key', tokens: tokens('the-token'), timeoutMs: 2000 });
    const o = await up.send({ block: g.body, bytes: g.raw.length, samples: 500, onlyEndpoints: 'bbbbbbbbbb' });
    assert.equal(o.kind, 'delivered');
    const h = seen[0].headers;
    assert.equal(h['content-encoding'], 'snappy');
    assert.equal(h['content-type'], 'application/x-protobuf');
    assert.equal(h['x-prometheus-remote-write-version'], '0.1.0');
    assert.equal(h['x-functions-key'], 'the-key');
    assert.equal(h.authorization, 'Bearer the-token');
    assert.equal(h['x-relay-only-endpoints'], 'bbbbbbbbbb');
    assert.match(String(h['user-agent']), /^prometheus-azure-relay-forwarder\//);
    assert.ok(seen[0].body.equals(g.body), 'the block goes as it is, not recompressed');
    assert.deepEqual(uncompressSync(seen[0].body, { asBuffer: true }), g.raw);
  });

  it('no token yet → retry with the auth hint, nothing sent', async () => {
    seen.length = 0;
    const up = createRelayUpstream({ url, host: 'relay.test', tokens: tokens(new TokenError('no identity')), timeoutMs: 2000 });
    const o = await up.send(req(1));
    assert.equal(o.kind, 'retry');
    assert.equal(o.kind === 'retry' && o.hint, 'auth');
    assert.equal(seen.length, 0);
  });

  it('a relay that does not answer within UPSTREAM_TIMEOUT → retry', async () => {
    reply = { status: 204, delayMs: 500 };
    const up = createRelayUpstream({ url, host: 'relay.test', timeoutMs: 100 });
    const o = await up.send(req(1));
    assert.equal(o.kind, 'retry');
    assert.match(o.kind === 'retry' ? o.reason : '', /no answer within 100 ms/);
    reply = { status: 204 };
  });

  it('classifies every answer', () => {
    const h = (o: Record<string, string> = {}): Headers => new Headers(o);
    const cases: [number, Headers, string, string | undefined][] = [
      [204, h(), 'delivered', undefined],
      [200, h(), 'delivered', undefined],
      [422, h(), 'delivered', undefined],
      [400, h(), 'rejected', undefined],
      [413, h(), 'too_large', undefined],
      [503, h({ 'x-relay-failed-endpoints': 'aaaaaaaaaa,bbbbbbbbbb', 'retry-after': '7' }), 'partial', undefined],
      [503, h({ 'x-relay-failed-endpoints': '../../etc' }), 'retry', undefined],
      [503, h(), 'retry', undefined],
      [500, h(), 'retry', undefined],
      [429, h({ 'retry-after': '3' }), 'retry', undefined],
      [401, h(), 'retry', 'auth'],
      [403, h(), 'retry', 'auth'],
      [404, h(), 'retry', 'config'],
      [415, h(), 'retry', 'config'],
    ];
    for (const [status, headers, kind, hint] of cases) {
      const o = classifyRelayAnswer(status, headers, '', 0);
      assert.equal(o.kind, kind, `${status}`);
      if (o.kind === 'retry') assert.equal(o.hint, hint, `${status}`);
    }
    const p = classifyRelayAnswer(503, h({ 'x-relay-failed-endpoints': 'aaaaaaaaaa, bbbbbbbbbb', 'retry-after': '7' }), '', 0);
    assert.deepEqual(p.kind === 'partial' && [p.failed, p.retryAfterSeconds], [['aaaaaaaaaa', 'bbbbbbbbbb'], 7]);
    const r = classifyRelayAnswer(429, h({ 'retry-after': '3' }), 'slow down', 0);
    assert.deepEqual(r.kind === 'retry' && [r.retryAfterSeconds, r.reason], [3, 'HTTP 429: slow down']);
  });
});

describe('direct client', () => {
  it('no token → retry with the auth hint; 401 from the workspace → auth hint; 404 → config hint', async () => {
    const endpoint = { id: 'abcdefabcd', url, host: '127.0.0.1' };
    let o = await createDirectUpstream({ endpoint, tokens: tokens(new TokenError('no identity')), timeoutMs: 1000, maxUpstreamBytes: 1 << 20 }).send(req(1));
    assert.deepEqual(o.kind === 'retry' && o.hint, 'auth');
    reply = { status: 401, body: 'bad token' };
    o = await createDirectUpstream({ endpoint, tokens: tokens('t'), timeoutMs: 1000, maxUpstreamBytes: 1 << 20 }).send(req(1));
    assert.deepEqual(o.kind === 'retry' && [o.hint, o.status], ['auth', 401]);
    reply = { status: 404 };
    o = await createDirectUpstream({ endpoint, timeoutMs: 1000, maxUpstreamBytes: 1 << 20 }).send(req(1));
    assert.deepEqual(o.kind === 'retry' && o.hint, 'config');
    reply = { status: 204 };
  });
});

describe('direct client: the batch block', () => {
  const endpoint = (): { id: string; url: string; host: string } => ({ id: 'abcdefabcd', url, host: '127.0.0.1' });
  const decoded = (b: Buffer): Buffer => uncompressSync(b, { asBuffer: true }) as Buffer;

  it('within MAX_UPSTREAM_BYTES: the block is the body, byte for byte', async () => {
    reply = { status: 204 };
    seen.length = 0;
    const g = generateRequest(3);
    const o = await createDirectUpstream({ endpoint: endpoint(), timeoutMs: 2000, maxUpstreamBytes: 1 << 20 }).send({
      block: g.body,
      bytes: g.raw.length,
      samples: 500,
    });
    assert.equal(o.kind, 'delivered');
    assert.equal(seen.length, 1);
    assert.ok(seen[0].body.equals(g.body));
  });

  it('over MAX_UPSTREAM_BYTES: split on series boundaries into several requests, all of it sent in order', async () => {
    reply = { status: 204 };
    seen.length = 0;
    const g = generateRequest(4);
    const max = Math.ceil(g.raw.length / 3);
    const o = await createDirectUpstream({ endpoint: endpoint(), timeoutMs: 2000, maxUpstreamBytes: max }).send({
      block: g.body,
      bytes: g.raw.length,
      samples: 500,
    });
    assert.equal(o.kind, 'delivered');
    assert.ok(seen.length >= 3, `${seen.length} requests`);
    for (const s of seen) assert.ok(decoded(s.body).length <= max);
    assert.ok(Buffer.concat(seen.map((s) => decoded(s.body))).equals(g.raw));
  });

  it('413 from the endpoint: the block is decompressed and its halves sent', async () => {
    reply = { status: 204 };
    replies.push({ status: 413 });
    seen.length = 0;
    const g = generateRequest(5);
    const o = await createDirectUpstream({ endpoint: endpoint(), timeoutMs: 2000, maxUpstreamBytes: 1 << 20 }).send({
      block: g.body,
      bytes: g.raw.length,
      samples: 500,
    });
    assert.equal(o.kind, 'delivered');
    assert.equal(seen.length, 3);
    assert.ok(Buffer.concat(seen.slice(1).map((s) => decoded(s.body))).equals(g.raw));
  });
});
