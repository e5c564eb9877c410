// The owners table: records go whole to the shard that owns their series, a series is
// never owned by two shards while it has unsent samples, and the table stays within its
// size (turning to placing by hash when full). A crowded shard's series move to their
// hash's shards, and what they carry there waits for what the old shard held. Model
// checks drive it with random records, idles, spreads and moves and hold the one rule
// order depends on.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeriesOwners } from '../../local-proxy/series-owners';

const hashes = (...h: number[]): Uint32Array => Uint32Array.from(h);

describe('series owners', () => {
  it('a record of free series goes whole to the least loaded shard, and the next one with any of them follows it', () => {
    const t = new SeriesOwners();
    assert.deepEqual(
      t.route(hashes(1, 2, 3), 4, () => 2),
      { whole: 2, owned: false },
    );
    assert.deepEqual(
      t.route(hashes(3, 4), 4, () => 0),
      { whole: 2, owned: true },
    );
    // series 4 came along: it is shard 2's now too
    assert.deepEqual(
      t.route(hashes(4), 4, () => 1),
      { whole: 2, owned: true },
    );
  });

  it('two new series of one record that probe to the same free slot are both owned afterwards', () => {
    // 4096 slots at first: hashes 4096 apart start their probe at the same slot
    const t = new SeriesOwners();
    assert.deepEqual(
      t.route(hashes(7, 7 + 4096), 4, () => 2),
      { whole: 2, owned: false },
    );
    assert.equal(t.size, 2);
    for (const h of [7, 7 + 4096]) {
      assert.deepEqual(
        t.route(hashes(h), 4, () => 0),
        { whole: 2, owned: true },
        `series ${h} still shard 2's`,
      );
    }
  });

  it('a record whose series two shards own is split by owner; its free series go with the first owner', () => {
    const t = new SeriesOwners();
    t.route(hashes(10, 11), 4, () => 0);
    t.route(hashes(20, 21), 4, () => 3);
    const r = t.route(hashes(20, 99, 10), 4, () => 1);
    assert.ok('assign' in r);
    assert.deepEqual([...r.assign], [3, 3, 0]);
    assert.deepEqual(
      t.route(hashes(99), 4, () => 1),
      { whole: 3, owned: true },
    );
  });

  it('once a shard has sent everything (idle), its series are free again', () => {
    const t = new SeriesOwners();
    t.route(hashes(1, 2), 4, () => 1);
    t.idle(1);
    assert.deepEqual(
      t.route(hashes(1, 2), 4, () => 3),
      { whole: 3, owned: false },
    );
  });

  it("frees a shard's series across its generation counter's top bits and wrap-around (kept beside the owner in one word)", () => {
    const t = new SeriesOwners();
    for (let i = 0; i < 2 ** 23 - 2; i++) t.idle(255);
    for (let step = 0; step < 4; step++) {
      // shard 255 (the highest owner value) at generations 2^23 - 2, 2^23 - 1, 0, 1
      assert.deepEqual(
        t.route(hashes(7, 8), 256, () => 255),
        { whole: 255, owned: false },
        `step ${step}: free, to the least loaded`,
      );
      assert.deepEqual(
        t.route(hashes(8), 256, () => 3),
        { whole: 255, owned: true },
        `step ${step}: owned while it has unsent samples`,
      );
      t.idle(255);
    }
  });

  it('spreading (a CPU to spare) splits nothing by itself: free series go with the record, whole, unless its shard is crowded', () => {
    const t = new SeriesOwners();
    t.route(hashes(5), 4, () => 2);
    assert.deepEqual(
      t.route(
        hashes(5, 8, 9),
        4,
        () => 0,
        true,
        () => false,
      ),
      { whole: 2, owned: true },
    );
    assert.deepEqual(
      t.route(
        hashes(10, 11, 12),
        4,
        () => 3,
        true,
        () => false,
      ),
      { whole: 3, owned: false },
    );
    // shard 2 crowded: its record's series move to their hash's shards
    const r = t.route(
      hashes(5, 8, 9),
      4,
      () => 0,
      true,
      (s) => s === 2,
    );
    assert.ok('assign' in r);
    assert.deepEqual([[...r.assign], r.from], [[5 % 4, 8 % 4, 9 % 4], 2]);
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
    assert.deepEqual(
      t.route(hashes(1000), 8, () => 5),
      { whole: 0, owned: true },
    );
    t.reset();
    assert.equal(t.homeMode, false);
    assert.equal(t.size, 0);
  });

  it("a crowded shard's series move to their hash's shards, naming the shard they leave; the next record follows them", () => {
    const t = new SeriesOwners();
    const hs = hashes(0, 1, 2, 3, 4, 5, 6, 7);
    assert.deepEqual(
      t.route(hs, 4, () => 1),
      { whole: 1, owned: false },
    );
    // not crowded, or not spreading: the record stays whole on its owner
    assert.deepEqual(
      t.route(
        hs,
        4,
        () => 0,
        true,
        () => false,
      ),
      { whole: 1, owned: true },
    );
    assert.deepEqual(
      t.route(
        hs,
        4,
        () => 0,
        false,
        () => true,
      ),
      { whole: 1, owned: true },
    );
    const r = t.route(
      hs,
      4,
      () => 0,
      true,
      (s) => s === 1,
    );
    assert.ok('assign' in r);
    assert.deepEqual([[...r.assign], r.from], [[0, 1, 2, 3, 0, 1, 2, 3], 1]);
    const next = t.route(hs, 4, () => 0);
    assert.ok('assign' in next);
    assert.deepEqual([[...next.assign], next.from], [[0, 1, 2, 3, 0, 1, 2, 3], undefined]);
  });

  it("model check with moves: a series' samples are sent in the order they were queued, whatever the records, idles, spreads, moves and sends", () => {
    let seed = 777;
    // the LCG's high bits: its low ones repeat with short periods (rand(2) would alternate)
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    for (const slots of [16, 1 << 10, 1 << 12]) {
      const shards = 5;
      const t = new SeriesOwners(slots, shards);
      // each shard's FIFO: items with their global order, series, and the barrier (shard, settled count)
      interface Item {
        order: number;
        series: number[];
        after?: { shard: number; seq: number };
      }
      const queues = Array.from({ length: shards }, () => ({ items: [] as Item[], enqueued: 0, settled: 0 }));
      let order = 0;
      let sends = 0;
      let moves = 0;
      for (let step = 0; step < 6000; step++) {
        const op = rand(10);
        if (op < 4) {
          // a shard sends what it may: its items from the front, up to one still waiting for another shard
          const s = rand(shards);
          const q = queues[s];
          for (let item = q.items[0]; item && !(item.after && queues[item.after.shard].settled < item.after.seq); item = q.items[0]) {
            for (const h of item.series) {
              for (let o = 0; o < shards; o++) {
                if (o === s) continue;
                for (const other of queues[o].items) {
                  assert.ok(
                    !(other.order < item.order && other.series.includes(h)),
                    `slots ${slots} step ${step}: series ${h} sent by shard ${s} before its earlier samples on shard ${o}`,
                  );
                }
              }
            }
            q.items.shift();
            q.settled++;
            sends++;
          }
          if (q.items.length === 0) t.idle(s);
          continue;
        }
        if (op === 4 && rand(30) === 0 && queues.every((q) => q.items.length === 0)) {
          t.reset();
          continue;
        }
        // a record: a sender's stream (the same 8 series each time: such records move), or a
        // mix, of other series or (less often) of the streams' own
        const stream = rand(3) > 0;
        const base = stream ? 20 * rand(4) : rand(4) === 0 ? rand(70) : 100 + rand(70);
        const n = stream ? 8 : 1 + rand(12);
        const hs = Uint32Array.from({ length: n }, (_, i) => (stream ? base + i : base + rand(10)));
        const r = t.route(
          hs,
          shards,
          () => rand(shards),
          rand(4) === 0,
          () => rand(2) === 0,
        );
        const after = 'assign' in r && r.from !== undefined ? { shard: r.from, seq: queues[r.from].enqueued } : undefined;
        if (after) moves++;
        const by = new Map<number, number[]>();
        hs.forEach((h, i) => {
          const to = 'whole' in r ? r.whole : r.assign[i];
          by.set(to, [...(by.get(to) ?? []), h]);
        });
        const o = order++;
        for (const [to, series] of by) {
          queues[to].items.push(after && to !== after.shard ? { order: o, series, after } : { order: o, series });
          queues[to].enqueued++;
        }
      }
      assert.ok(sends > 1000, `the model sent something: ${sends}`);
      if (slots > 16) assert.ok(moves > 50, `series moved: ${moves}`); // 16 slots: home mode soon, where nothing moves
    }
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
