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
  /** n seconds of calls taking `callSeconds` for `perCall` samples each, `inRate` samples/s coming in */
  function steady(n: number, o: { inRate: number; callSeconds: number; perCall: number; pending: number; failing?: boolean }): Partial<ScalerInput>[] {
    const steps: Partial<ScalerInput>[] = [];
    for (let i = 1; i <= n; i++) {
      const sent = i * o.perCall;
      steps.push({ appendedSamples: i * o.inRate, sentSamples: sent, sendSeconds: i * o.callSeconds, pendingSamples: o.pending, failing: o.failing ?? false });
    }
    return steps;
  }

  it('a backlog against a distant endpoint (300 ms per 20 000-sample call) gets many calls at once, capped at MAX_SHARDS', () => {
    const s = new ShardScaler({ min: 1, max: 16 });
    const got = feed(s, steady(2, { inRate: 0, callSeconds: 0.3, perCall: 20_000, pending: 3_000_000 }));
    // 15 µs per sample × 3 M / 5 s × 1.3 ≈ 12 … but the first second has no calls yet
    assert.equal(got[1], 12);
    const t = new ShardScaler({ min: 1, max: 8 });
    assert.equal(feed(t, steady(2, { inRate: 0, callSeconds: 0.3, perCall: 20_000, pending: 3_000_000 }))[1], 8, 'capped');
  });

  it('a fast intake against a distant endpoint is carried from the first interval on, not after the average has climbed', () => {
    const s = new ShardScaler({ min: 1, max: 64 });
    // 1 M samples/s in, no backlog yet, 15 µs of call per sample: 15e-6 × 1 M × 1.3 ≈ 20 from the second update
    const got = feed(s, steady(3, { inRate: 1_000_000, callSeconds: 0.3, perCall: 20_000, pending: 0 }));
    assert.deepEqual(got.slice(1), [20, 20]);
  });

  it('data arriving after a quiet spell: the rate the lane measured since its first read counts, not an average the quiet seconds dilute', () => {
    const quiet = (): Partial<ScalerInput>[] => [{}, {}, {}];
    // three quiet seconds, then 1 M samples/s for 0.4 s when the first 300 ms call of 20 000 settles
    const first: Partial<ScalerInput> = { appendedSamples: 400_000, pendingSamples: 380_000, sentSamples: 20_000, sendSeconds: 0.3 };
    const diluted = new ShardScaler({ min: 1, max: 32 });
    // the average, seeded by a quiet second: 0.3 × 400 000/s; 15e-6 × (120 000 + 380 000 / 5) × 1.3 ≈ 4
    assert.equal(feed(diluted, [...quiet(), first]).at(-1), 4);
    const told = new ShardScaler({ min: 1, max: 32 });
    // 15e-6 × (1 000 000 + 76 000) × 1.3 ≈ 21
    assert.equal(feed(told, [...quiet(), { ...first, recentInRate: 1_000_000 }]).at(-1), 21);
    // a lower recent rate never lowers what the average asks for
    const lower = new ShardScaler({ min: 1, max: 32 });
    assert.equal(feed(lower, [...quiet(), { ...first, recentInRate: 10_000 }]).at(-1), 4);
  });

  it("the same backlog against a near endpoint (5 ms calls) stays on one shard: the senders' own bytes, no splitting", () => {
    const s = new ShardScaler({ min: 1, max: 16 });
    const got = feed(s, steady(5, { inRate: 100_000, callSeconds: 0.005, perCall: 20_000, pending: 3_000_000 }));
    assert.deepEqual(got, [1, 1, 1, 1, 1]);
  });

  it('carries the intake at the observed latency with 30 % headroom', () => {
    const s = new ShardScaler({ min: 1, max: 50 });
    // 100 000 samples/s in; each second 1.5 s of calls for 100 000 samples (15 µs per sample), no backlog
    const got = feed(s, steady(20, { inRate: 100_000, callSeconds: 1.5, perCall: 100_000, pending: 0 }));
    // 15e-6 s × 100 000/s × 1.3 ≈ 2
    assert.equal(got[got.length - 1], 2);
  });

  it('never scales up while the lane is failing', () => {
    const s = new ShardScaler({ min: 1, max: 8 });
    const calls = steady(3, { inRate: 0, callSeconds: 0.3, perCall: 20_000, pending: 1_000_000 });
    const got = feed(s, [
      { ...calls[0], failing: true },
      { ...calls[1], failing: true },
      { ...calls[2], failing: false },
    ]);
    assert.deepEqual(got, [1, 1, 4], '15 µs × 1 M / 5 s × 1.3 ≈ 4, once the lane delivers again');
  });

  it('never scales up while the event loop is busy (calls are slow for want of CPU, not network)', () => {
    const s = new ShardScaler({ min: 1, max: 16 });
    const calls = steady(3, { inRate: 0, callSeconds: 0.3, perCall: 20_000, pending: 3_000_000 });
    const got = feed(s, [
      { ...calls[0], busy: 0.95 },
      { ...calls[1], busy: 0.95 },
      { ...calls[2], busy: 0.4 },
    ]);
    assert.deepEqual(got, [1, 1, 12]);
  });

  it('scales down only after the lower figure held for the hold time, to the highest figure seen meanwhile', () => {
    const s = new ShardScaler({ min: 2, max: 8, downHoldMs: 3000 });
    const up = steady(2, { inRate: 0, callSeconds: 0.3, perCall: 20_000, pending: 2_000_000 });
    const last = up[up.length - 1];
    const got = feed(s, [
      ...up,
      { ...last, pendingSamples: 0 },
      { ...last, pendingSamples: 0 },
      { ...last, pendingSamples: 0 },
      { ...last, pendingSamples: 0 },
    ]);
    assert.equal(got[1], 8);
    assert.equal(got[2], 8, 'held');
    assert.equal(got[3], 8, 'held');
    assert.equal(got[got.length - 1], 2, 'down to MIN_SHARDS once the lower figure held 3 s');
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

  it("calls a record's settled callback once, when its last share settles, and then lets go of it (committed entries linger: they must not keep a payload alive)", () => {
    const t = new CommitTracker(() => undefined);
    const calls: string[] = [];
    const a = t.add(pos(10), 2, 1000, () => calls.push('a'));
    const none = t.add(pos(20), 0, 2000, () => calls.push('none'));
    assert.deepEqual(calls, ['none'], 'nothing to send: at once');
    assert.equal(none.settled, undefined);
    t.settle(a);
    assert.deepEqual(calls, ['none']);
    t.settle(a);
    assert.deepEqual(calls, ['none', 'a']);
    assert.equal(a.settled, undefined, 'the callback (and what it holds) is dropped');
  });
});
