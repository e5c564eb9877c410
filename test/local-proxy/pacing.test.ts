// Backoff, Retry-After and the catch-up limiter, on a fake clock and a fixed random source.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RETRY_AFTER_MS, TokenBucket, retryDelayMs, sleep } from '../../local-proxy/pacing';

describe('retryDelayMs', () => {
  const opts = { minMs: 500, maxMs: 30_000 };

  it('doubles from RETRY_MIN_BACKOFF up to RETRY_MAX_BACKOFF, jittered within [step/2, step]', () => {
    const lo = (a: number): number => retryDelayMs(a, { ...opts, random: () => 0 });
    const hi = (a: number): number => retryDelayMs(a, { ...opts, random: () => 0.999999 });
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map(lo), [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    assert.deepEqual([1, 2, 3, 7, 100].map(hi), [500, 1000, 2000, 30000, 30000]);
  });

  it('honours Retry-After (plus up to 10 % jitter), capped at 5 minutes', () => {
    assert.equal(retryDelayMs(1, { ...opts, random: () => 0 }, 3), 3000);
    assert.equal(retryDelayMs(9, { ...opts, random: () => 0.5 }, 2), 2100);
    assert.equal(retryDelayMs(1, { ...opts, random: () => 0 }, 0), 0);
    assert.equal(retryDelayMs(1, { ...opts, random: () => 0 }, 86400), MAX_RETRY_AFTER_MS);
  });
});

describe('TokenBucket', () => {
  it('lets a burst of one second through, then holds the average rate', () => {
    let t = 0;
    const b = new TokenBucket(100_000, () => t);
    assert.equal(b.delayMs(), 0);
    b.spend(100_000);
    assert.equal(b.delayMs(), 0, 'exactly the burst: not in debt');
    b.spend(20_000);
    assert.equal(b.delayMs(), 200, '20 000 samples of debt at 100 000/s');
    t += 200;
    assert.equal(b.delayMs(), 0);
    b.spend(50_000);
    assert.equal(b.delayMs(), 500);
  });

  it('a batch larger than the bucket still passes (debt), and the next one waits for it', async () => {
    const t = 0;
    const b = new TokenBucket(1000, () => t);
    b.spend(5000);
    assert.equal(b.delayMs(), 4000);
  });

  it('rate 0 is unlimited', async () => {
    const b = new TokenBucket(0);
    for (let i = 0; i < 100; i++) assert.equal(await b.take(1e9), true);
    assert.equal(b.waitedMs, 0);
  });

  it('take() waits in real time and can be aborted', async () => {
    const b = new TokenBucket(10_000);
    b.spend(10_000 + 500); // 50 ms of debt
    const t0 = Date.now();
    assert.equal(await b.take(1), true);
    assert.ok(Date.now() - t0 >= 40);
    b.spend(1_000_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    assert.equal(await b.take(1, ac.signal), false);
  });
});

describe('sleep', () => {
  it('resolves false at once when already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    assert.equal(await sleep(10_000, ac.signal), false);
  });
});
