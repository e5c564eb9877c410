// The spool's parts on their own, for the failures spool.test.ts cannot provoke through
// Spool: a write or a flush the disk refuses (an append must then fail with 503, never
// leave half a record, and start a new segment), and the coalescing of cursor writes.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { CheckpointScheduler } from '../../local-proxy/spool-checkpoint';
import { GroupCommit } from '../../local-proxy/spool-commit';
import { SpoolWriteError } from '../../local-proxy/spool-errors';
import { encodeHeader } from '../../local-proxy/spool-record';
import { type Segment, createSegment, writeRecord } from '../../local-proxy/spool-segment';
import { tempDir } from '../../dev/kit/temp-dir';

let tmp: { dir: string; remove(): void };
beforeEach(() => {
  tmp = tempDir('spool-parts');
});
afterEach(() => tmp.remove());

function record(seg: Segment, bytes: number): void {
  const payload = Buffer.alloc(bytes, 7);
  writeRecord(seg, encodeHeader(payload, 1), payload);
}

describe('spool parts: a disk that refuses', () => {
  it('a refused write leaves nothing of the record in the segment, and the segment is given up for the next append', () => {
    const seg = createSegment(tmp.dir, 1);
    record(seg, 100);
    const good = readFileSync(seg.file);
    closeSync(seg.fd!);
    seg.fd = openSync(seg.file, 'r'); // writes now fail (EBADF), and so does cutting back
    assert.throws(() => record(seg, 100), { code: 'EBADF' });
    assert.equal(seg.size, good.length, 'the size counts only whole records');
    assert.deepEqual(readFileSync(seg.file), good, 'no half record on disk');
    assert.equal(seg.broken, true, 'the spool rotates before the next append');
    closeSync(seg.fd);
  });

  it('a failed flush rejects every append waiting on it with SpoolWriteError and reports it; the next good flush clears it', async () => {
    const bad: Segment = { id: 1, file: 'gone', size: 10, synced: 0, records: 1, samples: 1, fd: 999_999, broken: false, format: 2 };
    let current = bad;
    const reports: (string | undefined)[] = [];
    let flushed = 0;
    const commits = new GroupCommit(tmp.dir, { current: () => current, report: (e) => reports.push(e), flushed: () => flushed++ });
    const results = await Promise.allSettled([commits.durable(), commits.durable()]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof SpoolWriteError);
      assert.match((r.reason as Error).message, new RegExp(`^cannot flush the spool in ${tmp.dir}: EBADF`));
    }
    assert.equal(bad.broken, true, 'nothing more is appended to it');
    assert.equal(bad.synced, 0, 'readers never see unflushed bytes');
    assert.equal(flushed, 0, 'readers are not woken for data that is not durable');
    assert.match(reports.at(-1) ?? '', /EBADF/, 'the readiness check sees the failure');

    current = createSegment(tmp.dir, 2);
    record(current, 100);
    await commits.durable();
    assert.equal(current.synced, current.size, 'flushed bytes become readable');
    assert.equal(reports.at(-1), undefined, 'a good flush clears the failure');
    assert.equal(flushed, 1);
    closeSync(current.fd!);
  });

  it('appends made while a flush runs share the next one (two flushes for ten appends)', async () => {
    const seg = createSegment(tmp.dir, 1);
    const commits = new GroupCommit(tmp.dir, { current: () => seg, report: () => undefined, flushed: () => undefined });
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      record(seg, 100);
      acks.push(commits.durable());
    }
    await Promise.all(acks);
    assert.equal(commits.syncCount, 2);
    assert.equal(seg.synced, statSync(seg.file).size);
    closeSync(seg.fd!);
  });
});

describe('spool parts: cursor writes', () => {
  it('requests made while a write runs are coalesced into one more, flush() waits for it, and none start once stopped', async () => {
    let passes = 0;
    let release: () => void = () => undefined;
    let stopped = false;
    const scheduler = new CheckpointScheduler(
      () => {
        passes++;
        return new Promise<void>((r) => (release = r));
      },
      () => stopped,
    );
    scheduler.schedule();
    for (let i = 0; i < 5; i++) scheduler.schedule();
    assert.equal(passes, 1, 'one write at a time');
    const done = scheduler.flush();
    release();
    await new Promise((r) => setImmediate(r));
    assert.equal(passes, 2, 'the five requests made meanwhile are one more write');
    release();
    await done;
    assert.equal(passes, 2);

    scheduler.schedule();
    scheduler.schedule();
    stopped = true;
    const flushed = scheduler.flush(); // the write asked for before closing starts without waiting out the interval
    await new Promise((r) => setImmediate(r));
    release();
    await flushed;
    assert.equal(passes, 3, 'no further write once the spool is closing');
  });

  it('while cursors keep moving, a write starts CHECKPOINT_INTERVAL after the one before at the earliest; flush() does not wait for it', async () => {
    const starts: number[] = [];
    const scheduler = new CheckpointScheduler(
      async () => {
        starts.push(Date.now());
      },
      () => false,
      150,
    );
    const t0 = Date.now();
    scheduler.schedule();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 10));
      scheduler.schedule();
    }
    // 200+ ms of requests: the first write at once, then one per interval
    assert.ok(starts[0] - t0 < 50, 'the first write at once');
    assert.ok(starts.length >= 2 && starts.length <= 3, `${starts.length} writes in ${Date.now() - t0} ms`);
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i] - starts[i - 1] >= 145, `writes ${starts[i] - starts[i - 1]} ms apart`);
    scheduler.schedule();
    const before = starts.length;
    const f0 = Date.now();
    await scheduler.flush();
    assert.ok(Date.now() - f0 < 100, `flush took ${Date.now() - f0} ms`);
    assert.ok(starts.length > before, 'flush ran the pending write');
  });
});
