// Several calls in flight without a series ever overtaking itself, the shard count
// following the backlog, and Azure's time window: what a lane does when calls are slow,
// fail at random and data ages past MAX_SAMPLE_AGE. Scripted upstreams, no sockets; the
// upstream checks what Azure Monitor would otherwise drop silently: a call carrying a
// series while another call carrying it is still in flight, and a series' samples
// delivered older than ones it already delivered.

import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compressSync, uncompressSync } from 'snappy';
import type { Spool } from '../../local-proxy/spool';
import type { UpstreamOutcome, UpstreamRequest } from '../../local-proxy/upstream';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type Label, numberToBits } from '../../shared/remote-write/model/types';
import { snappyHeaderBytes } from '../../shared/remote-write/snappy';
import { waitFor } from './helpers';
import { sleep } from '../../dev/kit/wait';
import { metricValue } from '../../dev/kit/metrics-text';
import { laneKit } from './lane-kit';

const { openSpool, fill, startLane, recorder, fakeUpstream } = laneKit();

/** An upstream that records, per series, what Azure would drop: overlap in flight and samples out of order. */
function orderCheckingUpstream(answer: (req: UpstreamRequest, call: number) => UpstreamOutcome | Promise<UpstreamOutcome>) {
  const inflight = new Map<string, number>();
  const last = new Map<string, bigint>();
  const violations: string[] = [];
  const delivered = new Set<string>();
  let concurrent = 0;
  let maxConcurrent = 0;
  const up = fakeUpstream(async (req, call) => {
    const wr = decodeWriteRequest(uncompressSync(req.block, { asBuffer: true }) as Buffer);
    const keys = [...new Set(wr.timeseries.map((t) => JSON.stringify(t.labels)))];
    for (const k of keys) {
      if ((inflight.get(k) ?? 0) > 0) violations.push(`series ${k} in two calls at once`);
      inflight.set(k, (inflight.get(k) ?? 0) + 1);
    }
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    try {
      const o = await answer(req, call);
      if (o.kind === 'delivered') {
        for (const t of wr.timeseries) {
          const k = JSON.stringify(t.labels);
          for (const s of t.samples) {
            const prev = last.get(k);
            if (prev !== undefined && s.timestamp <= prev) violations.push(`series ${k}: ${s.timestamp} delivered after ${prev}`);
            last.set(k, s.timestamp);
            delivered.add(`${k}@${s.timestamp}`);
          }
        }
      }
      return o;
    } finally {
      concurrent--;
      for (const k of keys) inflight.set(k, inflight.get(k)! - 1);
    }
  });
  return { up, violations, delivered, maxConcurrent: () => maxConcurrent };
}

const ok = (): UpstreamOutcome => ({ kind: 'delivered', status: 204, bytes: 10 });

/** A backlog of 150 000 samples (calls of 1 000) for a lane of 1…6 shards against an upstream answering after callMs. */
async function slowBacklog(callMs: number) {
  const spool = openSpool();
  await fill(spool, 300);
  const check = orderCheckingUpstream(async () => {
    await sleep(callMs);
    return ok();
  });
  const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 1000, maxWaitMs: 5 }, undefined, { shards: { min: 1, max: 6 }, busy: () => 0 });
  return { spool, check, rec };
}

describe('lane: several calls in flight, per-series order', () => {
  it('random latency and failures with 4 shards: every series arrives in timestamp order, never in two calls at once, all of it', async () => {
    const spool = openSpool();
    // the same 50 series in every request: the worst case, each request touches every shard
    const gen = await fill(spool, 120, { series: 50, perSeries: 10 });
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const check = orderCheckingUpstream(async () => {
      await sleep(5 + rand() * 40);
      const r = rand();
      if (r < 0.1) return { kind: 'retry', status: 503, reason: 'HTTP 503', bytes: 0 };
      if (r < 0.15) return { kind: 'retry', reason: 'no answer within 20000 ms', bytes: 0 };
      return ok();
    });
    // a CPU to spare (the event loop idle): one stream of series is spread over the shards
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 2000, maxWaitMs: 5 }, { minMs: 5, maxMs: 20 }, { shards: { min: 4, max: 4 }, busy: () => 0 });
    startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0, 20_000);
    assert.deepEqual(check.violations, []);
    assert.ok(check.maxConcurrent() > 1, `calls in flight at once: ${check.maxConcurrent()}`);
    const want = new Set(gen.flatMap((g) => g.req.timeseries.flatMap((t) => t.samples.map((s) => `${JSON.stringify(t.labels)}@${s.timestamp}`))));
    assert.equal(check.delivered.size, want.size);
    for (const k of want) assert.ok(check.delivered.has(k), `missing ${k}`);
    assert.ok(metricValue(await rec.metricsText(), 'relay_proxy_retries_total', { lane: 'test', reason: 'http_5xx' }) > 0, 'failures were retried');
  });

  it('the shard count follows the backlog: a slow upstream and a large backlog get several calls in flight, up to MAX_SHARDS', async () => {
    // 200 µs of call per sample × 150 000 / 5 s × 1.3 ≈ 8 calls wanted: MAX_SHARDS (6)
    const { spool, check, rec } = await slowBacklog(200);
    const lane = startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    let most = 0;
    await waitFor(
      'all delivered',
      () => {
        most = Math.max(most, lane.stats().shards);
        return spool.reader('r').pendingBytes() === 0;
      },
      20_000,
    );
    assert.equal(most, 6, 'scaled to MAX_SHARDS');
    assert.ok(check.maxConcurrent() > 2 && check.maxConcurrent() <= 6, `calls in flight at once: ${check.maxConcurrent()}`);
    assert.deepEqual(check.violations, []);
  });

  it('payloads read back from segments are read into again once settled, and every sample still arrives, in order', async () => {
    const spool = openSpool();
    // ~11 MiB of 23 KiB records in 3 streams, read back from the segments into pooled buffers
    const written: { body: Buffer; keys: string[] }[] = [];
    for (let i = 0; i < 480; i++) {
      const r = streamRequest(i % 3, 1000 + Math.floor(i / 3) * 10, 150, true);
      await spool.append(r.body, r.keys.length, { minTime: r.t, maxTime: r.t });
      written.push(r);
    }
    let seed = 11;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const check = orderCheckingUpstream(async () => {
      await sleep(2 + rand() * 20);
      return rand() < 0.1 ? { kind: 'retry', status: 503, reason: 'HTTP 503', bytes: 0 } : ok();
    });
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 600, maxWaitMs: 5 }, { minMs: 5, maxMs: 20 }, { shards: { min: 4, max: 4 }, busy: () => 0 });
    // batches of 4 records: the lane reads ahead 2 per shard, so most reads can reuse a buffer
    startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0, 30_000);
    assert.deepEqual(check.violations, []);
    const want = written.flatMap((w) => w.keys);
    assert.equal(check.delivered.size, want.length);
    for (const k of want) assert.ok(check.delivered.has(k), `missing ${k}`);
    const { reused, allocated } = spool.readBuffers;
    assert.ok(allocated > 0, 'records were read back from the segments');
    assert.ok(reused > 2 * allocated, `${reused} reads into a buffer given back, ${allocated} into a new one`);
  });

  it("grows as soon as its first call has settled (the call's latency is then known), not a scale tick later", async () => {
    const { spool, check, rec } = await slowBacklog(100);
    const started = Date.now();
    const lane = startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    // the first call settles after ~100 ms; the next scale tick would come at 1 000 ms
    await waitFor('more than one shard', () => lane.stats().shards > 1, 5_000);
    const grewAfter = Date.now() - started;
    assert.ok(grewAfter < 900, `grew ${grewAfter} ms after the lane started`);
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0, 20_000);
    assert.deepEqual(check.violations, []);
  });

  it("a lane's first growth costs one call: what its one shard had queued is read again and spread over the new shards, every sample sent once", async () => {
    const { spool, check, rec } = await slowBacklog(150);
    // the calls made when the lane first changes its shard count (it logs the change as it makes it)
    let callsBeforeGrowth: number | undefined;
    const log = rec.deps.log;
    rec.deps.log = {
      ...log,
      info: (m, f) => {
        if (m === 'lane concurrency changed') callsBeforeGrowth ??= check.up.calls.length;
        log.info(m, f);
      },
    };
    const lane = startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    await waitFor('more than one shard', () => lane.stats().shards > 1, 5_000);
    // one shard read two batches ahead: sending them first would make three calls of 150 ms
    assert.equal(callsBeforeGrowth, 1, 'calls made before the lane grew');
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0, 20_000);
    assert.deepEqual(check.violations, []);
    assert.equal(metricValue(await rec.metricsText(), 'relay_proxy_sent_samples_total', { lane: 'test' }), 150_000, 'every sample sent once');
  });

  it("a backlog's last partial batch goes as soon as the backlog is read, not BATCH_MAX_WAIT later; a write read on its own still waits to be merged", async () => {
    const spool = openSpool();
    await fill(spool, 45); // 22 500 samples: two full batches of 10 000 and a tail of 2 500
    const check = orderCheckingUpstream(() => ok());
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 10_000, maxWaitMs: 4_000 }, undefined, { shards: { min: 1, max: 1 }, busy: () => 0 });
    const started = Date.now();
    startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    await waitFor('the backlog delivered', () => spool.reader('r').pendingBytes() === 0, 10_000);
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 2_000, `the backlog's tail went ${tookMs} ms after the lane started (BATCH_MAX_WAIT is 4 000 ms)`);
    assert.deepEqual(
      check.up.calls.map((c) => c.req.samples),
      [10_000, 10_000, 2_500],
    );
    // caught up: a fresh write alone is held for more to merge with
    await fill(spool, 1, { from: 45 });
    await sleep(1_000);
    assert.equal(check.up.calls.length, 3, 'a single fresh write waits for BATCH_MAX_WAIT');
    await waitFor('the fresh write delivered', () => spool.reader('r').pendingBytes() === 0, 10_000);
    assert.deepEqual(check.violations, []);
  });

  it('while the endpoint refuses (429 + Retry-After), one shard probes at a time: more calls in flight never mean more retries', async () => {
    const spool = openSpool();
    await fill(spool, 200, { series: 50, perSeries: 10 });
    const failUntil = Date.now() + 1500;
    let duringFailure = 0;
    const check = orderCheckingUpstream(async () => {
      const failing = Date.now() < failUntil;
      if (failing) duringFailure++;
      await sleep(20);
      return failing ? { kind: 'retry', status: 429, reason: 'HTTP 429', retryAfterSeconds: 0.3, bytes: 0 } : ok();
    });
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 2000, maxWaitMs: 5 }, { minMs: 5, maxMs: 20 }, { shards: { min: 4, max: 4 }, busy: () => 0 });
    startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0, 20_000);
    // the first 4 calls fail together; then one probe per Retry-After (0.3 s) for ~1.5 s
    assert.ok(duringFailure <= 4 + 7, `${duringFailure} calls while the endpoint refused`);
    assert.ok(check.maxConcurrent() > 1, 'several calls in flight once it accepts again');
    assert.deepEqual(check.violations, []);
  });

  it("senders whose streams keep their series apart (Prometheus's shards), a busy CPU: each request goes whole, as the sender's bytes, several calls in flight, every series in order", async () => {
    const spool = openSpool();
    // 5 streams of 30 series each, requests taking turns, every series rising from request to request
    const streams = 5;
    const written: { body: Buffer; keys: string[] }[] = [];
    for (let i = 0; i < 150; i++) {
      const r = streamRequest(i % streams, 1000 + Math.floor(i / streams) * 10, 30);
      await spool.append(r.body, r.keys.length, { minTime: r.t, maxTime: r.t });
      written.push(r);
    }
    const check = orderCheckingUpstream(async () => {
      await sleep(30);
      return ok();
    });
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 150, maxWaitMs: 5 }, undefined, { shards: { min: 4, max: 4 }, busy: () => 1 });
    startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0, 20_000);
    assert.deepEqual(check.violations, []);
    assert.ok(check.maxConcurrent() > 1, `calls in flight at once: ${check.maxConcurrent()}`);
    assert.equal(check.delivered.size, written.length * 30);
    // no request was split: each call is whole requests' snappy blocks merged, nothing re-encoded
    const elements = new Set(written.map((w) => w.body.subarray(snappyHeaderBytes(w.body)).toString('base64')));
    let whole = 0;
    for (const c of check.up.calls) {
      let rest = c.req.block.subarray(snappyHeaderBytes(c.req.block)).toString('base64');
      for (const e of elements) {
        if (!rest.includes(e)) continue;
        rest = rest.replace(e, '');
        whole++;
      }
    }
    assert.ok(whole >= written.length, `${whole} of ${written.length} requests went whole`);
  });

  it('ALLOW_OUT_OF_ORDER: whole requests spread over the shards (series may overlap in flight), nothing lost', async () => {
    const spool = openSpool();
    const gen = await fill(spool, 40);
    const check = orderCheckingUpstream(async () => {
      await sleep(20);
      return ok();
    });
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 1000, maxWaitMs: 5 }, undefined, { shards: { min: 4, max: 4 }, allowOutOfOrder: true });
    startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0, 20_000);
    assert.ok(check.maxConcurrent() > 1);
    // every call carried whole generated requests (the sender's own bytes)
    const bodies = new Set(gen.map((g) => g.body.toString('base64')));
    assert.ok(check.up.calls.every((c) => c.req.samples % 500 === 0));
    assert.ok(check.up.calls.some((c) => bodies.has(c.req.block.toString('base64')) || c.req.samples > 500));
    assert.equal(
      check.delivered.size,
      gen.reduce((n, g) => n + g.keys.length, 0),
    );
  });
});

/** One request of stream `stream`'s `series` series, one sample each at time t. */
/** `padded`: each series also carries a label of 128 hex digits of its own (records that snappy barely shrinks). */
function streamRequest(stream: number, t: number, series: number, padded = false): { body: Buffer; keys: string[]; t: number } {
  const timeseries = [];
  const keys: string[] = [];
  for (let i = 0; i < series; i++) {
    const labels: Label[] = [
      { name: '__name__', value: 'stream_test' },
      { name: 'instance', value: `s${stream}-h${i}` },
      ...(padded ? [{ name: 'pad', value: createHash('sha512').update(`${stream}-${i}`).digest('hex') }] : []),
    ];
    timeseries.push({ labels, samples: [{ value: numberToBits(t), timestamp: BigInt(t) }], exemplars: [], histograms: [] });
    keys.push(`${JSON.stringify(labels)}@${t}`);
  }
  return { body: compressSync(encodeWriteRequest({ timeseries, metadata: [] })), keys, t };
}

/** One request of `series` series with one sample each at time t (ms). */
function requestAt(t: number, series = 10): { body: Buffer; keys: string[] } {
  const timeseries = [];
  const keys: string[] = [];
  for (let i = 0; i < series; i++) {
    const labels: Label[] = [
      { name: '__name__', value: 'window_test' },
      { name: 'instance', value: `h${i}` },
    ];
    timeseries.push({ labels, samples: [{ value: numberToBits(t), timestamp: BigInt(t) }], exemplars: [], histograms: [] });
    keys.push(`${JSON.stringify(labels)}@${t}`);
  }
  return { body: compressSync(encodeWriteRequest({ timeseries, metadata: [] })), keys };
}

async function appendAt(spool: Spool, t: number, series = 10): Promise<string[]> {
  const r = requestAt(t, series);
  await spool.append(r.body, series, { minTime: t, maxTime: t });
  return r.keys;
}

describe("lane: Azure's time window (MAX_SAMPLE_AGE)", () => {
  it('an outage longer than the window: the too-old data is counted and never sent, everything newer arrives in order', async () => {
    const spool = openSpool();
    let down = true;
    const check = orderCheckingUpstream(async () => (down ? { kind: 'retry', reason: 'network error: ECONNREFUSED', bytes: 0 } : ok()));
    const tooOld: number[] = [];
    const rec = recorder(
      { maxBytes: 8 * 1024 * 1024, maxSamples: 200, maxWaitMs: 5 },
      { minMs: 20, maxMs: 50 },
      { shards: { min: 2, max: 4 }, maxSampleAgeMs: 1500, onTooOld: (n) => tooOld.push(n) },
    );
    startLane({ reader: spool.reader('r'), upstream: check.up }, rec);
    // a sender keeps writing every 50 ms through a 3 s outage (twice the window)
    const written: { t: number; keys: string[] }[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      const t = Date.now();
      written.push({ t, keys: await appendAt(spool, t) });
      await sleep(50);
    }
    const recovered = Date.now();
    down = false;
    for (let i = 0; i < 10; i++) {
      const t = Date.now();
      written.push({ t, keys: await appendAt(spool, t) });
      await sleep(50);
    }
    await waitFor('all settled', () => spool.reader('r').pendingBytes() === 0, 10_000);
    assert.deepEqual(check.violations, []);
    const all = written.flatMap((w) => w.keys);
    const dropped = metricValue(await rec.metricsText(), 'relay_proxy_dropped_samples_total', { reason: 'too_old' });
    assert.equal(check.delivered.size + dropped, all.length, 'every sample either delivered or counted too old, never both');
    assert.equal(
      tooOld.reduce((a, b) => a + b, 0),
      dropped,
      'the per-minute line gets the same count',
    );
    assert.ok(dropped > 0 && check.delivered.size > 0);
    // nothing older than the window at recovery was sent; everything written within it arrived
    for (const w of written) {
      const sent = w.keys.filter((k) => check.delivered.has(k)).length;
      if (w.t < recovered - 1500) assert.equal(sent, 0, `data from ${recovered - w.t} ms before recovery must not be sent`);
      if (w.t > recovered - 800) assert.equal(sent, w.keys.length, `data from ${recovered - w.t} ms before recovery must arrive`);
    }
    assert.ok(
      rec.logs.some((l) => l.includes('older than MAX_SAMPLE_AGE')),
      'a warning says so',
    );
  });
});
