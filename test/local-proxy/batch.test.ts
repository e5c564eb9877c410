// Batching: a merged batch decodes to exactly the union of its inputs, in order (real
// Prometheus captures and random requests with every awkward value); batches respect
// BATCH_MAX_SAMPLES / BATCH_MAX_BYTES and BATCH_MAX_WAIT; consecutive batches
// partition the spool without loss or repetition.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { compressSync, uncompressSync } from 'snappy';
import { type Batch, type RecordSource, collectBatch, mergeRecords } from '../../local-proxy/batch';
import { Spool, SpoolBudget, type SpoolRecord } from '../../local-proxy/spool';
import { decodeWriteRequest } from '../../shared/remote-write/decode';
import { encodeWriteRequest } from '../../shared/remote-write/encode';
import type { WriteRequest } from '../../shared/remote-write/types';
import { Rng, randomWriteRequest } from '../helpers/random-write-request';
import { canonical, loadFixtures } from '../helpers/repo';
import { tempDir } from './helpers';

const fixtures = loadFixtures().slice(0, 50);

function union(reqs: WriteRequest[]): WriteRequest {
  return { timeseries: reqs.flatMap((r) => r.timeseries), metadata: reqs.flatMap((r) => r.metadata) };
}

let tmp: { dir: string; remove(): void };
beforeEach(() => {
  tmp = tempDir('batch-test');
});
afterEach(() => tmp.remove());

function openSpool(): Spool {
  return Spool.open({ dir: path.join(tmp.dir, 'main'), name: 'main', segmentBytes: 1024 * 1024, readers: ['r'], budget: new SpoolBudget(1024 ** 3, 'reject') });
}

const never = new AbortController().signal;

/** Reads batches until the spool is drained, committing each. */
async function drain(spool: Spool, limits: { maxBytes: number; maxSamples: number; maxWaitMs: number }): Promise<Batch[]> {
  const r = spool.reader('r');
  const out: Batch[] = [];
  while (r.pendingBytes() > 0) {
    const b = await collectBatch(r, limits, never);
    if (!b) return out;
    out.push(b);
    r.commit(b.end);
  }
  return out;
}

describe('merge', () => {
  it('real Prometheus 2.42 requests (50 captures): the merged batch decodes to exactly the union of the inputs', async () => {
    const spool = openSpool();
    const inputs: WriteRequest[] = [];
    for (const f of fixtures) {
      const raw = uncompressSync(f.body, { asBuffer: true }) as Buffer;
      inputs.push(decodeWriteRequest(raw));
      await spool.append(f.body, 0);
    }
    const batches = await drain(spool, { maxBytes: 1024 ** 3, maxSamples: 1e9, maxWaitMs: 0 });
    assert.equal(batches.length, 1);
    assert.equal(batches[0].records.length, fixtures.length);
    assert.deepEqual(canonical(decodeWriteRequest(uncompressSync(mergeRecords(batches[0].records), { asBuffer: true }) as Buffer)), canonical(union(inputs)));
    await spool.close();
  });

  it('random requests (NaN payloads, int64 extremes, histograms, exemplars, metadata): union, bit for bit', async () => {
    const spool = openSpool();
    const rng = new Rng(42);
    const inputs: WriteRequest[] = [];
    for (let i = 0; i < 150; i++) {
      const req = randomWriteRequest(rng);
      inputs.push(req);
      await spool.append(compressSync(encodeWriteRequest(req)), i);
    }
    const batches = await drain(spool, { maxBytes: 32 * 1024, maxSamples: 1e9, maxWaitMs: 0 });
    assert.ok(batches.length > 1, 'the byte limit splits the run into several batches');
    let at = 0;
    for (const b of batches) {
      const expected = union(inputs.slice(at, at + b.records.length));
      assert.deepEqual(canonical(decodeWriteRequest(uncompressSync(mergeRecords(b.records), { asBuffer: true }) as Buffer)), canonical(expected));
      assert.deepEqual(b.records.map((r) => r.samples), Array.from({ length: b.records.length }, (_, k) => at + k));
      at += b.records.length;
    }
    assert.equal(at, 150, 'every record in exactly one batch, in order');
    await spool.close();
  });
});

describe('unreadable records', () => {
  it('a record that is not a snappy block (bad header, or a header lying about its size) is reported, skipped and committed past', async () => {
    const spool = openSpool();
    const good = (n: number): Buffer => compressSync(encodeWriteRequest({ timeseries: [], metadata: [{ type: 1, metricFamilyName: `m${n}`, help: '', unit: '' }] }));
    await spool.append(good(1), 1);
    await spool.append(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80]), 2); // no varint end
    await spool.append(Buffer.from([0xff, 0xff, 0x03, 0x00]), 3); // declares 65 535 bytes behind 1
    await spool.append(good(4), 4);
    const unreadable: number[] = [];
    const r = spool.reader('r');
    const b = await collectBatch(r, { maxBytes: 1024 ** 2, maxSamples: 1e9, maxWaitMs: 0 }, never, Date.now, (rec) => void unreadable.push(rec.samples));
    assert.deepEqual(unreadable, [2, 3]);
    assert.deepEqual(b!.records.map((x) => x.samples), [1, 4]);
    assert.equal(b!.bytes, b!.records.reduce((n, x) => n + x.bytes, 0));
    const merged = uncompressSync(mergeRecords(b!.records), { asBuffer: true }) as Buffer;
    assert.equal(merged.length, b!.bytes);
    assert.deepEqual(decodeWriteRequest(merged).metadata.map((m) => m.metricFamilyName), ['m1', 'm4']);
    r.commit(b!.end);
    assert.equal(r.pendingBytes(), 0, 'the skipped records are committed past with the batch');
    await spool.close();
  });
});

describe('limits', () => {
  it('BATCH_MAX_SAMPLES: 500-sample requests become 20 000-sample batches (40 requests each)', async () => {
    const spool = openSpool();
    const body = compressSync(encodeWriteRequest({ timeseries: [], metadata: [] }));
    for (let i = 0; i < 100; i++) await spool.append(body, 500);
    const batches = await drain(spool, { maxBytes: 8 * 1024 * 1024, maxSamples: 20000, maxWaitMs: 0 });
    assert.deepEqual(batches.map((b) => b.samples), [20000, 20000, 10000]);
    await spool.close();
  });

  it('BATCH_MAX_BYTES bounds the merged size; a single larger request goes alone', async () => {
    const spool = openSpool();
    const big = Buffer.alloc(50_000, 0);
    // unknown field 100 (bytes) is a valid WriteRequest of any size
    const field = (n: number): Buffer => Buffer.concat([Buffer.from([0xa2, 0x06]), varint(n), Buffer.alloc(n, 1)]);
    for (const n of [1000, 1000, 30_000, 1000, 1000]) await spool.append(compressSync(field(n)), 1);
    await spool.append(compressSync(Buffer.concat([field(big.length)])), 1);
    await spool.append(compressSync(field(10)), 1);
    const batches = await drain(spool, { maxBytes: 20_000, maxSamples: 1e9, maxWaitMs: 0 });
    assert.deepEqual(batches.map((b) => b.records.length), [2, 1, 2, 1, 1]);
    for (const b of batches) assert.ok(b.bytes <= 20_000 || b.records.length === 1);
    await spool.close();
  });

  it('waits BATCH_MAX_WAIT after the first record for more, then sends what it has', async () => {
    const recs: SpoolRecord[] = [];
    let waits = 0;
    const make = (i: number): SpoolRecord => ({
      payload: compressSync(Buffer.alloc(0)),
      samples: 500,
      start: { segment: 1, offset: i },
      end: { segment: 1, offset: i + 1 },
    });
    const source: RecordSource = {
      next: async () => recs.shift(),
      unread: (r) => recs.unshift(r),
      waitForData: async (ms) => {
        waits++;
        await new Promise((r) => setTimeout(r, Math.min(ms, 20)));
        if (waits <= 3) recs.push(make(waits));
      },
    };
    recs.push(make(0));
    const t0 = Date.now();
    const b = await collectBatch(source, { maxBytes: 1e9, maxSamples: 1e9, maxWaitMs: 150 }, never);
    const took = Date.now() - t0;
    assert.equal(b!.records.length, 4, 'the three that arrived within the wait joined');
    assert.ok(took >= 140 && took < 1000, `took ${took} ms`);
    assert.deepEqual(b!.end, { segment: 1, offset: 4 });
  });

  it('resolves undefined when aborted while idle', async () => {
    const ac = new AbortController();
    const source: RecordSource = { next: async () => undefined, unread: () => undefined, waitForData: (ms, signal) => new Promise((r) => { const t = setTimeout(r, ms); signal?.addEventListener('abort', () => { clearTimeout(t); r(); }); }) };
    setTimeout(() => ac.abort(), 30);
    assert.equal(await collectBatch(source, { maxBytes: 1, maxSamples: 1, maxWaitMs: 10 }, ac.signal), undefined);
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
