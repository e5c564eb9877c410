// Batching: a merged batch decodes to exactly the union of its inputs, in order (real
// Prometheus captures and random requests with every awkward value); batches respect
// BATCH_MAX_SAMPLES / BATCH_MAX_BYTES and BATCH_MAX_WAIT; consecutive batches
// partition the queue without loss or repetition; unreadable records are told apart.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { compressSync, uncompressSync } from 'snappy';
import { type BatchRecord, type Queueable, asBatchRecord, batchDueIn, batchSize, mergeRecords } from '../../local-proxy/batch';
import { Spool, SpoolBudget } from '../../local-proxy/spool';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import type { WriteRequest } from '../../shared/remote-write/model/types';
import { Rng, randomWriteRequest } from '../../dev/kit/random-write-request';
import { canonical, loadFixtures } from '../../dev/kit/repo';
import { tempDir } from '../../dev/kit/temp-dir';

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

interface Batch {
  records: BatchRecord[];
  samples: number;
  bytes: number;
}

/** Reads every record, then cuts the queue into batches by the lane's rules. */
async function drain(spool: Spool, limits: { maxBytes: number; maxSamples: number; maxWaitMs: number }): Promise<Batch[]> {
  const r = spool.reader('r');
  const queue: (BatchRecord & Queueable)[] = [];
  for (let rec = await r.next(); rec; rec = await r.next()) {
    const b = asBatchRecord(rec);
    if (b instanceof Error) throw b;
    queue.push({ ...b, readAt: 0 });
  }
  const out: Batch[] = [];
  while (queue.length > 0) {
    assert.equal(batchDueIn({ count: queue.length, samples: 0, bytes: 0, firstReadAt: 0 }, limits, 0, true), 0);
    const records = queue.splice(0, batchSize(queue, limits));
    out.push({ records, samples: records.reduce((n, x) => n + x.samples, 0), bytes: records.reduce((n, x) => n + x.bytes, 0) });
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
      assert.deepEqual(
        b.records.map((r) => r.samples),
        Array.from({ length: b.records.length }, (_, k) => at + k),
      );
      at += b.records.length;
    }
    assert.equal(at, 150, 'every record in exactly one batch, in order');
    await spool.close();
  });
});

describe('unreadable records', () => {
  it('a record that is not a snappy block (bad header, or a header lying about its size) is told apart; the rest merge', async () => {
    const spool = openSpool();
    const good = (n: number): Buffer =>
      compressSync(encodeWriteRequest({ timeseries: [], metadata: [{ type: 1, metricFamilyName: `m${n}`, help: '', unit: '' }] }));
    await spool.append(good(1), 1);
    await spool.append(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80]), 2); // no varint end
    await spool.append(Buffer.from([0xff, 0xff, 0x03, 0x00]), 3); // declares 65 535 bytes behind 1
    await spool.append(good(4), 4);
    const r = spool.reader('r');
    const readable: BatchRecord[] = [];
    const unreadable: number[] = [];
    for (let rec = await r.next(); rec; rec = await r.next()) {
      const b = asBatchRecord(rec);
      if (b instanceof Error) unreadable.push(rec.samples);
      else readable.push(b);
    }
    assert.deepEqual(unreadable, [2, 3]);
    assert.deepEqual(
      readable.map((x) => x.samples),
      [1, 4],
    );
    const merged = uncompressSync(mergeRecords(readable), { asBuffer: true }) as Buffer;
    assert.equal(
      merged.length,
      readable.reduce((n, x) => n + x.bytes, 0),
    );
    assert.deepEqual(
      decodeWriteRequest(merged).metadata.map((m) => m.metricFamilyName),
      ['m1', 'm4'],
    );
    await spool.close();
  });
});

describe('limits', () => {
  it('BATCH_MAX_SAMPLES: 500-sample requests become 20 000-sample batches (40 requests each)', async () => {
    const spool = openSpool();
    const body = compressSync(encodeWriteRequest({ timeseries: [], metadata: [] }));
    for (let i = 0; i < 100; i++) await spool.append(body, 500);
    const batches = await drain(spool, { maxBytes: 8 * 1024 * 1024, maxSamples: 20000, maxWaitMs: 0 });
    assert.deepEqual(
      batches.map((b) => b.samples),
      [20000, 20000, 10000],
    );
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
    assert.deepEqual(
      batches.map((b) => b.records.length),
      [2, 1, 2, 1, 1],
    );
    for (const b of batches) assert.ok(b.bytes <= 20_000 || b.records.length === 1);
    await spool.close();
  });

  it('waits BATCH_MAX_WAIT after the first share was read, unless a full batch is queued or a flush is asked for', () => {
    const limits = { maxBytes: 1e9, maxSamples: 2000, maxWaitMs: 150 };
    const queue = (count: number, firstReadAt: number) => ({ count, samples: 500 * count, bytes: 100 * count, firstReadAt });
    assert.equal(batchDueIn(queue(0, 0), limits, 0, false), undefined, 'nothing queued: nothing due');
    assert.equal(batchDueIn(queue(1, 1000), limits, 1000, false), 150);
    assert.equal(batchDueIn(queue(2, 1000), limits, 1100, false), 50, 'counted from the first share');
    assert.equal(batchDueIn(queue(1, 1000), limits, 1200, false), 0, 'the wait is over');
    assert.equal(batchDueIn(queue(1, 1000), limits, 1000, true), 0, 'flush');
    assert.equal(batchDueIn(queue(4, 1000), limits, 1000, false), 0, 'full: 4 × 500 = BATCH_MAX_SAMPLES');
    assert.equal(batchDueIn({ count: 1, samples: 1, bytes: 1e9, firstReadAt: 1000 }, limits, 1000, false), 0, 'full by BATCH_MAX_BYTES');
    const share = (): Queueable => ({ samples: 500, bytes: 100, readAt: 0 });
    assert.equal(batchSize([1, 2, 3, 4, 5].map(share), limits), 4);
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
