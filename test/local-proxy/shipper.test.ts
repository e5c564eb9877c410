// Delivery lanes against scripted upstreams (no sockets): retries with backoff and
// Retry-After, 400 isolated to the refused request and counted, 413 split until it fits,
// relay partial failures parked on lanes and retried only to their endpoint, loud auth
// logging, lanes that do not wait for each other, the catch-up limiter, and stop.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uncompressSync } from 'snappy';
import { TokenBucket } from '../../local-proxy/pacing';
import { waitFor } from './helpers';
import { metricValue } from '../../dev/kit/metrics-text';
import { laneKit } from './lane-kit';
import type { UpstreamOutcome } from '../../local-proxy/upstream';

const kit = laneKit();
const { openSpool, fill, keysOf, startLane, recorder, fakeUpstream, ok } = kit;

describe('lane: delivery and retries', () => {
  it('merges requests into batches, delivers them in order and commits the cursor', async () => {
    const spool = openSpool();
    const gen = await fill(spool, 100);
    const up = fakeUpstream(ok);
    // batches formed by size, not cut short by BATCH_MAX_WAIT on a loaded machine
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 20_000, maxWaitMs: 500 });
    startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('all delivered', () => spool.reader('r').pendingBytes() === 0);
    assert.deepEqual(
      up.calls.map((c) => c.req.samples),
      [20000, 20000, 10000],
    );
    assert.deepEqual(
      keysOf(up.delivered),
      gen.flatMap((g) => g.keys),
    );
    const text = await rec.metricsText();
    assert.equal(metricValue(text, 'relay_proxy_sent_samples_total'), 50_000);
    assert.equal(metricValue(text, 'relay_proxy_sent_batches_total'), 3);
    assert.deepEqual(rec.published, ['all', 'all', 'all']);
  });

  it('retries network errors, timeouts and 5xx with growing backoff; nothing is lost or skipped', async () => {
    const spool = openSpool();
    const gen = await fill(spool, 3);
    const failures: UpstreamOutcome[] = [
      { kind: 'retry', reason: 'network error: ECONNREFUSED', bytes: 0 },
      { kind: 'retry', reason: 'no answer within 20000 ms', bytes: 0 },
      { kind: 'retry', status: 503, reason: 'HTTP 503', bytes: 0 },
      { kind: 'retry', status: 500, reason: 'HTTP 500', bytes: 0 },
    ];
    const up = fakeUpstream((_r, n) => failures[n - 1] ?? ok());
    const rec = recorder(undefined, { minMs: 20, maxMs: 1000 });
    startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('delivered', () => spool.reader('r').pendingBytes() === 0);
    assert.equal(up.calls.length, 5);
    const gaps = up.calls.slice(1).map((c, i) => c.at - up.calls[i].at);
    for (const [i, g] of gaps.entries()) assert.ok(g >= 10 * 2 ** i - 2, `gap ${i} was ${g} ms: ${gaps.join(',')}`);
    assert.deepEqual(
      keysOf(up.delivered),
      gen.flatMap((g) => g.keys),
    );
    const text = await rec.metricsText();
    assert.equal(metricValue(text, 'relay_proxy_retries_total', { reason: 'network' }), 2);
    assert.equal(metricValue(text, 'relay_proxy_retries_total', { reason: 'http_5xx' }), 2);
    assert.ok(rec.logs.some((l) => l.includes('upstream accepting data again')));
  });

  it('429 with Retry-After: waits that long before the next attempt', async () => {
    const spool = openSpool();
    await fill(spool, 1);
    const up = fakeUpstream((_r, n) => (n === 1 ? { kind: 'retry', status: 429, reason: 'HTTP 429', retryAfterSeconds: 1, bytes: 0 } : ok()));
    const rec = recorder();
    startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('delivered', () => up.calls.length === 2, 5000);
    const gap = up.calls[1].at - up.calls[0].at;
    assert.ok(gap >= 1000 && gap < 1400, `retried after ${gap} ms`);
    assert.equal(metricValue(await rec.metricsText(), 'relay_proxy_retries_total', { reason: 'http_429' }), 1);
  });

  it('401/403 are retried and logged loudly with what to check', async () => {
    const spool = openSpool();
    await fill(spool, 1);
    const up = fakeUpstream((_r, n) => (n <= 2 ? { kind: 'retry', status: 403, reason: 'HTTP 403: token audience wrong', hint: 'auth', bytes: 0 } : ok()));
    const rec = recorder();
    startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('delivered', () => spool.reader('r').pendingBytes() === 0);
    const loud = rec.logs.filter((l) => l.startsWith('error') && l.includes('THE-AUTH-HINT'));
    assert.ok(loud.length >= 1, rec.logs.join('\n'));
    assert.ok(loud[0].includes('403'));
  });
});

describe('lane: data upstream refuses', () => {
  it('400: bisects the batch, drops only the refused request (logged, counted), delivers the rest', async () => {
    const spool = openSpool();
    const good1 = await fill(spool, 10, { run: 'good' });
    const bad = await fill(spool, 1, { run: 'refused-by-upstream', from: 10 });
    const good2 = await fill(spool, 9, { run: 'good', from: 11 });
    const marker = Buffer.from('refused-by-upstream');
    const up = fakeUpstream((req) =>
      (uncompressSync(req.block, { asBuffer: true }) as Buffer).includes(marker)
        ? { kind: 'rejected', status: 400, reason: 'HTTP 400: out of order sample', bytes: 0 }
        : ok(),
    );
    const rec = recorder();
    startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('settled', () => spool.reader('r').pendingBytes() === 0);
    assert.deepEqual(keysOf(up.delivered).sort(), [...good1, ...good2].flatMap((g) => g.keys).sort());
    assert.ok(up.calls.length <= 2 + 2 * Math.ceil(Math.log2(20)), `${up.calls.length} calls`);
    const text = await rec.metricsText();
    assert.equal(metricValue(text, 'relay_proxy_dropped_samples_total', { reason: 'upstream_rejected' }), 500);
    assert.equal(metricValue(text, 'relay_proxy_dropped_requests_total', { reason: 'upstream_rejected' }), 1);
    assert.ok(
      rec.logs.some((l) => l.startsWith('warn') && l.includes('dropped') && l.includes('out of order')),
      rec.logs.join('\n'),
    );
    assert.equal(bad.length, 1);
  });

  it('413: splits by request, then by series, until every part fits; all of it arrives', async () => {
    const spool = openSpool();
    const gen = await fill(spool, 6);
    const limit = 8_000; // bytes: below one request (~30 KB), above one series
    const up = fakeUpstream((req) => (req.bytes > limit ? { kind: 'too_large', status: 413, reason: 'HTTP 413', bytes: 0 } : ok()));
    const rec = recorder();
    startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('settled', () => spool.reader('r').pendingBytes() === 0);
    assert.ok(up.delivered.every((b) => b.length <= limit));
    assert.deepEqual(
      keysOf(up.delivered),
      gen.flatMap((g) => g.keys),
      'every sample, in order',
    );
    assert.equal(metricValue(await rec.metricsText(), 'relay_proxy_dropped_samples_total'), 0);
  });
});

describe('lane: relay partial failure', () => {
  const A = 'aaaaaaaaaa';
  const B = 'bbbbbbbbbb';

  it('the main lane parks the batch for the failed endpoints and moves on', async () => {
    const spool = openSpool();
    await fill(spool, 60); // two batches: 20 000 + 10 000 samples
    const parked: { ids: string[]; samples: number }[] = [];
    const up = fakeUpstream((_r, n) =>
      n === 1 ? { kind: 'partial', failed: [B], reason: 'HTTP 503: 1 of 2 endpoints failed', retryAfterSeconds: 30, bytes: 5 } : ok(),
    );
    const rec = recorder();
    startLane({ name: 'relay', reader: spool.reader('r'), upstream: up, park: async (ids, b) => void parked.push({ ids, samples: b.samples }) }, rec);
    await waitFor('settled', () => spool.reader('r').pendingBytes() === 0);
    // the first batch is 20 000 samples unless a loaded machine let BATCH_MAX_WAIT pass first
    assert.deepEqual(parked, [{ ids: [B], samples: up.calls[0].req.samples }], 'the whole first batch, parked for B alone');
    const sent = up.calls.reduce((n, c) => n + c.req.samples, 0);
    assert.equal(sent, 30000, 'every sample sent once: no retry of the main batch (the healthy endpoint has it)');
    assert.deepEqual(rec.published, ['some', ...up.calls.slice(1).map(() => 'all')]);
    assert.equal(metricValue(await rec.metricsText(), 'relay_proxy_lane_parked_batches_total', { endpoint: B }), 1);
  });

  it('a parked batch is the whole batch, byte for byte, while the lane goes on with the next', async () => {
    const spool = openSpool();
    const gen = await fill(spool, 60); // a batch of 40 requests, then a smaller one (fits the same buffer)
    const parked: Buffer[] = [];
    const up = fakeUpstream((_r, n) => (n === 1 ? { kind: 'partial', failed: [B], reason: 'HTTP 503', bytes: 5 } : ok()));
    const rec = recorder();
    startLane({ name: 'relay', reader: spool.reader('r'), upstream: up, park: async (_ids, b) => void parked.push(b.block) }, rec);
    await waitFor('settled', () => spool.reader('r').pendingBytes() === 0);
    assert.ok(up.calls.length >= 2, 'more batches were merged after the parked one');
    assert.equal(parked.length, 1);
    const requests = up.calls[0].req.samples / 500;
    assert.ok(requests > 1, `the first batch merged ${requests} requests`);
    assert.deepEqual(
      keysOf([uncompressSync(parked[0], { asBuffer: true }) as Buffer]),
      gen.slice(0, requests).flatMap((g) => g.keys),
    );
  });

  it('a lane retries only its own endpoint (X-Relay-Only-Endpoints) until it takes the data', async () => {
    const spool = openSpool(['lane'], 'lane-b');
    await fill(spool, 2);
    const up = fakeUpstream((_r, n) => (n <= 3 ? { kind: 'partial', failed: [B], reason: 'HTTP 503', bytes: 0 } : ok()));
    const rec = recorder();
    startLane({ name: `lane:${B}`, reader: spool.reader('lane'), upstream: up, endpointId: B }, rec);
    await waitFor('settled', () => spool.reader('lane').pendingBytes() === 0);
    assert.equal(up.calls.length, 4);
    assert.ok(up.calls.every((c) => c.req.onlyEndpoints === B));
  });

  it('if parking fails, the whole batch is sent again (never lost)', async () => {
    const spool = openSpool();
    await fill(spool, 1);
    let parks = 0;
    const up = fakeUpstream((_r, n) => (n <= 2 ? { kind: 'partial', failed: [A], reason: 'HTTP 503', bytes: 0 } : ok()));
    const rec = recorder();
    startLane(
      {
        name: 'relay',
        reader: spool.reader('r'),
        upstream: up,
        park: async () => {
          parks++;
          if (parks === 1) throw new Error('disk full');
        },
      },
      rec,
    );
    await waitFor('settled', () => spool.reader('r').pendingBytes() === 0);
    assert.equal(parks, 2);
    assert.equal(up.calls.length, 2);
  });
});

describe('lanes: independence, pacing, stop', () => {
  it("a dead endpoint's lane does not hold up a healthy one reading the same spool", async () => {
    const spool = openSpool(['dead', 'healthy']);
    const gen = await fill(spool, 60);
    const dead = fakeUpstream(() => ({ kind: 'retry', reason: 'network error: ECONNREFUSED', bytes: 0 }));
    const healthy = fakeUpstream(ok);
    const rec = recorder();
    startLane({ name: 'dead', reader: spool.reader('dead'), upstream: dead }, rec);
    startLane({ name: 'healthy', reader: spool.reader('healthy'), upstream: healthy }, rec);
    await waitFor('healthy lane drained', () => spool.reader('healthy').pendingBytes() === 0, 3000);
    assert.deepEqual(
      keysOf(healthy.delivered),
      gen.flatMap((g) => g.keys),
    );
    assert.ok(spool.reader('dead').pendingBytes() > 0, 'the dead lane keeps its data');
    // More data keeps flowing to the healthy lane while the dead one backs off.
    const more = await fill(spool, 5, { from: 60 });
    await waitFor('new data delivered', () => spool.reader('healthy').pendingBytes() === 0, 3000);
    assert.deepEqual(
      keysOf(healthy.delivered).slice(-more.length * 500),
      more.flatMap((g) => g.keys),
    );
  });

  it('catch-up is paced by CATCHUP_MAX_RATE', async () => {
    const spool = openSpool();
    await fill(spool, 100); // 50 000 samples of backlog
    const up = fakeUpstream(ok);
    const rec = recorder({ maxBytes: 8 * 1024 * 1024, maxSamples: 10_000, maxWaitMs: 0 });
    const t0 = Date.now();
    startLane({ reader: spool.reader('r'), upstream: up, limiter: new TokenBucket(25_000) }, rec);
    await waitFor('delivered', () => spool.reader('r').pendingBytes() === 0, 5000);
    const took = Date.now() - t0;
    // One second of burst (25 000) plus one batch of debt go at once; the other 15 000 at 25 000/s.
    assert.ok(took >= 550 && took < 2000, `took ${took} ms`);
    assert.ok(metricValue(await rec.metricsText(), 'relay_proxy_catchup_throttled_seconds_total') > 0.5);
  });

  it('stop() cuts a backoff wait short and leaves the batch uncommitted for the next start', async () => {
    const spool = openSpool();
    await fill(spool, 2);
    const up = fakeUpstream(() => ({ kind: 'retry', status: 503, reason: 'HTTP 503', retryAfterSeconds: 60, bytes: 0 }));
    const rec = recorder();
    const lane = startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('first attempt', () => up.calls.length === 1);
    const t0 = Date.now();
    await lane.stop(5000);
    assert.ok(Date.now() - t0 < 500);
    assert.deepEqual(spool.reader('r').committed, { segment: 1, offset: 0 });
    assert.ok(spool.reader('r').pendingBytes() > 0);
  });

  it('stop() lets a send in flight finish within the grace period, and commits it', async () => {
    const spool = openSpool();
    await fill(spool, 2);
    const up = fakeUpstream(async () => {
      await new Promise((r) => setTimeout(r, 300));
      return ok();
    });
    const rec = recorder();
    const lane = startLane({ reader: spool.reader('r'), upstream: up }, rec);
    await waitFor('in flight', () => up.calls.length === 1);
    await lane.stop(5000);
    assert.equal(spool.reader('r').pendingBytes(), 0);
  });
});
