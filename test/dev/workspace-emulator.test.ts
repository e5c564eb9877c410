// The workspace emulator is as unkind as Azure's ingestion endpoint ("Monitor metrics
// ingestion" docs): samples too old, too new, duplicate or out of order for their series
// are answered 2xx and then dropped, counted by reason; every-sample-duplicate is 422;
// past the request rate 429. In memory mode and in proxy mode (forwarded unchanged, counted).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import { compressSync } from 'snappy';
import { type Timeline, admit, ingest, judge, rateWindow } from '../../dev/emulators/ingest-rules';
import { type WorkspaceEmulator, type WorkspaceEmulatorOptions, seriesKey, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { emptyHistogram } from '../../shared/remote-write/model/decode';
import { type Histogram, type Label, type TimeSeries, numberToBits } from '../../shared/remote-write/model/types';
import { REMOTE_WRITE_HEADERS } from '../../dev/kit/relay-harness';

const MIN = 60_000;
const UP: Label[] = [
  { name: '__name__', value: 'up' },
  { name: 'job', value: 'a' },
];
const OTHER: Label[] = [
  { name: '__name__', value: 'up' },
  { name: 'job', value: 'b' },
];

function series(labels: Label[], times: number[], histTimes: number[] = []): TimeSeries {
  const histograms: Histogram[] = histTimes.map((t) => ({
    ...emptyHistogram(),
    count: { kind: 'int', value: 1n },
    sum: numberToBits(1),
    timestamp: BigInt(t),
  }));
  return { labels, samples: times.map((t, i) => ({ value: numberToBits(i), timestamp: BigInt(t) })), exemplars: [], histograms };
}

function body(...ts: TimeSeries[]): Buffer {
  return compressSync(encodeWriteRequest({ timeseries: ts, metadata: [] }));
}

async function post(emu: WorkspaceEmulator, b: Buffer): Promise<{ status: number; text: string; retryAfter: string | null }> {
  const res = await fetch(emu.url, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body: b });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get('retry-after') };
}

function storedTimes(emu: WorkspaceEmulator, labels: Label[]): number[] {
  return [...(emu.series.get(seriesKey(labels))?.samples.keys() ?? [])].map(Number).sort((a, b) => a - b);
}

const emulators: WorkspaceEmulator[] = [];
async function emulator(opts: WorkspaceEmulatorOptions = {}): Promise<{ emu: WorkspaceEmulator; warnings: string[] }> {
  const warnings: string[] = [];
  const emu = await startWorkspaceEmulator({ warn: (m) => warnings.push(m), ...opts });
  emulators.push(emu);
  return { emu, warnings };
}
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()));
});

describe('memory mode', () => {
  test('each drop reason: answered 200, then dropped, counted, not stored, warned once per reason', async () => {
    const { emu, warnings } = await emulator();
    const now = Date.now();
    assert.equal((await post(emu, body(series(UP, [now - 5000, now - 3000])))).status, 200);
    const res = await post(
      emu,
      body(
        series(UP, [
          now - 21 * MIN, // too old
          now + 21 * MIN, // too new
          now - 3000, // duplicate of the newest
          now - 5000, // duplicate of an older one
          now - 4000, // out of order: older than the newest ingested, never seen
          now - 1000, // ingested
        ]),
      ),
    );
    assert.equal(res.status, 200, 'Azure answers success before it judges the samples');
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 1, tooOld: 1, tooNew: 1, duplicate: 2 });
    assert.deepEqual(storedTimes(emu, UP), [now - 5000, now - 3000, now - 1000]);
    assert.equal(emu.summary().samples, 3);
    assert.equal(emu.summary().ingested, 3);
    assert.equal(emu.summary().accepted, 2);

    assert.equal((await post(emu, body(series(UP, [now - 21 * MIN, now - 2000])))).status, 200);
    assert.equal(emu.summary().dropped.tooOld, 2);
    assert.equal(emu.summary().dropped.outOfOrder, 2);
    assert.equal(warnings.length, 4, warnings.join('\n'));
    for (const name of ['dropped.outOfOrder', 'dropped.tooOld', 'dropped.tooNew', 'dropped.duplicate']) {
      assert.equal(warnings.filter((w) => w.includes(name)).length, 1, name);
    }
  });

  test("the defaults are Azure's 20 minutes either side", async () => {
    const { emu } = await emulator();
    const now = Date.now();
    await post(emu, body(series(UP, [now - 19 * MIN, now + 19 * MIN]), series(OTHER, [now - 21 * MIN, now + 21 * MIN])));
    assert.deepEqual(storedTimes(emu, UP), [now - 19 * MIN, now + 19 * MIN]);
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 0, tooOld: 1, tooNew: 1, duplicate: 0 });
    assert.equal(emu.series.has(seriesKey(OTHER)), false, 'a series with nothing ingested is not stored');
  });

  test('maxAgeMs / maxFutureMs: Infinity keep any timestamp (order and duplicate rules still hold)', async () => {
    const { emu } = await emulator({ maxAgeMs: Infinity, maxFutureMs: Infinity });
    assert.equal((await post(emu, body(series(UP, [1000, 2000, 1500, 2000])))).status, 200);
    assert.deepEqual(storedTimes(emu, UP), [1000, 2000]);
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 1, tooOld: 0, tooNew: 0, duplicate: 1 });
  });

  test('several entries of one series in a request (merged batches) are judged in request order; labels in any order are one series', async () => {
    const { emu } = await emulator();
    const now = Date.now();
    const reversed = [...UP].reverse();
    const res = await post(
      emu,
      body(series(UP, [now - 3000]), series(OTHER, [now - 9000]), series(reversed, [now - 4000, now - 2000]), series(UP, [now - 2000, now - 1000])),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(storedTimes(emu, UP), [now - 3000, now - 2000, now - 1000]);
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 1, tooOld: 0, tooNew: 0, duplicate: 1 });
  });

  test('histogram samples are judged on the same timeline', async () => {
    const { emu } = await emulator();
    const now = Date.now();
    await post(emu, body(series(UP, [], [now - 2000, now - 1000])));
    await post(emu, body(series(UP, [], [now - 1500, now - 25 * MIN, now])));
    assert.equal(emu.summary().histograms, 3);
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 1, tooOld: 1, tooNew: 0, duplicate: 0 });
  });

  test('422 only when every sample was a duplicate; nothing changes then', async () => {
    const { emu } = await emulator();
    const now = Date.now();
    const first = body(series(UP, [now - 2000, now - 1000]));
    assert.equal((await post(emu, first)).status, 200);
    const again = await post(emu, first);
    assert.equal(again.status, 422);
    assert.match(again.text, /duplicate/);
    assert.equal(emu.summary().dropped.duplicate, 2);
    // A duplicate within one request counts too.
    assert.equal((await post(emu, body(series(UP, [now - 1000]), series(UP, [now - 1000])))).status, 422);
    // Duplicates with one new sample: 200, the duplicates dropped.
    assert.equal((await post(emu, body(series(UP, [now - 2000, now - 1000, now - 500])))).status, 200);
    assert.deepEqual(storedTimes(emu, UP), [now - 2000, now - 1000, now - 500]);
    assert.equal(emu.summary().dropped.duplicate, 6);
    // Too old, out of order or duplicate, none ingested, yet not all duplicates: 200.
    assert.equal((await post(emu, body(series(UP, [now - 30 * MIN, now - 700, now - 500])))).status, 200);
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 1, tooOld: 1, tooNew: 0, duplicate: 7 });
    assert.deepEqual(
      emu.requests.map((r) => r.status),
      [200, 422, 422, 200, 200],
    );
  });

  test('429 past maxRequestsPerMinute, without Retry-After; throttled requests are not ingested', async () => {
    const { emu } = await emulator({ maxRequestsPerMinute: 3 });
    const now = Date.now();
    for (let i = 0; i < 3; i++) assert.equal((await post(emu, body(series(UP, [now - 10_000 + i])))).status, 200);
    const throttled = await post(emu, body(series(UP, [now])));
    assert.equal(throttled.status, 429);
    assert.equal(throttled.retryAfter, null, 'Azure documents no Retry-After');
    assert.equal((await post(emu, body(series(UP, [now])))).status, 429);
    assert.equal(emu.summary().throttled, 2);
    assert.equal(emu.summary().samples, 3);
    assert.equal(emu.summary().accepted, 3);
  });

  test('the default rate is 15 000 requests per minute', async () => {
    // Not by sending 15 000 requests: the sliding window itself, at its default limit.
    const r = rateWindow(15_000);
    const t0 = 1_000_000;
    for (let i = 0; i < 15_000; i++) assert.ok(admit(r, t0 + i));
    assert.equal(admit(r, t0 + 15_000), false);
    assert.equal(admit(r, t0 + 59_999), false, 'still inside the 60 s of the first');
    assert.ok(admit(r, t0 + 60_000), 'the first request left the window');
    assert.equal(admit(r, t0 + 60_000), false);
    const { emu } = await emulator();
    for (let i = 0; i < 20; i++) assert.equal((await post(emu, body(series(UP, [Date.now() + i])))).status, 200);
    assert.equal(emu.summary().throttled, 0);
  });

  test('GET /emulator/summary and /emulator/metrics show the counts', async () => {
    const { emu } = await emulator({ maxRequestsPerMinute: 2 });
    const now = Date.now();
    await post(emu, body(series(UP, [now - 2000, now - 3000, now - 21 * MIN])));
    await post(emu, body(series(UP, [now - 2000])));
    await post(emu, body(series(UP, [now])));
    const base = new URL(emu.url).origin;
    const summary = (await (await fetch(`${base}/emulator/summary`)).json()) as { dropped: Record<string, number>; throttled: number; ingested: number };
    assert.deepEqual(summary.dropped, { outOfOrder: 1, tooOld: 1, tooNew: 0, duplicate: 1 });
    assert.equal(summary.throttled, 1);
    assert.equal(summary.ingested, 1);
    const res = await fetch(`${base}/emulator/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const line of [
      'workspace_emulator_dropped_samples_total{reason="out_of_order"} 1',
      'workspace_emulator_dropped_samples_total{reason="too_old"} 1',
      'workspace_emulator_dropped_samples_total{reason="too_new"} 0',
      'workspace_emulator_dropped_samples_total{reason="duplicate"} 1',
      'workspace_emulator_throttled_requests_total 1',
      'workspace_emulator_ingested_samples_total 1',
    ]) {
      assert.ok(text.split('\n').includes(line), `${line}\n${text}`);
    }
  });

  test('continueFrom: a workspace down then up keeps what it ingested and its counts', async () => {
    const { emu } = await emulator();
    const now = Date.now();
    await post(emu, body(series(UP, [now - 2000, now - 3000])));
    await emu.close();
    const { emu: again } = await emulator({ continueFrom: emu });
    assert.equal((await post(again, body(series(UP, [now - 2500, now - 1000])))).status, 200);
    assert.deepEqual(storedTimes(again, UP), [now - 2000, now - 1000]);
    assert.equal(again.summary().dropped.outOfOrder, 2);
    assert.equal(again.summary().requests, 1);
  });
});

describe('proxy mode', () => {
  let store: Server;
  let received: Buffer[] = [];
  let storeStatus = 204;
  const storeUrl = (): string => `http://127.0.0.1:${(store.address() as AddressInfo).port}/api/v1/write`;
  const started = new Promise<void>((ok) => {
    store = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(Buffer.concat(chunks));
        res.writeHead(storeStatus);
        res.end(storeStatus >= 400 ? 'store says no' : '');
      });
    });
    store.listen(0, '127.0.0.1', ok);
  });
  after(() => new Promise<void>((ok) => store.close(() => ok())));

  test('the body is forwarded unchanged and the store answers; what Azure would drop is counted, nothing kept in memory', async () => {
    await started;
    received = [];
    storeStatus = 204;
    const { emu } = await emulator({ forwardTo: storeUrl() });
    const now = Date.now();
    const bodies = [
      body(series(UP, [now - 2000, now - 1000]), series(OTHER, [now - 1000])),
      body(series(UP, [now - 1500, now - 1000, now - 22 * MIN, now + 22 * MIN, now]), series(OTHER, [now - 500])),
      body(series(OTHER, [now - 500])), // every sample a duplicate: the store's answer stands
    ];
    for (const b of bodies) assert.equal((await post(emu, b)).status, 200);
    assert.deepEqual(received.map(sha), bodies.map(sha), 'forwarded byte for byte');
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 1, tooOld: 1, tooNew: 1, duplicate: 2 });
    assert.equal(emu.summary().ingested, 5);
    assert.equal(emu.series.size, 0, 'proxy mode stores nothing');
    assert.equal(
      emu.requests.reduce((n, r) => n + r.samples, 0),
      10,
    );
  });

  test('a request the store refuses is passed through and not judged', async () => {
    await started;
    received = [];
    const { emu } = await emulator({ forwardTo: storeUrl() });
    const now = Date.now();
    storeStatus = 500;
    const refused = await post(emu, body(series(UP, [now - 1000])));
    assert.equal(refused.status, 500);
    storeStatus = 204;
    assert.equal((await post(emu, body(series(UP, [now - 2000])))).status, 200);
    assert.equal(received.length, 2);
    assert.deepEqual(emu.summary().dropped, { outOfOrder: 0, tooOld: 0, tooNew: 0, duplicate: 0 }, 'the refused sample was never ingested');
    assert.equal(emu.summary().ingested, 1);
  });

  test('proxy mode throttles too', async () => {
    await started;
    received = [];
    storeStatus = 204;
    const { emu } = await emulator({ forwardTo: storeUrl(), maxRequestsPerMinute: 1 });
    assert.equal((await post(emu, body(series(UP, [Date.now()])))).status, 200);
    assert.equal((await post(emu, body(series(UP, [Date.now() + 1])))).status, 429);
    assert.equal(received.length, 1, 'a throttled request is not forwarded');
    assert.equal(emu.summary().throttled, 1);
  });
});

describe('ingest rules', () => {
  const w = { maxAgeMs: 20 * MIN, maxFutureMs: 20 * MIN };

  test('a timeline keeps only what the window still needs, and always its newest', () => {
    const t: Timeline = { times: [] };
    const start = 10 * 60 * MIN;
    // One sample a second for an hour: 3 600 ingested, about 1 200 still inside the window.
    for (let i = 0; i < 3600; i++) {
      const now = start + i * 1000;
      assert.equal(judge(t, now, now, w), undefined);
      ingest(t, now, now, w);
    }
    const now = start + 3599 * 1000;
    assert.ok(t.times.length <= 2 * 1200 + 16, `${t.times.length} timestamps kept`);
    assert.equal(t.times.at(-1), now);
    assert.equal(judge(t, now - 5000, now, w), 'duplicate');
    assert.equal(judge(t, now - 5500, now, w), 'outOfOrder');
    assert.equal(judge(t, now - 19 * MIN, now, w), 'duplicate', 'still remembered inside the window');
    assert.equal(judge(t, now - 21 * MIN, now, w), 'tooOld');
    // Quiet for longer than the window: the newest is still known.
    const later = now + 60 * MIN;
    ingest(t, later, later, w);
    assert.equal(judge(t, later, later + 1, w), 'duplicate');
  });
});

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
