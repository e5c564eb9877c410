// The last TAIL_CACHE_BYTES of appended payloads, kept in memory: lanes that keep up read
// them from here (no read syscalls, no checksum of bytes that never left memory) and fall
// back to the segment file for anything older.

import type { TimeRange } from './spool-record';

/** In-memory copy of the newest records (by payload, counted as the memory they retain). */
export const TAIL_CACHE_BYTES = 4 * 1024 * 1024;

/** A record appended recently, as it was handed to append(). */
export interface TailRecord extends TimeRange {
  segment: number;
  offset: number;
  /** bytes after its header in the segment (hashes and block) */
  length: number;
  /** the block */
  payload: Buffer;
  samples: number;
  seriesHashes?: Uint32Array;
  /** memory it keeps alive (a payload may be a view on a larger buffer) */
  retained: number;
}

export class TailCache {
  /** newest records, oldest first (from head), and by segment → offset */
  private fifo: TailRecord[] = [];
  private head = 0;
  private bytes = 0;
  private readonly index = new Map<number, Map<number, TailRecord>>();

  remember(segment: number, offset: number, payload: Buffer, samples: number, times: TimeRange, seriesHashes?: Uint32Array): void {
    const hashBytes = seriesHashes ? seriesHashes.length * 4 : 0;
    const retained = Math.max(payload.length, payload.buffer.byteLength) + hashBytes;
    if (retained > TAIL_CACHE_BYTES) return;
    const rec: TailRecord = { segment, offset, length: hashBytes + payload.length, payload, samples, retained, minTime: times.minTime, maxTime: times.maxTime };
    if (seriesHashes) rec.seriesHashes = seriesHashes;
    let bySeg = this.index.get(segment);
    if (!bySeg) this.index.set(segment, (bySeg = new Map<number, TailRecord>()));
    bySeg.set(offset, rec);
    this.fifo.push(rec);
    this.bytes += retained;
    while (this.bytes > TAIL_CACHE_BYTES) this.forgetOldest();
    // compact the FIFO now and then instead of shifting on every eviction
    if (this.head > 1024 && this.head * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.head);
      this.head = 0;
    }
  }

  /** The record at (segment, offset) if it is still in memory. */
  get(segment: number, offset: number): TailRecord | undefined {
    return this.index.get(segment)?.get(offset);
  }

  /** Forgets the records that start before p (every reader has read them). */
  forgetBefore(p: { segment: number; offset: number }): void {
    while (this.head < this.fifo.length) {
      const rec = this.fifo[this.head];
      if (rec.segment > p.segment || (rec.segment === p.segment && rec.offset >= p.offset)) return;
      this.forgetOldest();
    }
  }

  /** The segment is gone: its records are no longer served (their FIFO entries age out by themselves). */
  forgetSegment(segment: number): void {
    this.index.delete(segment);
  }

  private forgetOldest(): void {
    const rec = this.fifo[this.head];
    this.fifo[this.head++] = undefined as unknown as TailRecord;
    this.bytes -= rec.retained;
    const bySeg = this.index.get(rec.segment);
    if (bySeg?.get(rec.offset) === rec) {
      bySeg.delete(rec.offset);
      if (bySeg.size === 0) this.index.delete(rec.segment);
    }
  }
}
