// The spool: records come back as written, in order, across segments and restarts;
// concurrent appends share flushes; a torn tail is cut on recovery; cursors survive a
// restart and segments are deleted only once every reader passed them; the byte cap
// either refuses appends or drops the oldest data, counted.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import * as path from 'node:path';
import { type DropInfo, Spool, SpoolBudget, SpoolClosedError, SpoolFullError, type SpoolReader } from '../../local-proxy/spool';
import { HEADER_BYTES } from '../../local-proxy/spool-record';
import { tempDir } from '../../dev/kit/temp-dir';

let tmp: { dir: string; remove(): void };
beforeEach(() => {
  tmp = tempDir('spool-test');
});
afterEach(() => tmp.remove());

function payload(i: number, size = 100): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32LE(i, 0);
  return b;
}

interface OpenOpts {
  readers?: string[];
  segmentBytes?: number;
  budget?: SpoolBudget;
  drops?: DropInfo[];
  warnings?: string[];
  dir?: string;
}

function open(o: OpenOpts = {}): Spool {
  return Spool.open({
    dir: o.dir ?? path.join(tmp.dir, 'main'),
    name: 'main',
    segmentBytes: o.segmentBytes ?? 64 * 1024,
    readers: o.readers ?? ['a'],
    budget: o.budget ?? new SpoolBudget(1024 ** 3, 'reject'),
    onDrop: (d) => o.drops?.push(d),
    onWarning: (msg) => o.warnings?.push(msg),
  });
}

async function readAll(r: SpoolReader): Promise<{ ids: number[]; samples: number[] }> {
  const ids: number[] = [];
  const samples: number[] = [];
  for (let rec = await r.next(); rec; rec = await r.next()) {
    ids.push(rec.payload.readUInt32LE(0));
    samples.push(rec.samples);
    r.commit(rec.end);
  }
  return { ids, samples };
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('spool: append and read', () => {
  it('returns every record, in order, with its sample count, across segment rotations', async () => {
    const s = open({ segmentBytes: 64 * 1024 });
    for (const i of range(500)) await s.append(payload(i, 1000), i % 7);
    assert.ok(s.segmentCount > 5, `expected several segments, got ${s.segmentCount}`);
    const got = await readAll(s.reader('a'));
    assert.deepEqual(got.ids, range(500));
    assert.deepEqual(
      got.samples,
      range(500).map((i) => i % 7),
    );
    await s.close();
  });

  it('concurrent appends share flushes (group commit) and all resolve durable', async () => {
    const s = open();
    await Promise.all(range(200).map((i) => s.append(payload(i), 1)));
    assert.ok(s.syncCount < 200, `200 appends took ${s.syncCount} fsyncs`);
    assert.ok(s.syncCount >= 1);
    assert.equal((await readAll(s.reader('a'))).ids.length, 200);
    await s.close();
  });

  it('readers see nothing until the flush, and are woken by it', async () => {
    const s = open();
    const r = s.reader('a');
    assert.equal(await r.next(), undefined);
    const woke = r.waitForData(5000).then(() => Date.now());
    const t0 = Date.now();
    await s.append(payload(1), 1);
    assert.ok((await woke) - t0 < 1000);
    assert.equal((await r.next())?.payload.readUInt32LE(0), 1);
    await s.close();
  });

  it('refuses appends once closed', async () => {
    const s = open();
    await s.close();
    await assert.rejects(s.append(payload(1), 1), SpoolClosedError);
  });
});

describe('spool: restart and recovery', () => {
  it("each record keeps its samples' time range, from memory and from the file, across a restart", async () => {
    let s = open();
    await s.append(payload(1), 3, { minTime: 1_764_000_000_000, maxTime: 1_764_000_015_000 });
    await s.append(payload(2), 0, { minTime: Infinity, maxTime: -Infinity });
    await s.append(payload(3), 1); // no range given: unknown
    const fromMemory = [];
    const r = s.reader('a');
    for (let rec = await r.next(); rec; rec = await r.next()) fromMemory.push([rec.minTime, rec.maxTime]);
    await s.close();
    s = open();
    const fromFile = [];
    const r2 = s.reader('a');
    for (let rec = await r2.next(); rec; rec = await r2.next()) fromFile.push([rec.minTime, rec.maxTime]);
    const want = [
      [1_764_000_000_000, 1_764_000_015_000],
      [Infinity, -Infinity],
      [NaN, NaN],
    ];
    assert.deepEqual(fromMemory, want);
    assert.deepEqual(fromFile, want);
    await s.close();
  });

  it('each record keeps its series hashes apart from its block, from memory and from the file; the checksum covers them', async () => {
    let s = open();
    const hashes = (i: number): Uint32Array => Uint32Array.from({ length: 50 + i }, (_, k) => (i * 2654435761 + k * 40503) >>> 0);
    for (const i of range(5)) await s.append(payload(i, 333), 1, { minTime: i, maxTime: i }, i === 3 ? undefined : hashes(i));
    const read = async (r: SpoolReader): Promise<{ block: Buffer; hashes?: number[] }[]> => {
      const got = [];
      for (let rec = await r.next(); rec; rec = await r.next())
        got.push({ block: Buffer.from(rec.payload), hashes: rec.seriesHashes && [...rec.seriesHashes] });
      return got;
    };
    const want = range(5).map((i) => ({ block: payload(i, 333), hashes: i === 3 ? undefined : [...hashes(i)] }));
    assert.deepEqual(await read(s.reader('a')), want, 'from memory');
    await s.close();
    s = open();
    assert.deepEqual(await read(s.reader('a')), want, 'from the file');
    await s.close();
    // a flipped hash byte of the second record: that record fails its checksum and is skipped
    const drops: DropInfo[] = [];
    const file = path.join(tmp.dir, 'main', '0000000000000001.seg');
    const bytes = readFileSync(file);
    const second = HEADER_BYTES + hashes(0).length * 4 + 333;
    bytes[second + HEADER_BYTES + 7] ^= 0x01;
    writeFileSync(file, bytes);
    s = open({ drops });
    const after = await read(s.reader('a'));
    assert.ok(drops.some((d) => d.reason === 'corrupt'));
    assert.ok(!after.some((r) => r.block.equals(payload(1, 333))), 'the damaged record is not delivered');
    assert.deepEqual(after[0], want[0]);
    await s.close();
  });

  it('segments of the previous format (records without series hashes) are still read after an upgrade', async () => {
    // format 2: u32 length | u32 samples | f64 oldest | f64 newest | u32 CRC-32 (over the 24 bytes before it and the payload) | payload
    const dir = path.join(tmp.dir, 'main');
    mkdirSync(dir, { recursive: true });
    const v2 = (p: Buffer, samples: number, t: number): Buffer => {
      const h = Buffer.alloc(28);
      h.writeUInt32LE(p.length, 0);
      h.writeUInt32LE(samples, 4);
      h.writeDoubleLE(t, 8);
      h.writeDoubleLE(t + 1, 16);
      h.writeUInt32LE(crc32(p, crc32(h.subarray(0, 24))), 24);
      return Buffer.concat([h, p]);
    };
    writeFileSync(path.join(dir, '0000000000000001.seg'), Buffer.concat(range(4).map((i) => v2(payload(i), 5, 1000 * i))));
    const s = open();
    await s.append(payload(4), 6, { minTime: 7, maxTime: 8 }, Uint32Array.of(1, 2, 3));
    const got = [];
    const r = s.reader('a');
    for (let rec = await r.next(); rec; rec = await r.next())
      got.push([rec.payload.readUInt32LE(0), rec.samples, rec.minTime, rec.maxTime, rec.seriesHashes && [...rec.seriesHashes]]);
    assert.deepEqual(got, [...range(4).map((i) => [i, 5, 1000 * i, 1000 * i + 1, undefined]), [4, 6, 7, 8, [1, 2, 3]]]);
    await s.close();
  });

  it('segments an older forwarder wrote (records without times) are still read after an upgrade, then new ones follow', async () => {
    // format 1: u32 length | u32 samples | u32 CRC-32 (over those 8 bytes and the payload) | payload
    const dir = path.join(tmp.dir, 'main');
    mkdirSync(dir, { recursive: true });
    const v1 = (p: Buffer, samples: number): Buffer => {
      const h = Buffer.alloc(12);
      h.writeUInt32LE(p.length, 0);
      h.writeUInt32LE(samples, 4);
      h.writeUInt32LE(crc32(p, crc32(h.subarray(0, 8))), 8);
      return Buffer.concat([h, p]);
    };
    writeFileSync(path.join(dir, '0000000000000001.seg'), Buffer.concat(range(5).map((i) => v1(payload(i), 7))));
    writeFileSync(path.join(dir, '0000000000000002.seg'), Buffer.concat(range(3, 5).map((i) => v1(payload(i), 7))));
    const s = open();
    for (const i of range(2, 8)) await s.append(payload(i), 9, { minTime: 1, maxTime: 2 });
    const r = s.reader('a');
    const got: { id: number; samples: number; minTime: number }[] = [];
    for (let rec = await r.next(); rec; rec = await r.next()) got.push({ id: rec.payload.readUInt32LE(0), samples: rec.samples, minTime: rec.minTime });
    assert.deepEqual(
      got.map((g) => g.id),
      [...range(5), ...range(3, 5), ...range(2, 8)],
    );
    assert.deepEqual(
      got.map((g) => g.samples),
      [...range(8).map(() => 7), ...range(2).map(() => 9)],
    );
    assert.ok(
      got.slice(0, 8).every((g) => Number.isNaN(g.minTime)),
      'old records: times unknown',
    );
    assert.ok(got.slice(8).every((g) => g.minTime === 1));
    assert.equal(s.records, 10);
    await s.close();
  });

  it("keeps every record and each reader's cursor across a restart", async () => {
    let s = open({ readers: ['a', 'b'] });
    for (const i of range(100)) await s.append(payload(i), 1);
    const a = s.reader('a');
    for (let n = 0; n < 40; n++) a.commit((await a.next())!.end);
    await s.close();

    s = open({ readers: ['a', 'b'] });
    for (const i of range(10, 100)) await s.append(payload(i), 1);
    assert.deepEqual((await readAll(s.reader('a'))).ids, range(70, 40));
    assert.deepEqual((await readAll(s.reader('b'))).ids, range(110));
    await s.close();
  });

  it('cuts a torn tail (half a record, a bad checksum) and keeps appending after it', async () => {
    const warnings: string[] = [];
    let s = open();
    for (const i of range(10)) await s.append(payload(i), 1);
    await s.close();
    const seg = readdirSync(path.join(tmp.dir, 'main'))
      .filter((f) => f.endsWith('.seg'))
      .sort()[0];
    const file = path.join(tmp.dir, 'main', seg);
    const size = statSync(file).size;
    // The process died mid-append: a header and part of its payload.
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(100, 0);
    appendFileSync(file, Buffer.concat([header, Buffer.alloc(30, 7)]));

    s = open({ warnings });
    assert.ok(
      warnings.some((w) => w.includes('torn')),
      warnings.join('\n'),
    );
    assert.equal(statSync(file).size, size);
    await s.append(payload(10), 1);
    assert.deepEqual((await readAll(s.reader('a'))).ids, range(11));
    await s.close();
  });

  it('cuts the last record when its checksum does not match (torn payload)', async () => {
    let s = open();
    for (const i of range(10)) await s.append(payload(i), 1);
    await s.close();
    const seg = readdirSync(path.join(tmp.dir, 'main'))
      .filter((f) => f.endsWith('.seg'))
      .sort()[0];
    const file = path.join(tmp.dir, 'main', seg);
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(file, bytes);
    s = open();
    assert.deepEqual((await readAll(s.reader('a'))).ids, range(9));
    await s.close();
  });

  it('recovers when the process died after writing but before any cursor moved', async () => {
    const s = open();
    for (const i of range(5)) await s.append(payload(i), 1);
    // no close(): as after kill -9 (the page cache keeps what was written)
    const s2 = open();
    assert.deepEqual((await readAll(s2.reader('a'))).ids, range(5));
    await s2.close();
    await s.close();
  });

  it('an unreadable cursors file means "deliver everything again", not "lose it"', async () => {
    let s = open();
    for (const i of range(5)) await s.append(payload(i), 1);
    const r = s.reader('a');
    r.commit((await r.next())!.end);
    await s.close();
    writeFileSync(path.join(tmp.dir, 'main', 'cursors.json'), '{not json');
    const warnings: string[] = [];
    s = open({ warnings });
    assert.ok(warnings.some((w) => w.includes('unreadable')));
    assert.deepEqual((await readAll(s.reader('a'))).ids, range(5));
    await s.close();
  });

  it('a reader added later starts at the slowest existing cursor; a removed one no longer holds data', async () => {
    let s = open({ readers: ['a', 'b'] });
    for (const i of range(20)) await s.append(payload(i), 1);
    const a = s.reader('a');
    for (let n = 0; n < 5; n++) a.commit((await a.next())!.end);
    const b = s.reader('b');
    for (let n = 0; n < 12; n++) b.commit((await b.next())!.end);
    await s.close();
    s = open({ readers: ['b', 'c'] });
    assert.deepEqual((await readAll(s.reader('c'))).ids, range(8, 12));
    await s.close();
  });
});

describe('spool: space', () => {
  it('deletes a segment once every reader has passed it, not before', async () => {
    const s = open({ readers: ['a', 'b'], segmentBytes: 64 * 1024 });
    for (const i of range(300)) await s.append(payload(i, 1000), 1);
    const before = s.segmentCount;
    await readAll(s.reader('a'));
    await s.flushCheckpoint();
    assert.equal(s.segmentCount, before, 'b has read nothing: every segment stays');
    await readAll(s.reader('b'));
    await s.flushCheckpoint();
    assert.equal(s.segmentCount, 1, 'only the segment being written is left');
    assert.ok(s.bytes < 64 * 1024);
    await s.close();
  });

  it('reject: appends past SPOOL_MAX_BYTES fail with SpoolFullError, and succeed again once space is freed', async () => {
    const budget = new SpoolBudget(200 * 1024, 'reject');
    const s = open({ budget, segmentBytes: 64 * 1024 });
    let accepted = 0;
    let full: unknown;
    for (const i of range(400)) {
      try {
        await s.append(payload(i, 1000), 1);
        accepted++;
      } catch (err) {
        full = err;
        break;
      }
    }
    assert.ok(full instanceof SpoolFullError, String(full));
    assert.ok(budget.used <= 200 * 1024);
    assert.ok(accepted > 150);
    assert.deepEqual((await readAll(s.reader('a'))).ids, range(accepted)); // nothing accepted was lost
    await s.flushCheckpoint();
    await s.append(payload(9999, 1000), 1);
    await s.close();
  });

  it('drop-oldest: makes room by deleting the oldest segments, counting what the slowest reader lost', async () => {
    const drops: DropInfo[] = [];
    const budget = new SpoolBudget(200 * 1024, 'drop-oldest');
    const s = open({ budget, segmentBytes: 64 * 1024, drops, readers: ['a', 'b'] });
    for (const i of range(1000)) await s.append(payload(i, 1000), 2);
    assert.ok(budget.used <= 200 * 1024);
    assert.ok(drops.length > 0);
    const lostRecords = drops.reduce((n, d) => n + d.records, 0);
    assert.equal(
      drops.reduce((n, d) => n + d.samples, 0),
      lostRecords * 2,
    );
    const got = (await readAll(s.reader('a'))).ids;
    assert.equal(got.length + lostRecords, 1000, 'every record is either read or counted as dropped');
    assert.deepEqual(got, range(got.length, 1000 - got.length), 'what is left is the newest data, in order');
    await s.close();
  });

  it('lanes (cap-exempt spools) give way first under drop-oldest, and are never refused under reject', async () => {
    const budget = new SpoolBudget(256 * 1024, 'reject');
    const main = open({ budget, segmentBytes: 64 * 1024 });
    const lane = Spool.open({ dir: path.join(tmp.dir, 'lanes', 'x'), name: 'lane:x', segmentBytes: 64 * 1024, readers: ['lane'], budget, capExempt: true });
    for (const i of range(300)) await lane.append(payload(i, 1000), 1);
    assert.ok(budget.used > 256 * 1024);
    await assert.rejects(main.append(payload(1), 1), SpoolFullError);
    await lane.close();
    await main.close();

    const budget2 = new SpoolBudget(256 * 1024, 'drop-oldest');
    const drops: DropInfo[] = [];
    const lane2 = Spool.open({
      dir: path.join(tmp.dir, 'lanes2', 'x'),
      name: 'lane:x',
      segmentBytes: 64 * 1024,
      readers: ['lane'],
      budget: budget2,
      capExempt: true,
      onDrop: (d) => drops.push(d),
    });
    const main2 = open({ budget: budget2, segmentBytes: 64 * 1024, dir: path.join(tmp.dir, 'main2'), drops });
    for (const i of range(150)) await lane2.append(payload(i, 1000), 1);
    for (const i of range(150)) await main2.append(payload(i, 1000), 1);
    assert.ok(drops.length > 0 && drops.every((d) => d.spool === 'lane:x'), JSON.stringify(drops.map((d) => d.spool)));
    assert.deepEqual((await readAll(main2.reader('a'))).ids, range(150));
    await lane2.close();
    await main2.close();
  });

  it('leaves no temporary files behind', async () => {
    const s = open();
    await s.append(payload(1), 1);
    const r = s.reader('a');
    r.commit((await r.next())!.end);
    await s.close();
    const files = readdirSync(path.join(tmp.dir, 'main'));
    assert.ok(files.includes('cursors.json'));
    assert.ok(!files.some((f) => f.includes('.tmp')), files.join(','));
    assert.ok(existsSync(path.join(tmp.dir, 'main')));
  });
});

/** Flips a byte in every record of the main spool's segments (records of `size` payload bytes). */
function damageEveryRecord(size: number): void {
  const dir = path.join(tmp.dir, 'main');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.seg'))) {
    const bytes = readFileSync(path.join(dir, f));
    for (let off = 0; off + HEADER_BYTES < bytes.length; off += HEADER_BYTES + size) bytes[off + HEADER_BYTES + 100] ^= 0xff;
    writeFileSync(path.join(dir, f), bytes);
  }
}

describe('spool: reading back', () => {
  it('every record is read back from its segment and checked, even by a reader that keeps up: what is sent is what is on disk', async () => {
    const drops: DropInfo[] = [];
    const perSegment = 16;
    const size = 64 * 1024 - HEADER_BYTES; // 16 records fill a 1 MiB segment exactly
    const s = open({ segmentBytes: perSegment * 64 * 1024, drops, readers: ['a', 'b'] });
    for (const i of range(2 * perSegment)) {
      await s.append(payload(i, size), i);
      assert.equal((await s.reader('b').next())?.samples, i, 'b reads each record as soon as it is appended');
    }
    damageEveryRecord(size);
    const got = await readAll(s.reader('a'));
    assert.deepEqual(got.ids, [], 'no record comes from anywhere but its (damaged) segment');
    assert.equal(drops.filter((d) => d.reason === 'corrupt').length, 2, 'each damaged segment skipped as corrupt');
    await s.close();
  });

  it('a reader that has caught up reads the newest record and its header in one read, checked all the same', async () => {
    const drops: DropInfo[] = [];
    const s = open({ drops });
    await s.append(payload(1, 1000), 7);
    const rec = await s.reader('a').next();
    assert.equal(rec?.samples, 7);
    assert.deepEqual(rec?.payload, payload(1, 1000));
    await s.append(payload(2, 1000), 8);
    damageEveryRecord(1000);
    assert.equal(await s.reader('a').next(), undefined, 'the damaged newest record is not handed out');
    assert.equal(drops.filter((d) => d.reason === 'corrupt').length, 1);
    await s.close();
  });
});

describe('spool: damaged segments', () => {
  it('a damaged length field in a sealed segment is not "torn": nothing after it is cut, readers skip only that segment\'s rest', async () => {
    const drops: DropInfo[] = [];
    let s = open({ segmentBytes: 64 * 1024 });
    for (const i of range(200)) await s.append(payload(i, 1000), 1);
    await s.close();
    const segs = readdirSync(path.join(tmp.dir, 'main'))
      .filter((f) => f.endsWith('.seg'))
      .sort();
    const first = path.join(tmp.dir, 'main', segs[0]);
    const size = statSync(first).size;
    const bytes = readFileSync(first);
    const tenth = 10 * (HEADER_BYTES + 1000);
    bytes.writeUInt32LE(0x7fffffff, tenth); // the 11th record's length
    writeFileSync(first, bytes);
    s = open({ segmentBytes: 64 * 1024, drops });
    assert.equal(statSync(first).size, size, 'the sealed segment is kept whole');
    const got = (await readAll(s.reader('a'))).ids;
    const perSegment = Math.floor((64 * 1024) / (HEADER_BYTES + 1000));
    assert.deepEqual(got, [...range(10), ...range(200 - perSegment, perSegment)]);
    assert.ok(drops.some((d) => d.reason === 'corrupt'));
    await s.close();
  });

  it('skips a corrupt older segment, counts it, and keeps reading the next one', async () => {
    const drops: DropInfo[] = [];
    let s = open({ segmentBytes: 64 * 1024 });
    for (const i of range(200)) await s.append(payload(i, 1000), 1);
    await s.close();
    const segs = readdirSync(path.join(tmp.dir, 'main'))
      .filter((f) => f.endsWith('.seg'))
      .sort();
    const first = path.join(tmp.dir, 'main', segs[0]);
    const bytes = readFileSync(first);
    bytes[HEADER_BYTES + 500] ^= 0xff; // a payload byte of the first record
    writeFileSync(first, bytes);
    truncateSync(first, bytes.length); // same size: only the checksum can tell
    s = open({ segmentBytes: 64 * 1024, drops });
    const got = (await readAll(s.reader('a'))).ids;
    assert.ok(drops.some((d) => d.reason === 'corrupt'));
    assert.ok(got.length > 100 && got[0] > 0, `read ${got.length}, first ${got[0]}`);
    assert.deepEqual(got, range(got.length, 200 - got.length));
    await s.close();
  });
});
