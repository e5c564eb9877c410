// The shard count: up at once for a backlog, to carry the intake at the observed latency,
// never up while failing, down only after the lower figure held; within [min, max].

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommitTracker } from '../../local-proxy/commit-tracker';
import { ShardScaler, type ScalerInput } from '../../local-proxy/shard-scaler';
import type { Position } from '../../local-proxy/spool-record';

function feed(s: ShardScaler, steps: Partial<ScalerInput>[]): number[] {
  let x: ScalerInput = { now: 0, appendedSamples: 0, pendingSamples: 0, sendSeconds: 0, sentSamples: 0, failing: false };
  return steps.map((d) => {
    x = { ...x, ...d, now: x.now + 1000 };
    return s.update(x);
  });
}

describe('shard scaler', () => {
  it('a backlog takes it to one call per batch of backlog at once, capped at MAX_SHARDS', () => {
    const s = new ShardScaler({ min: 1, max: 16, batchSamples: 20_000 });
    assert.deepEqual(feed(s, [{ pendingSamples: 0 }, { pendingSamples: 3_000_000 }]), [1, 16]);
    const t = new ShardScaler({ min: 1, max: 16, batchSamples: 20_000 });
    assert.deepEqual(feed(t, [{ pendingSamples: 100_000 }]), [5]);
  });

  it('carries the intake at the observed latency with 30 % headroom', () => {
    const s = new ShardScaler({ min: 1, max: 50, batchSamples: 20_000 });
    // 100 000 samples/s in; calls take 0.3 s for 20 000 samples (15 µs per sample of call time)
    const steps: Partial<ScalerInput>[] = [];
    for (let i = 1; i <= 20; i++) steps.push({ appendedSamples: i * 100_000, sentSamples: i * 100_000, sendSeconds: i * 1.5, pendingSamples: 20_000 });
    const got = feed(s, steps);
    // 15e-6 s × 100 000/s × 1.3 ≈ 2
    assert.equal(got[got.length - 1], 2);
  });

  it('never scales up while the lane is failing', () => {
    const s = new ShardScaler({ min: 1, max: 8, batchSamples: 1000 });
    assert.deepEqual(feed(s, [{ pendingSamples: 100_000, failing: true }, { pendingSamples: 100_000, failing: true }, { pendingSamples: 100_000, failing: false }]), [1, 1, 8]);
  });

  it('scales down only after the lower figure held for the hold time, to the highest figure seen meanwhile', () => {
    const s = new ShardScaler({ min: 2, max: 8, batchSamples: 1000, downHoldMs: 3000 });
    const got = feed(s, [{ pendingSamples: 100_000 }, { pendingSamples: 3500 }, { pendingSamples: 0 }, { pendingSamples: 0 }, { pendingSamples: 0 }, { pendingSamples: 0 }]);
    // 8; then 3 500 pending fits in 8 calls and the intake alone asks for MIN_SHARDS: held at 8 for 3 s, then 2
    assert.equal(got[0], 8);
    assert.equal(got[1], 8);
    assert.equal(got[2], 8);
    assert.equal(got[got.length - 1], 2, 'down to MIN_SHARDS once it held');
  });
});

describe('commit tracker', () => {
  const pos = (n: number): Position => ({ segment: 1, offset: n });

  it('commits only the settled prefix, in order, whatever order shares settle in', () => {
    const commits: number[] = [];
    const t = new CommitTracker((p) => commits.push(p.offset));
    const a = t.add(pos(10), 2, 1000);
    const b = t.add(pos(20), 1, 2000);
    const c = t.add(pos(30), 0); // settled on arrival (all too old)
    const d = t.add(pos(40), 1, 4000);
    assert.deepEqual(commits, []);
    t.settle(d);
    t.settle(b);
    assert.deepEqual(commits, [], 'a is still out');
    assert.equal(t.oldestPendingTime(), 1000);
    t.settle(a);
    assert.deepEqual(commits, []);
    t.settle(a);
    assert.deepEqual(commits, [40], 'a, b, c, d settled: one commit at the end of d');
    assert.equal(t.size, 0);
    assert.ok(c.outstanding === 0);
    assert.throws(() => t.settle(a), /twice/);
  });
});
