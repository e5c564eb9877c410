// The owners table: records go whole to the shard that owns their series, a series is
// never owned by two shards while it has unsent samples, and the table stays within its
// size (turning to placing by hash when full). A model check drives it with random
// records, idles and spreads and holds the one rule order depends on.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeriesOwners } from '../../local-proxy/series-owners';

const hashes = (...h: number[]): Uint32Array => Uint32Array.from(h);

describe('series owners', () => {
  it('a record of free series goes whole to the least loaded shard, and the next one with any of them follows it', () => {
    const t = new SeriesOwners();
    assert.deepEqual(t.route(hashes(1, 2, 3), 4, () => 2), { whole: 2, owned: false });
    assert.deepEqual(t.route(hashes(3, 4), 4, () => 0), { whole: 2, owned: true });
    // series 4 came along: it is shard 2's now too
    assert.deepEqual(t.route(hashes(4), 4, () => 1), { whole: 2, owned: true });
  });

  it('a record whose series two shards own is split by owner; its free series go with the first owner', () => {
    const t = new SeriesOwners();
    t.route(hashes(10, 11), 4, () => 0);
    t.route(hashes(20, 21), 4, () => 3);
    const r = t.route(hashes(20, 99, 10), 4, () => 1);
    assert.ok('assign' in r);
    assert.deepEqual([...r.assign], [3, 3, 0]);
    assert.deepEqual(t.route(hashes(99), 4, () => 1), { whole: 3, owned: true });
  });

  it('once a shard has sent everything (idle), its series are free again', () => {
    const t = new SeriesOwners();
    t.route(hashes(1, 2), 4, () => 1);
    t.idle(1);
    assert.deepEqual(t.route(hashes(1, 2), 4, () => 3), { whole: 3, owned: false });
  });

  it('spread: free series go to their hash shard, owned ones stay', () => {
    const t = new SeriesOwners();
    t.route(hashes(5), 4, () => 2);
    const r = t.route(hashes(5, 8, 9), 4, () => 0, true);
    assert.ok('assign' in r);
    assert.deepEqual([...r.assign], [2, 8 % 4, 9 % 4]);
    assert.deepEqual(t.route(hashes(9), 4, () => 0), { whole: 1, owned: true });
  });

  it('a full table places free series by hash (home mode) until reset, and never grows past its size', () => {
    const t = new SeriesOwners(64);
    for (let i = 0; i < 8; i++) t.route(hashes(1000 + 4 * i, 1001 + 4 * i, 1002 + 4 * i, 1003 + 4 * i), 8, () => i % 8);
    assert.equal(t.homeMode, false);
    assert.ok(t.size <= 32);
    t.route(hashes(1, 2, 3, 4, 5, 6, 7, 8), 8, () => 0);
    assert.equal(t.homeMode, true);
    const r = t.route(hashes(9, 10), 8, () => 0);
    assert.ok('assign' in r || r.whole === 9 % 8);
    if ('assign' in r) assert.deepEqual([...r.assign], [1, 2]);
    // owned series still go to their owner in home mode
    assert.deepEqual(t.route(hashes(1000), 8, () => 5), { whole: 0, owned: true });
    t.reset();
    assert.equal(t.homeMode, false);
    assert.equal(t.size, 0);
  });

  it('model check: whatever the records, idles, spreads and table size, no series is ever queued on two shards', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const slots of [16, 64, 1 << 12]) {
      const shards = 6;
      const t = new SeriesOwners(slots, shards);
      // pending[s]: series → samples queued or in flight on shard s
      const pending = Array.from({ length: shards }, () => new Map<number, number>());
      const load = (s: number): number => [...pending[s].values()].reduce((a, b) => a + b, 0);
      for (let step = 0; step < 4000; step++) {
        const op = rand(10);
        if (op < 3) {
          // a shard sends everything it holds
          const s = rand(shards);
          pending[s].clear();
          t.idle(s);
          continue;
        }
        if (op === 3 && rand(20) === 0) {
          for (const p of pending) p.clear();
          t.reset();
          continue;
        }
        // a record: 1-12 series out of 80 (a sender's stream, or a mix)
        const base = rand(2) === 0 ? 20 * rand(4) : rand(70);
        const n = 1 + rand(12);
        const hs = Uint32Array.from({ length: n }, () => base + rand(10));
        const leastLoaded = (): number => {
          let best = 0;
          for (let s = 1; s < shards; s++) if (load(s) < load(best)) best = s;
          return best;
        };
        const r = t.route(hs, shards, leastLoaded, rand(3) === 0);
        hs.forEach((h, i) => {
          const to = 'whole' in r ? r.whole : r.assign[i];
          assert.ok(to >= 0 && to < shards);
          for (let s = 0; s < shards; s++) {
            if (s !== to) assert.ok(!pending[s].has(h), `slots ${slots} step ${step}: series ${h} queued on shard ${s} and sent to ${to}`);
          }
          pending[to].set(h, (pending[to].get(h) ?? 0) + 1);
        });
        assert.ok(t.size <= slots, 'never past its size');
      }
    }
  });
});
