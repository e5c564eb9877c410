// What a lane sends of one spooled record: the sender's own block when one shard carries it
// all, nothing when every sample is past the window, the too-old samples trimmed off at the
// edge, and with several shards parts that hold each series whole and add up to the record.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compressSync, uncompressSync } from 'snappy';
import { planRecord, trimToWindow } from '../../local-proxy/plan';
import { SeriesOwners } from '../../local-proxy/series-owners';
import { seriesHashes } from '../../shared/remote-write/partition';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { numberToBits } from '../../shared/remote-write/model/types';
import { sampleKeys } from './helpers';

function record(series: number, times: number[], first = 0) {
  const req = {
    timeseries: Array.from({ length: series }, (_, s) => ({
      labels: [
        { name: '__name__', value: 'plan_test' },
        { name: 'instance', value: `h${first + s}` },
      ],
      samples: times.map((t) => ({ value: numberToBits(t), timestamp: BigInt(t) })),
      exemplars: [],
      histograms: [],
    })),
    metadata: [],
  };
  const raw = encodeWriteRequest(req);
  const block = compressSync(raw);
  return {
    req,
    rec: { block, bytes: raw.length, samples: series * times.length, end: { segment: 1, offset: 1 }, minTime: Math.min(...times), maxTime: Math.max(...times) },
  };
}

const keys = (blocks: Buffer[]): string[] => blocks.flatMap((b) => sampleKeys(decodeWriteRequest(uncompressSync(b, { asBuffer: true }) as Buffer)));

describe('plan', () => {
  it("several shards with an owners table: a record of free series goes whole, as it came; a record straddling the window is trimmed on its owner; a crowded shard's series move by hash, waiting for it", () => {
    const table = new SeriesOwners();
    const owners = { table, leastLoaded: () => 2, spread: false, crowded: () => false };
    const { rec } = record(20, [1000, 2000]);
    const p = planRecord(rec, { shards: 4, cutoff: 500, owners });
    assert.deepEqual(
      p.shares.map((s) => [s.shard, s.block === rec.block]),
      [[2, true]],
    );
    assert.equal(p.from, undefined);
    // straddling the cutoff: trimmed, on the owning shard
    const edge = record(20, [400, 4000]);
    const t = planRecord(edge.rec, { shards: 4, cutoff: 500, owners });
    assert.deepEqual([t.shares.map((s) => s.shard), t.tooOld, t.shares[0].samples], [[2], 20, 20]);
    // the same series again, the CPU to spare and shard 2 crowded: split by hash at once,
    // the shares leaving shard 2 to wait for what it holds (Plan.from)
    const moved = planRecord(record(20, [5000]).rec, { shards: 4, cutoff: 500, owners: { ...owners, spread: true, crowded: (i) => i === 2 } });
    assert.ok(moved.shares.length > 1, 'split by hash');
    assert.equal(moved.from, 2);
    assert.equal(
      moved.shares.reduce((a, s) => a + s.samples, 0),
      20,
    );
    // and they stay where they moved: the next record is split the same way, nothing to wait for
    const next = planRecord(record(20, [6000]).rec, { shards: 4, cutoff: 500, owners });
    assert.deepEqual(
      next.shares.map((s) => [s.shard, s.samples]),
      moved.shares.map((s) => [s.shard, s.samples]),
    );
    assert.equal(next.from, undefined);
  });

  it('a record with its series hashes stored is routed by them, without being decompressed; split by owner with them as it is without', () => {
    const table = new SeriesOwners();
    const owners = { table, leastLoaded: () => 1, spread: false, crowded: () => false };
    const { rec } = record(20, [1000]);
    const hashes = seriesHashes(rec.block)!;
    // a block that does not decompress: routing whole must not need its bytes
    const opaque = { ...rec, block: Buffer.from('not a snappy block'), seriesHashes: hashes };
    const whole = planRecord(opaque, { shards: 4, cutoff: 500, owners });
    assert.deepEqual(
      whole.shares.map((s) => [s.shard, s.block === opaque.block, s.samples]),
      [[1, true, 20]],
    );
    // its series owned by two shards: split by owner, the same with stored hashes as with computed ones
    const other = new SeriesOwners();
    let next = 3;
    const own = { table: other, leastLoaded: () => next, spread: false, crowded: () => false };
    planRecord(record(10, [1000]).rec, { shards: 4, cutoff: 500, owners: own }); // h0..h9 to shard 3
    next = 0;
    planRecord(record(10, [1000], 10).rec, { shards: 4, cutoff: 500, owners: own }); // h10..h19 to shard 0
    const split = (r: typeof rec & { seriesHashes?: Uint32Array }): [number, number][] =>
      planRecord(r, { shards: 4, cutoff: 500, owners: own }).shares.map((s) => [s.shard, s.samples]);
    const computed = split(record(20, [2000]).rec);
    const later = record(20, [3000]).rec;
    assert.deepEqual(computed, [
      [0, 10],
      [3, 10],
    ]);
    assert.deepEqual(split({ ...later, seriesHashes: seriesHashes(later.block) }), computed);
  });

  it("one shard, all inside the window: the record's own block, untouched", () => {
    const { rec } = record(20, [1000, 2000]);
    const p = planRecord(rec, { shards: 1, cutoff: 500 });
    assert.equal(p.shares.length, 1);
    assert.equal(p.shares[0].block, rec.block);
    assert.equal(p.tooOld, 0);
  });

  it('every sample older than the cutoff: nothing to send, all counted', () => {
    const { rec } = record(20, [1000, 2000]);
    assert.deepEqual(planRecord(rec, { shards: 4, cutoff: 2001 }), { shares: [], tooOld: 40 });
  });

  it('straddling the cutoff: only the newer samples are sent, the rest counted', () => {
    const { rec, req } = record(20, [1000, 2000, 3000]);
    const p = planRecord(rec, { shards: 1, cutoff: 2000 });
    assert.equal(p.tooOld, 20);
    assert.deepEqual(
      keys(p.shares.map((s) => s.block)).sort(),
      sampleKeys(req)
        .filter((k) => !k.endsWith('@1000'))
        .sort(),
    );
    assert.equal(p.shares[0].minTime, 2000);
    const t = trimToWindow({ block: rec.block, samples: rec.samples, minTime: rec.minTime, maxTime: rec.maxTime }, 3000);
    assert.equal(t?.tooOld, 40);
    assert.equal(t?.samples, 20);
  });

  it('several shards: each series in one part, the parts adding up to the record; the same series always in the same shard', () => {
    const a = record(64, [1000]);
    const b = record(64, [2000]);
    const pa = planRecord(a.rec, { shards: 4, cutoff: -Infinity, alloc: (n) => Buffer.allocUnsafe(n) });
    const pb = planRecord(b.rec, { shards: 4, cutoff: -Infinity });
    assert.ok(pa.shares.length > 1);
    assert.deepEqual(keys(pa.shares.map((s) => s.block)).sort(), sampleKeys(a.req).sort());
    const shardOf = (p: typeof pa): Map<string, number> =>
      new Map(p.shares.flatMap((s) => keys([s.block]).map((k) => [k.split('@')[0], s.shard] as [string, number])));
    const sa = shardOf(pa);
    for (const [series, shard] of shardOf(pb)) assert.equal(sa.get(series), shard, series);
    assert.equal(
      pa.shares.reduce((n, s) => n + s.samples, 0),
      64,
    );
  });
});
