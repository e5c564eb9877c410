// partitionBySeries: every series in exactly one part, always the same one for the same
// labels; every sample kept (in order) unless older than the cut-off; every part a valid
// request; the per-part counts and time ranges right. The native walk and the JS walk must
// give the same bytes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { syntheticPayloads } from '../../bench/lib/payloads';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { nativeStatus } from '../../shared/remote-write/native';
import { type Partitioned, partitionBySeries, sampleTimeRange, seriesHashes, seriesShard } from '../../shared/remote-write/partition';
import { compress, decompressBounded } from '../../shared/remote-write/snappy';
import type { TimeSeries, WriteRequest } from '../../shared/remote-write/model/types';
import { AZURE_MONITOR_LIMITS, validateWriteRequest } from '../../shared/remote-write/validate';
import { Rng, rawLabel, rawLen, rawSample, rawSeries, rawUnknownFields, randomWriteRequest } from '../../dev/kit/random-write-request';
import { loadFixtures } from '../../dev/kit/repo';

const walks = nativeStatus().loaded ? [false, true] : [false];
const key = (ts: TimeSeries): string => JSON.stringify(ts.labels);
const stamp = (s: { value: bigint; timestamp: bigint }): string => `${s.value}@${s.timestamp}`;

/** What a series entry holds after the cut-off: its samples and histograms at or after it (as JS numbers compare). */
function kept(ts: TimeSeries, minTime: number): { samples: string[]; histograms: string[] } {
  return {
    samples: ts.samples.filter((s) => !(Number(s.timestamp) < minTime)).map(stamp),
    histograms: ts.histograms
      .filter((h) => !(Number(h.timestamp) < minTime))
      .map((h) => JSON.stringify(h, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))),
  };
}

/**
 * Checks one split of `raw` against its decoded input. `home` remembers each series' part
 * across calls with the same shard count: the same labels must always land together.
 */
function checkSplit(raw: Buffer, shards: number, minTime: number | undefined, r: Partitioned, home: Map<string, number>, what: string): void {
  const cut = minTime ?? -Infinity;
  const input = decodeWriteRequest(raw);
  assert.equal(r.parts.length, shards, what);
  // the input's series, in order, with what survives the cut-off
  const expected = new Map<string, { samples: string[]; histograms: string[]; exemplars: number }>();
  let dropped = 0;
  for (const ts of input.timeseries) {
    const k = kept(ts, cut);
    dropped += ts.samples.length - k.samples.length + ts.histograms.length - k.histograms.length;
    const lostAll = k.samples.length + k.histograms.length === 0 && ts.samples.length + ts.histograms.length > 0;
    if (lostAll) continue;
    const e = expected.get(key(ts)) ?? { samples: [], histograms: [], exemplars: 0 };
    e.samples.push(...k.samples);
    e.histograms.push(...k.histograms);
    e.exemplars += ts.exemplars.length;
    expected.set(key(ts), e);
  }
  assert.equal(r.droppedTooOld, dropped, `${what}: droppedTooOld`);
  const got = new Map<string, { samples: string[]; histograms: string[]; exemplars: number }>();
  const partOf = new Map<string, number>();
  const metadata: WriteRequest['metadata'] = [];
  r.parts.forEach((part, p) => {
    const decoded = decodeWriteRequest(part);
    assert.doesNotThrow(() => validateWriteRequest(part, AZURE_MONITOR_LIMITS), `${what}: part ${p} is valid`);
    if (p > 0) assert.equal(decoded.metadata.length, 0, `${what}: metadata only in part 0`);
    metadata.push(...decoded.metadata);
    let samples = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const ts of decoded.timeseries) {
      const k = key(ts);
      const seen = partOf.get(k);
      assert.ok(seen === undefined || seen === p, `${what}: series ${k} in parts ${seen} and ${p}`);
      partOf.set(k, p);
      const before = home.get(k);
      assert.ok(before === undefined || before === p, `${what}: series ${k} went to part ${p}, before to ${before}`);
      home.set(k, p);
      const e = got.get(k) ?? { samples: [], histograms: [], exemplars: 0 };
      e.samples.push(...ts.samples.map(stamp));
      e.histograms.push(...kept(ts, -Infinity).histograms);
      e.exemplars += ts.exemplars.length;
      got.set(k, e);
      for (const t of [...ts.samples.map((s) => s.timestamp), ...ts.histograms.map((h) => h.timestamp)]) {
        samples++;
        lo = Math.min(lo, Number(t));
        hi = Math.max(hi, Number(t));
      }
    }
    assert.equal(r.samples[p], samples, `${what}: samples in part ${p}`);
    assert.equal(r.minTime[p], lo, `${what}: minTime of part ${p}`);
    assert.equal(r.maxTime[p], hi, `${what}: maxTime of part ${p}`);
    if (samples > 0) assert.ok(lo >= cut, `${what}: part ${p} holds a sample older than the cut-off`);
  });
  // same series, same samples in the same order (a series' entries all land in one part, in order)
  assert.deepEqual(got, expected, `${what}: series and samples`);
  assert.deepEqual(metadata, input.metadata, `${what}: metadata`);
}

describe('partitionBySeries', () => {
  const fixtures = loadFixtures().map((f) => ({ name: f.name, raw: decompressBounded(f.body, 64 << 20) }));
  const synthetic = syntheticPayloads({ requests: 8, series: 2000, withCluster: true });

  for (const native of walks) {
    const walk = native ? 'native' : 'JS';

    test(`${walk}: random requests, any shard count, with and without a cut-off`, () => {
      const homes = new Map<number, Map<string, number>>();
      const rng = new Rng(4711);
      for (let i = 0; i < 400; i++) {
        const raw = encodeWriteRequest(randomWriteRequest(rng, { maxSeries: 12 }));
        const shards = rng.pick([1, 2, 3, 8, 16]);
        const range = sampleTimeRange(raw);
        // a cut-off at one of the request's own sample times, so some go and some stay
        const times = decodeWriteRequest(raw).timeseries.flatMap((ts) => [...ts.samples, ...ts.histograms].map((s) => Number(s.timestamp)));
        const minTime = rng.chance(0.4) || times.length === 0 ? undefined : rng.pick(times);
        const r = partitionBySeries(raw, shards, { minTime, native });
        if (!homes.has(shards)) homes.set(shards, new Map());
        checkSplit(raw, shards, minTime, r, homes.get(shards)!, `random ${i} (${shards} shards, minTime ${minTime})`);
        if (minTime === undefined)
          assert.equal(
            r.samples.reduce((a, b) => a + b, 0),
            range.samples,
          );
      }
    });

    test(`${walk}: the captured requests and the bench's synthetic ones`, () => {
      const home = new Map<string, number>();
      for (const f of fixtures) checkSplit(f.raw, 8, undefined, partitionBySeries(f.raw, 8, { native }), home, f.name);
      const home3 = new Map<string, number>();
      for (const p of synthetic.payloads) {
        const { minTime, maxTime } = sampleTimeRange(p.raw);
        const cut = minTime + Math.floor((maxTime - minTime) / 2);
        checkSplit(p.raw, 8, undefined, partitionBySeries(p.raw, 8, { native }), home, 'synthetic');
        checkSplit(p.raw, 3, cut, partitionBySeries(p.raw, 3, { minTime: cut, native }), home3, 'synthetic, cut in the middle');
      }
    });

    test(`${walk}: a series that loses some samples is re-encoded; one that loses all goes, exemplars and all`, () => {
      const name = rawLabel('__name__', 'up');
      const exemplar = rawLen(3, rawLabel('trace_id', 'abc'), rawLen(3 << 3, ''));
      const partly = rawSeries(name, rawLabel('job', 'a'), rawSample(1n, 100n), exemplar, rawSample(2n, 300n), rawSample(3n, 200n), rawSample(4n, 50n));
      const wholly = rawSeries(name, rawLabel('job', 'b'), rawSample(5n, 10n), exemplar, rawSample(6n, 20n));
      const untouched = rawSeries(name, rawLabel('job', 'c'), rawSample(7n, 500n));
      const raw = Buffer.concat([partly, wholly, untouched]);
      const r = partitionBySeries(raw, 1, { minTime: 150, native });
      assert.equal(r.droppedTooOld, 4);
      const out = decodeWriteRequest(r.parts[0]);
      assert.deepEqual(
        out.timeseries.map((ts) => [ts.labels[1].value, ts.samples.map((s) => s.timestamp), ts.exemplars.length]),
        [
          ['a', [300n, 200n], 1],
          ['c', [500n], 0],
        ],
      );
      assert.deepEqual([r.samples, r.minTime, r.maxTime], [[3], [200], [500]]);
      // the untouched series is the input's own bytes
      assert.ok(r.parts[0].subarray(r.parts[0].length - untouched.length).equals(untouched));
      // everything too old: an empty request
      const none = partitionBySeries(raw, 4, { minTime: 1000, native });
      assert.deepEqual([none.parts.map((p) => p.length), none.droppedTooOld, none.samples], [[0, 0, 0, 0], 7, [0, 0, 0, 0]]);
      assert.deepEqual([none.minTime[0], none.maxTime[0]], [Infinity, -Infinity]);
    });

    test(`${walk}: metadata and unknown top-level fields stay in part 0`, () => {
      const unknown = rawUnknownFields();
      const metadata = rawLen(3, rawLen(2, 'up'), rawLen(4, 'help'));
      const series = Array.from({ length: 40 }, (_, i) => rawSeries(rawLabel('__name__', 'up'), rawLabel('job', `j${i}`), rawSample(0n, BigInt(i))));
      const raw = Buffer.concat([unknown, ...series.slice(0, 20), metadata, ...series.slice(20)]);
      const r = partitionBySeries(raw, 4, { native });
      assert.ok(r.parts[0].subarray(0, unknown.length).equals(unknown), 'the unknown fields first, as they came');
      assert.ok(r.parts[0].includes(metadata));
      for (let p = 1; p < 4; p++) assert.ok(!r.parts[p].includes(metadata) && !r.parts[p].includes(unknown));
      assert.ok(
        r.parts.every((p) => p.length > 0),
        '40 series over 4 parts',
      );
      assert.equal(
        r.parts.reduce((a, p) => a + p.length, 0),
        raw.length,
        'nothing added or lost',
      );
    });
  }

  test('the native and the JS walk give the same bytes', { skip: walks.length < 2 ? 'native module not loaded' : false }, () => {
    const rng = new Rng(99);
    const inputs = [
      ...fixtures.map((f) => f.raw),
      ...synthetic.payloads.map((p) => p.raw),
      ...Array.from({ length: 300 }, () => encodeWriteRequest(randomWriteRequest(rng))),
    ];
    for (const raw of inputs) {
      for (const shards of [1, 2, 7, 8, 64]) {
        const { minTime, maxTime } = sampleTimeRange(raw);
        for (const cut of [undefined, Number.isFinite(minTime) ? minTime + (maxTime - minTime) / 3 : undefined]) {
          const a = partitionBySeries(raw, shards, { minTime: cut, native: false });
          const b = partitionBySeries(raw, shards, { minTime: cut, native: true });
          assert.deepEqual(
            b.parts.map((p) => p.toString('hex')),
            a.parts.map((p) => p.toString('hex')),
          );
          assert.deepEqual([b.samples, b.minTime, b.maxTime, b.droppedTooOld], [a.samples, a.minTime, a.maxTime, a.droppedTooOld]);
        }
      }
    }
  });

  test('seriesHashes: per series, the hash partitionBySeries shards by, from the compressed block; assign splits by a given part per series', () => {
    const rng = new Rng(2024);
    const inputs = [
      ...fixtures.map((f) => f.raw),
      ...synthetic.payloads.map((p) => p.raw),
      ...Array.from({ length: 200 }, () => encodeWriteRequest(randomWriteRequest(rng))),
    ];
    for (const raw of inputs) {
      const block = compress(raw);
      const byWalk = walks.map((native) => [...(seriesHashes(block, { native }) ?? [])]);
      for (const h of byWalk) assert.deepEqual(h, byWalk[0], 'native and JS walks agree');
      const h = byWalk[0];
      assert.equal(h.length, decodeWriteRequest(raw).timeseries.length);
      for (const shards of [2, 7]) {
        const byHash = partitionBySeries(raw, shards);
        const assign = Uint8Array.from(h, (x) => x % shards);
        for (const native of walks) {
          const byAssign = partitionBySeries(raw, shards, { assign, native });
          assert.deepEqual(
            byAssign.parts.map((p) => p.toString('hex')),
            byHash.parts.map((p) => p.toString('hex')),
          );
        }
      }
      // any assignment: each series lands in its part, in order, and nothing is lost
      if (h.length > 0) {
        const assign = Uint8Array.from(h, () => rng.int(0, 2));
        for (const native of walks) {
          const r = partitionBySeries(raw, 3, { assign, native });
          const all = decodeWriteRequest(raw).timeseries;
          for (let k = 0; k < 3; k++) {
            const want = all.filter((_, i) => assign[i] === k);
            assert.deepEqual(r.parts[k].length === 0 ? [] : decodeWriteRequest(r.parts[k]).timeseries, want);
          }
        }
      }
    }
    for (const native of walks) {
      assert.equal(seriesHashes(Buffer.from('not snappy at all'), { native }), undefined);
      const two = Buffer.concat([rawSeries(rawLabel('__name__', 'a'), rawSample(0n, 1n)), rawSeries(rawLabel('__name__', 'b'), rawSample(0n, 1n))]);
      assert.throws(() => partitionBySeries(two, 2, { assign: Uint8Array.of(0), native }), RangeError);
      assert.throws(() => partitionBySeries(two, 2, { assign: Uint8Array.of(0, 2), native }), RangeError);
    }
  });

  test('nothing to split or drop: the input itself, not a copy', () => {
    for (const native of walks) {
      const raw = synthetic.payloads[0].raw;
      const r = partitionBySeries(raw, 1, { native });
      assert.equal(r.parts[0], raw);
      assert.deepEqual([r.samples[0], r.minTime[0], r.maxTime[0]], [2000, sampleTimeRange(raw).minTime, sampleTimeRange(raw).maxTime]);
      const one = rawSeries(rawLabel('__name__', 'up'), rawSample(0n, 5n));
      const s = partitionBySeries(one, 8, { native, minTime: 5 });
      assert.equal(s.parts[seriesShard(rawLabel('__name__', 'up'), 8)], one, 'a single series: its part is the input');
      assert.equal(s.parts.filter((p) => p.length > 0).length, 1);
    }
  });

  test('an allocator receives the parts (a pool lease, say)', () => {
    for (const native of walks) {
      const leases: Buffer[] = [];
      const r = partitionBySeries(synthetic.payloads[1].raw, 8, { native, alloc: (n) => leases[leases.push(Buffer.alloc(n)) - 1] });
      assert.equal(leases.length, 1);
      assert.equal(
        r.parts.reduce((a, p) => a + p.length, 0),
        leases[0].length,
      );
      assert.ok(r.parts.every((p) => p.buffer === leases[0].buffer));
      assert.throws(
        () => partitionBySeries(synthetic.payloads[1].raw, 8, { native, alloc: (n) => Buffer.alloc(n + 1) }),
        /alloc\(n\) must return a Buffer of n bytes/,
      );
      assert.throws(
        () => partitionBySeries(synthetic.payloads[1].raw, 8, { native, alloc: (n) => (partitionBySeries(synthetic.payloads[0].raw, 2), Buffer.alloc(n)) }),
        /from its own alloc/,
      );
    }
  });

  test('the shard depends on the label fields only, wherever they sit in the series', () => {
    const labels = [rawLabel('__name__', 'up'), rawLabel('instance', '10.0.0.1:9100'), rawLabel('job', 'node')];
    const canonical = rawSeries(...labels, rawSample(0n, 1n));
    const split = rawSeries(labels[0], rawSample(0n, 1n), labels[1], rawSample(0n, 2n), labels[2]);
    for (const native of walks) {
      for (const shards of [2, 3, 5, 8, 13, 64]) {
        const want = seriesShard(Buffer.concat(labels), shards);
        const a = partitionBySeries(Buffer.concat([canonical, rawSeries(rawLabel('__name__', 'x'), rawSample(0n, 1n))]), shards, { native });
        const b = partitionBySeries(Buffer.concat([split, rawSeries(rawLabel('__name__', 'x'), rawSample(0n, 1n))]), shards, { native });
        assert.ok(a.parts[want].includes(canonical), `canonical, ${shards} shards`);
        assert.ok(b.parts[want].includes(split), `labels apart, ${shards} shards`);
      }
    }
  });

  test('kube-style series spread evenly', () => {
    // the bench's 8 × 2 000 series: every part within 15 % of the mean, for several shard counts
    for (const shards of [2, 4, 8, 16]) {
      const counts = new Array<number>(shards).fill(0);
      for (const p of synthetic.payloads) partitionBySeries(p.raw, shards).samples.forEach((n, k) => (counts[k] += n));
      const mean = synthetic.samples / shards;
      for (const c of counts) assert.ok(Math.abs(c - mean) < 0.15 * mean, `${shards} shards: ${counts.join(' ')}`);
    }
  });

  test('refuses a shard count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 65_537]) assert.throws(() => partitionBySeries(Buffer.alloc(0), bad), RangeError);
  });
});
