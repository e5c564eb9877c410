// One consumer's view of a spool (a delivery lane): reads records ahead of its cursor,
// checksummed, and commits the cursor once a batch is settled. Reads are async and may race
// with drop-oldest moving the cursor; a generation counter discards such reads.

import type * as fs from 'node:fs';
import { open } from 'node:fs/promises';
import { type Position, type SpoolRecord, checksumMatches, comparePositions, decodeHeader, hashesOf, headerBytes, plausible } from './spool-record';
import type { Segment } from './spool-segment';
import type { SpoolView } from './spool-view';
import type { BufferPool } from '../shared/buffers/pool';

/**
 * A reader that has caught up reads the header and the record in one read when no more than
 * this is left to read (a lane that keeps up: the newest record); a lane further behind reads
 * each record with the next one's header instead.
 */
const WHOLE_READ_BYTES = 256 * 1024;

/** One consumer's view of a spool: reads ahead from its cursor, commits after delivery. */
export class SpoolReader {
  committed: Position;
  private ahead: Position;
  private pushed: SpoolRecord | undefined;
  private handle: { segment: number; fh: fs.promises.FileHandle } | undefined;
  /** bumped when drop-oldest moves this reader, so a read in flight is discarded */
  private generation = 0;
  /** the header of the record after the last one read from a segment, read along with it */
  private peeked: { segment: number; offset: number; header: Buffer } | undefined;

  constructor(
    readonly spool: SpoolView,
    readonly name: string,
    start: Position,
    /** where payloads read from a segment come from; release() gives them back */
    private readonly pool?: BufferPool,
  ) {
    this.committed = { ...start };
    this.ahead = { ...start };
  }

  /** Where the next read starts (after what was read ahead). */
  get readPosition(): Readonly<Position> {
    return this.ahead;
  }

  /** The next record after what was read, or undefined if there is none (yet). */
  async next(): Promise<SpoolRecord | undefined> {
    if (this.pushed) {
      const r = this.pushed;
      this.pushed = undefined;
      return r;
    }
    for (;;) {
      if (this.spool.isClosed) return undefined;
      const gen = this.generation;
      const seg = this.spool.segmentAtOrAfter(this.ahead.segment);
      if (!seg) return undefined;
      if (seg.id !== this.ahead.segment) this.ahead = { segment: seg.id, offset: 0 };
      const offset = this.ahead.offset;
      const end = this.spool.readableEnd(seg);
      const hb = headerBytes(seg.format);
      if (offset + hb > end) {
        if (this.spool.isCurrent(seg)) return undefined;
        const next = this.spool.segmentAfter(seg.id);
        if (!next) return undefined;
        this.ahead = { segment: next.id, offset: 0 };
        continue;
      }
      // The header: read along with the record before; or, caught up (little left to read),
      // in one read with the record itself; or on its own.
      const peeked = this.peeked;
      this.peeked = undefined;
      const fromPeek = peeked?.segment === seg.id && peeked.offset === offset;
      const whole = !fromPeek && end - offset <= WHOLE_READ_BYTES ? end - offset : 0;
      let fh: fs.promises.FileHandle;
      try {
        fh = await this.handleFor(seg.id, seg.file);
      } catch (err) {
        if (gen !== this.generation || !this.spool.hasSegment(seg)) continue; // dropped meanwhile
        throw err;
      }
      if (gen !== this.generation) continue;
      let header: Buffer;
      let read: Buffer | undefined; // the record's bytes, from `at` on
      let at = hb;
      if (fromPeek) header = peeked.header;
      else {
        const buf = whole > 0 ? this.lease(whole) : Buffer.allocUnsafe(hb);
        if (!(await this.readInto(fh, buf, whole || hb, offset, gen, seg))) continue;
        header = buf.subarray(0, hb);
        if (whole > 0) read = buf;
      }
      const h = decodeHeader(header, seg.format);
      if (!plausible(h) || offset + hb + h.length > end) {
        if (read) this.pool?.release(read);
        this.corrupt(seg, offset, 'record runs past the end of its segment');
        continue;
      }
      // The next record's header comes in the same read when it is readable already: one
      // read per record (a thread-pool job and its wake-ups each) instead of two.
      const after = offset + hb + h.length;
      const peek = after + hb <= end ? hb : 0;
      if (!read) {
        read = this.lease(h.length + peek);
        at = 0;
        if (!(await this.readInto(fh, read, h.length + peek, offset + hb, gen, seg))) continue;
      }
      const payload = read.subarray(at, at + h.length);
      if (!checksumMatches(header, payload, seg.format)) {
        this.pool?.release(read);
        this.corrupt(seg, offset, 'checksum mismatch');
        continue;
      }
      if (peek > 0) this.peeked = { segment: seg.id, offset: after, header: Buffer.from(read.subarray(at + h.length, at + h.length + peek)) };
      const start = { segment: seg.id, offset };
      this.ahead = { segment: seg.id, offset: after };
      // format 3: the series hashes first (a view: a pooled lease starts 4-byte aligned), then the block
      const rec: SpoolRecord = {
        payload: payload.subarray(h.hashBytes),
        samples: h.samples,
        minTime: h.minTime,
        maxTime: h.maxTime,
        start,
        end: { ...this.ahead },
      };
      if (h.hashBytes > 0) rec.seriesHashes = hashesOf(payload, h.hashBytes);
      return rec;
    }
  }

  private corrupt(seg: Segment, offset: number, why: string): void {
    this.spool.skipCorrupt(seg, offset, this.name, why);
    const next = this.spool.segmentAfter(seg.id);
    this.ahead = next ? { segment: next.id, offset: 0 } : { segment: seg.id + 1, offset: 0 };
  }

  /**
   * The record's payload (and every view on it) is no longer used: its memory is read into
   * again. Only for records this reader read from a segment; anything else is ignored.
   */
  release(rec: SpoolRecord): void {
    this.pool?.release(rec.payload);
  }

  /** Gives back the last record read (it did not fit the batch). */
  unread(rec: SpoolRecord): void {
    this.pushed = rec;
  }

  /** Reading restarts at the committed cursor (a batch was abandoned). */
  rewind(): void {
    this.pushed = undefined;
    this.peeked = undefined;
    this.ahead = { ...this.committed };
    this.generation++;
  }

  /** Everything before p is delivered (or deliberately dropped). */
  commit(p: Position): void {
    if (this.spool.isClosed) return; // a send abandoned at shutdown came back late: it is sent again after restart
    let pos = p;
    const seg = this.spool.segmentAtOrAfter(pos.segment);
    if (seg && seg.id === pos.segment && !this.spool.isCurrent(seg) && pos.offset >= seg.size) {
      // At the end of a sealed segment: point at the next one so this one can be deleted.
      const next = this.spool.segmentAfter(seg.id);
      if (next) pos = { segment: next.id, offset: 0 };
    }
    if (comparePositions(pos, this.committed) <= 0) return;
    this.committed = pos;
    if (comparePositions(this.ahead, pos) < 0) this.ahead = { ...pos };
    this.spool.scheduleCheckpoint();
  }

  /** drop-oldest moved the data out from under this reader. */
  skipTo(p: Position): void {
    if (comparePositions(this.committed, p) < 0) this.committed = { ...p };
    if (comparePositions(this.ahead, p) < 0) {
      this.ahead = { ...p };
      this.generation++;
      this.peeked = undefined;
    }
    if (this.pushed && comparePositions(this.pushed.start, p) < 0) this.pushed = undefined;
  }

  pendingBytes(): number {
    return this.spool.bytesAfter(this.committed);
  }

  pendingSamples(): number {
    return this.spool.samplesAfter(this.committed);
  }

  /** True when everything ever appended is delivered (appends still being flushed count as pending). */
  isDrained(): boolean {
    return this.spool.bytesAfter(this.committed, true) === 0;
  }

  waitForData(ms: number, signal?: AbortSignal): Promise<void> {
    return this.spool.waitForData(ms, signal);
  }

  /**
   * Reads len bytes at pos into buf. False when the read no longer counts (drop-oldest moved
   * this reader, or took the segment, meanwhile): buf is given back and the caller starts over.
   */
  private async readInto(fh: fs.promises.FileHandle, buf: Buffer, len: number, pos: number, gen: number, seg: Segment): Promise<boolean> {
    try {
      if (len > 0) await fh.read(buf, 0, len, pos);
    } catch (err) {
      this.pool?.release(buf);
      if (gen !== this.generation || !this.spool.hasSegment(seg)) return false;
      throw err;
    }
    if (gen === this.generation) return true;
    this.pool?.release(buf);
    return false;
  }

  /** A buffer to read into: the pool's (given back by release()) when there is one. */
  private lease(size: number): Buffer {
    return this.pool ? this.pool.acquire(size) : Buffer.allocUnsafe(size);
  }

  private async handleFor(segment: number, file: string): Promise<fs.promises.FileHandle> {
    if (this.handle?.segment === segment) return this.handle.fh;
    await this.closeHandle();
    const fh = await open(file, 'r');
    this.handle = { segment, fh };
    return fh;
  }

  async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h) await h.fh.close().catch(() => undefined);
  }
}
