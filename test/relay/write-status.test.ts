// Every way a write can be refused, with its status code and a one-line reason, and
// the guarantee that nothing of a refused request leaves the relay.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { compressSync } from 'snappy';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import type { WriteRequest } from '../../shared/remote-write/model/types';
import { type Harness, REMOTE_WRITE_HEADERS, startHarness } from '../../dev/kit/relay-harness';
import { loadFixtures } from '../../dev/kit/repo';
import { rawLen, rawVarintField } from '../../dev/kit/random-write-request';

const fixture = loadFixtures()[0];

function request(labels: [string, string][], value = 1n): Buffer {
  const req: WriteRequest = {
    timeseries: [
      { labels: labels.map(([name, value]) => ({ name, value })), samples: [{ value, timestamp: 1_700_000_000_000n }], exemplars: [], histograms: [] },
    ],
    metadata: [],
  };
  return compressSync(encodeWriteRequest(req));
}

describe('write refusals', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ workspaces: 2, env: { MAX_BODY_BYTES: '64KiB', MAX_DECODED_BYTES: '256KiB' } });
  });
  after(() => h.close());
  beforeEach(() => {
    for (const ws of h.workspaces) ws.requests.length = 0;
  });

  const nothingForwarded = (): void => {
    for (const ws of h.workspaces) assert.equal(ws.requests.length, 0, `${ws.name} received a refused request`);
  };

  const cases: { name: string; headers?: Record<string, string>; body?: Buffer; status: number; reason: RegExp }[] = [
    {
      name: 'zstd (vmagent ≥ 1.116 tries it first)',
      headers: { ...REMOTE_WRITE_HEADERS, 'content-encoding': 'zstd' },
      status: 415,
      reason: /Content-Encoding "zstd" is not supported/,
    },
    { name: 'gzip', headers: { ...REMOTE_WRITE_HEADERS, 'content-encoding': 'gzip' }, status: 415, reason: /Content-Encoding "gzip"/ },
    { name: 'no Content-Encoding', headers: { 'content-type': 'application/x-protobuf' }, status: 415, reason: /Content-Encoding header is missing/ },
    {
      name: 'JSON content type',
      headers: { ...REMOTE_WRITE_HEADERS, 'content-type': 'application/json' },
      status: 415,
      reason: /Content-Type "application\/json" is not supported/,
    },
    {
      name: 'a proto= neither 1.0 nor 2.0',
      headers: { ...REMOTE_WRITE_HEADERS, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' },
      status: 415,
      reason:
        /"io\.prometheus\.write\.v3\.Request" is not supported: send proto=prometheus\.WriteRequest \(1\.0\) or proto=io\.prometheus\.write\.v2\.Request \(2\.0\)/,
    },
    {
      name: 'a 1.0 body labelled 2.0 (fields 1-3 are reserved in 2.0)',
      headers: { ...REMOTE_WRITE_HEADERS, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' },
      status: 400,
      reason: /no symbols and no timeseries, only unknown fields \(a remote-write 1\.0 body sent as 2\.0\?\)/,
    },
    {
      name: 'declared Content-Length over MAX_BODY_BYTES',
      headers: { ...REMOTE_WRITE_HEADERS, 'content-length': String(10 * 1024 * 1024) },
      status: 413,
      reason: /Content-Length 10485760 is over MAX_BODY_BYTES=65536/,
    },
    { name: 'body over MAX_BODY_BYTES', body: Buffer.alloc(65 * 1024, 1), status: 413, reason: /over MAX_BODY_BYTES=65536/ },
    // A snappy header declaring 1 GiB: refused before any allocation.
    {
      name: 'snappy header over MAX_DECODED_BYTES',
      body: Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04, 0x00]),
      status: 413,
      reason: /declares 1073741824 decoded bytes, over MAX_DECODED_BYTES=262144/,
    },
    { name: 'not snappy', body: Buffer.from('this is not snappy at all, just text'), status: 400, reason: /not valid snappy|different length/ },
    { name: 'snappy of garbage protobuf', body: compressSync(Buffer.from([0x0a, 0x05, 0x01])), status: 400, reason: /malformed protobuf WriteRequest/ },
    {
      name: 'only unknown fields (a 2.0 body labelled 1.0)',
      body: compressSync(Buffer.concat([rawLen(4, 'symbol'), rawVarintField(6, 3)])),
      status: 400,
      reason: /no timeseries and no metadata/,
    },
    { name: 'series without __name__', body: request([['job', 'x']]), status: 400, reason: /series has no __name__ label: \{job="x"\}/ },
    {
      name: 'invalid label name',
      body: request([
        ['__name__', 'up'],
        ['bad-name', 'x'],
      ]),
      status: 400,
      reason: /label name "bad-name" does not match.*up\{/,
    },
    {
      name: 'duplicate label name',
      body: request([
        ['__name__', 'up'],
        ['job', 'a'],
        ['job', 'b'],
      ]),
      status: 400,
      reason: /duplicate label name "job"/,
    },
  ];

  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const res = await h.write(c.body ?? fixture.body, c.headers);
      assert.equal(res.status, c.status, res.body);
      assert.match(res.body, c.reason);
      assert.ok(!res.body.includes('\n'), 'the reason is one line');
      nothingForwarded();
    });
  }

  test('a request with one bad series among good ones is refused whole', async () => {
    const good = encodeWriteRequest({
      timeseries: [{ labels: [{ name: '__name__', value: 'ok' }], samples: [{ value: 0n, timestamp: 1n }], exemplars: [], histograms: [] }],
      metadata: [],
    });
    const bad = encodeWriteRequest({
      timeseries: [{ labels: [{ name: '__name__', value: '0bad' }], samples: [{ value: 0n, timestamp: 1n }], exemplars: [], histograms: [] }],
      metadata: [],
    });
    const res = await h.write(compressSync(Buffer.concat([good, bad, good])));
    assert.equal(res.status, 400);
    assert.match(res.body, /metric name "0bad" does not match/);
    nothingForwarded();
  });

  test('an empty body is a no-op 204 and sends nothing', async () => {
    const res = await h.write(Buffer.alloc(0));
    assert.equal(res.status, 204);
    nothingForwarded();
  });

  // the forwarder answers it the same (test/local-proxy/accept.test.ts): nothing to send
  test('a body that decompresses to nothing (an empty WriteRequest) is a no-op 204 and sends nothing', async () => {
    const res = await h.write(compressSync(Buffer.alloc(0)));
    assert.equal(res.status, 204, res.body);
    nothingForwarded();
  });

  test('unsorted labels are sorted, not refused', async () => {
    const res = await h.write(
      request([
        ['zone', 'a'],
        ['__name__', 'up'],
        ['job', 'x'],
      ]),
    );
    assert.equal(res.status, 204, res.body);
    for (const ws of h.workspaces) {
      const s = [...ws.series.values()].find((x) => x.labels.some((l) => l.value === 'up'));
      assert.deepEqual(
        s?.labels.map((l) => l.name),
        ['__name__', 'job', 'zone'],
      );
    }
  });

  test('Content-Type with ;proto=prometheus.WriteRequest is accepted', async () => {
    const res = await h.write(fixture.body, { ...REMOTE_WRITE_HEADERS, 'content-type': 'application/x-protobuf;proto=prometheus.WriteRequest' });
    assert.equal(res.status, 204, res.body);
  });

  test('health is 200 with endpoints, identity, cluster and limits, and no secret or URL path', async () => {
    const res = await h.health();
    assert.equal(res.status, 200);
    const body = res.body as Record<string, unknown>;
    const text = JSON.stringify(body);
    assert.deepEqual(
      (body.endpoints as { host: string }[]).map((e) => e.host),
      h.workspaces.map((w) => new URL(w.url).host),
    );
    assert.equal((body.identity as { type: string }).type, 'systemAssigned');
    assert.equal((body.limits as { maxLabelsPerSeries: number }).maxLabelsPerSeries, 63);
    assert.ok(!text.includes('dataCollectionRules'), 'no ingestion path (it names the DCR)');
    assert.ok(!text.includes(h.identity.header), 'no IDENTITY_HEADER');
  });
});
