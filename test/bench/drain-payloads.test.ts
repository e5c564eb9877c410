// The drain bench's payloads and the sink's order check: the writes carry current,
// per-series strictly rising timestamps, shards own disjoint series, and the order scan
// counts exactly the samples that are not newer than their series' last one.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DRAIN_STEP_MS, drainTemplates, drainWrites } from '../../bench/lib/drain-payloads';
import { scanSeriesOrder } from '../../bench/lib/order';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { decompress } from '../../shared/remote-write/snappy';

const key = (labels: ReadonlyArray<{ name: string; value: string }>): string => labels.map((l) => `${l.name}=${l.value}`).join(',');

describe('drain payloads', () => {
  const shards = 3;
  const t = drainTemplates({ shards, series: 50 });
  const now = Date.now();
  const writes = drainWrites(t, 12, now);

  it('stamps every sample with the current time, rising per series, and keeps shards disjoint', () => {
    const last = new Map<string, number>();
    const shardOf = new Map<string, number>();
    for (let i = 0; i < writes.length; i++) {
      const req = decodeWriteRequest(decompress(writes[i].body));
      assert.equal(req.timeseries.length, 50);
      assert.equal(writes[i].samples, 50);
      for (const ts of req.timeseries) {
        const k = key(ts.labels);
        const at = Number(ts.samples[0].timestamp);
        assert.ok(at <= now - 5_000 && at > now - 60_000, `timestamp ${at} is not a few seconds before ${now}`);
        const prev = last.get(k);
        if (prev !== undefined) assert.ok(at >= prev + DRAIN_STEP_MS - 15, `series ${k} went from ${prev} to ${at}`);
        last.set(k, at);
        const s = shardOf.get(k);
        if (s !== undefined) assert.equal(s, i % shards, 'a series appears in two shards');
        shardOf.set(k, i % shards);
      }
    }
    assert.equal(last.size, shards * 2 * 50); // two slices per shard, each series in every other write of its shard
  });

  it('the order scan finds nothing in the writes sent in order, and every sample of a write replayed', () => {
    const seen = new Map<number, number>();
    let samples = 0;
    for (const w of writes) {
      const r = scanSeriesOrder(decompress(w.body), seen);
      assert.equal(r.outOfOrder, 0);
      samples += r.samples;
    }
    assert.equal(samples, 12 * 50);
    // an older write arriving after a newer one of the same series: all its samples are out of order
    assert.deepEqual(scanSeriesOrder(decompress(writes[0].body), seen), { samples: 50, outOfOrder: 50 });
    // a later write of other series is still in order
    const fresh = drainWrites(t, 12, now + 60_000);
    assert.deepEqual(scanSeriesOrder(decompress(fresh[0].body), seen), { samples: 50, outOfOrder: 0 });
  });
});
