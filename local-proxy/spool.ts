// The spool: a write-ahead log of accepted requests, so that a 204 means "on disk".
//
// - Records are appended to the current segment file; append() resolves only after an
//   fdatasync that covers the record, shared by concurrent appends (spool-commit.ts).
// - Segments rotate at segmentBytes. On open, the last segment is scanned and cut at the
//   first torn or corrupt record (those were never acknowledged), and a new one starts
//   (spool-segment.ts).
// - Each reader (a delivery lane, spool-reader.ts) has a cursor (segment, offset). Cursors
//   are kept in cursors.json (spool-checkpoint.ts) after deliveries; a segment is deleted
//   once every reader's durable cursor is past it.
// - One SpoolBudget (spool-budget.ts) caps the bytes of all spools under SPOOL_DIR; when
//   full it either refuses appends (reject) or deletes the oldest segments (drop-oldest).
// This module ties those together: the segment list, the readers, open, append, close.

import * as fs from 'node:fs';
import { Doorbell } from './doorbell';
import type { BudgetMember, SpoolBudget } from './spool-budget';
import { CheckpointScheduler, type Cursors, loadCursors, removeStaleTemps, saveCursors, saveCursorsSync } from './spool-checkpoint';
import { GroupCommit } from './spool-commit';
import { SpoolClosedError, SpoolWriteError } from './spool-errors';
import { SpoolReader } from './spool-reader';
import { CURRENT_FORMAT, HEADER_BYTES, type Position, type TimeRange, UNKNOWN_TIMES, comparePositions, encodeHeader, hashBytesOf } from './spool-record';
import { type Segment, countFrom, createSegment, listSegmentIds, scanSegment, writeRecord } from './spool-segment';
import type { SpoolView } from './spool-view';
import { asError } from '../shared/errors';
import { type BufferPoolStats, createBufferPool } from '../shared/buffers/pool';

export { SpoolBudget } from './spool-budget';
export { SpoolClosedError, SpoolFullError, SpoolWriteError } from './spool-errors';
export { type Position, type SpoolRecord, type TimeRange, comparePositions } from './spool-record';
export { SpoolReader } from './spool-reader';
export type { Segment } from './spool-segment';

/**
 * Buffers a spool's readers read records back into, reused once lanes have settled them
 * (shared/buffers/pool.ts says why): quarter-step classes, as a lane holds up to 24 MiB of
 * payloads read ahead and in flight; records under 16 KiB come from Node's slab.
 */
const READ_POOL = { minBytes: 16 * 1024, plainBelow: 16 * 1024, classSteps: 4, maxIdleBytes: 32 * 1024 * 1024 } as const;

export interface DropInfo {
  spool: string;
  segment: number;
  records: number;
  samples: number;
  bytes: number;
  reason: 'spool_full' | 'corrupt';
}

export interface SpoolOptions {
  dir: string;
  /** for logs and metrics: "main", "lane:<id>" */
  name: string;
  segmentBytes: number;
  readers: readonly string[];
  budget: SpoolBudget;
  /** appends never fail on the cap (relay-mode lanes) */
  capExempt?: boolean;
  onDrop?: (info: DropInfo) => void;
  onWarning?: (msg: string, fields: Record<string, string | number>) => void;
}

export class Spool implements SpoolView, BudgetMember {
  readonly dir: string;
  readonly name: string;
  readonly capExempt: boolean;
  private readonly segmentBytes: number;
  private readonly budget: SpoolBudget;
  private readonly opts: SpoolOptions;
  private segments: Segment[] = [];
  private readonly readerMap = new Map<string, SpoolReader>();
  private readonly commits: GroupCommit;
  private readonly checkpoints: CheckpointScheduler;
  /** payloads its readers read back from segments, reused once a lane has settled them */
  private readonly readPool = createBufferPool(READ_POOL);
  private readonly dataBell = new Doorbell();
  private closed = false;
  /** last write/flush failure, cleared by the next successful flush */
  lastError: string | undefined;
  /** samples appended since open (the delivery lanes' intake rate) */
  appendedSamples = 0;

  private constructor(opts: SpoolOptions) {
    this.opts = opts;
    this.dir = opts.dir;
    this.name = opts.name;
    this.capExempt = opts.capExempt ?? false;
    this.segmentBytes = opts.segmentBytes;
    this.budget = opts.budget;
    this.commits = new GroupCommit(opts.dir, {
      current: () => this.current,
      report: (error) => {
        this.lastError = error;
      },
      flushed: () => this.dataBell.ring(),
    });
    this.checkpoints = new CheckpointScheduler(
      () => this.checkpointPass(),
      () => this.closed,
    );
  }

  /** Opens (or creates) the spool in dir: recovers segments and cursors, starts a new segment. */
  static open(opts: SpoolOptions): Spool {
    const s = new Spool(opts);
    s.recover();
    opts.budget.spools.add(s);
    return s;
  }

  // ---- state ----

  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.size, 0);
  }

  get records(): number {
    return this.segments.reduce((n, s) => n + s.records, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** the buffers its readers read records back into (reused once lanes settle them) */
  get readBuffers(): BufferPoolStats {
    return this.readPool.stats();
  }

  /** fdatasync calls made for appends (group commit shows as syncs < appends) */
  get syncCount(): number {
    return this.commits.syncCount;
  }

  reader(name: string): SpoolReader {
    const r = this.readerMap.get(name);
    if (!r) throw new Error(`spool ${this.name} has no reader ${name}`);
    return r;
  }

  readers(): SpoolReader[] {
    return [...this.readerMap.values()];
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private get current(): Segment {
    return this.segments[this.segments.length - 1];
  }

  // ---- appending ----

  /**
   * Appends one record with its samples' time range; resolves once it is durable. The
   * write itself happens before this returns (only the flush is awaited), so the record
   * counts as pending for every reader from then on, and the payload is not referenced
   * after it returns. `seriesHashes` (the native scan's, as seriesHashes() gives them) are
   * stored with it, so lanes route it to shards without decompressing it; neither are they
   * referenced after it returns. Throws SpoolFullError/SpoolWriteError/SpoolClosedError.
   */
  append(payload: Buffer, samples: number, times: TimeRange = UNKNOWN_TIMES, seriesHashes?: Uint32Array): Promise<void> {
    if (this.closed) return Promise.reject(new SpoolClosedError('spool is closed (shutting down)'));
    const hashes = seriesHashes !== undefined && seriesHashes.length > 0 ? hashBytesOf(seriesHashes) : undefined;
    const size = HEADER_BYTES + (hashes?.length ?? 0) + payload.length;
    try {
      this.budget.reserve(size, this);
      let cur = this.current;
      if (cur.broken || (cur.size > 0 && cur.size + size > this.segmentBytes)) {
        this.rotate();
        cur = this.current;
      }
      const header = encodeHeader(payload, samples, times, hashes);
      try {
        writeRecord(cur, header, payload, hashes);
      } catch (err) {
        this.lastError = (err as Error).message;
        throw new SpoolWriteError(`cannot write to the spool in ${this.dir}: ${(err as Error).message}`);
      }
      cur.records++;
      cur.samples += samples;
      this.appendedSamples += samples;
      this.budget.used += size;
    } catch (err) {
      return Promise.reject(asError(err));
    }
    return this.commits.durable();
  }

  /** Seals the current segment (flushed, so its waiters are acknowledged) and starts a new one. */
  private rotate(): void {
    const old = this.current;
    this.commits.seal(old);
    this.segments.push(createSegment(this.dir, old.id + 1));
    this.dataBell.ring();
  }

  // ---- recovery ----

  private recover(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const ids = listSegmentIds(this.dir);
    for (const [i, id] of ids.entries()) {
      const seg = scanSegment(this.dir, id, i === ids.length - 1, this.name, this.opts.onWarning);
      this.segments.push(seg);
      this.budget.used += seg.size;
    }
    removeStaleTemps(this.dir);

    const last = this.segments[this.segments.length - 1];
    if (last && last.size === 0) {
      last.fd = fs.openSync(last.file, 'r+');
      last.format = CURRENT_FORMAT; // empty: appends go in the current format
    } else {
      this.segments.push(createSegment(this.dir, last ? last.id + 1 : 1));
    }

    const saved = loadCursors(this.dir, this.name, this.opts.onWarning);
    const known = this.opts.readers.filter((r) => saved[r] !== undefined).map((r) => this.normalize(saved[r]));
    const start = known.length > 0 ? known.reduce((a, b) => (comparePositions(a, b) <= 0 ? a : b)) : { segment: this.segments[0].id, offset: 0 };
    for (const name of this.opts.readers) {
      // A reader new to this spool (an endpoint added) starts where the slowest known one is.
      const pos = saved[name] !== undefined ? this.normalize(saved[name]) : start;
      this.readerMap.set(name, new SpoolReader(this, name, pos, this.readPool));
    }
    for (const name of Object.keys(saved)) {
      if (!this.readerMap.has(name)) this.opts.onWarning?.('spool reader no longer configured, its cursor is dropped', { spool: this.name, reader: name });
    }
    saveCursorsSync(this.dir, this.cursorSnapshot());
    this.reclaim();
  }

  /** A saved position, moved to the oldest existing segment if its own is gone. */
  private normalize(p: Position): Position {
    const seg = this.segmentAtOrAfter(p.segment);
    if (!seg) return { segment: this.current.id, offset: 0 };
    if (seg.id !== p.segment) return { segment: seg.id, offset: 0 };
    const next = this.segmentAfter(seg.id);
    if (p.offset >= seg.size && next) return { segment: next.id, offset: 0 };
    return { segment: seg.id, offset: Math.min(p.offset, seg.size) };
  }

  // ---- reading support (SpoolView) ----

  segmentAtOrAfter(id: number): Segment | undefined {
    return this.segments.find((s) => s.id >= id);
  }

  segmentAfter(id: number): Segment | undefined {
    return this.segments.find((s) => s.id > id);
  }

  isCurrent(seg: Segment): boolean {
    return seg === this.current;
  }

  hasSegment(seg: Segment): boolean {
    return this.segments.includes(seg);
  }

  readableEnd(seg: Segment): number {
    return seg === this.current ? seg.synced : seg.size;
  }

  /**
   * Bytes after p: those a reader can see (flushed), or with `written` every byte appended,
   * flushed or not (zero only when a reader at p has everything ever appended).
   */
  bytesAfter(p: Readonly<Position>, written = false): number {
    let n = 0;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i];
      if (s.id < p.segment) break;
      const end = written ? s.size : this.readableEnd(s);
      n += end - (s.id === p.segment ? Math.min(p.offset, end) : 0);
    }
    return n;
  }

  /** Samples after p: exact for whole segments, prorated by bytes in p's own. */
  samplesAfter(p: Position): number {
    let n = 0;
    for (const s of this.segments) {
      if (s.id < p.segment) continue;
      n += s.id === p.segment && s.size > 0 ? Math.round((s.samples * (s.size - Math.min(p.offset, s.size))) / s.size) : s.samples;
    }
    return n;
  }

  /** Resolves at the next flush (new data), after ms, or on abort. */
  waitForData(ms: number, signal?: AbortSignal): Promise<void> {
    return this.dataBell.wait(ms, signal);
  }

  /** A reader found corrupt data in seg: count it, and make sure nothing more is written there. */
  skipCorrupt(seg: Segment, from: number, reader: string, why: string): void {
    if (seg === this.current) this.rotate();
    this.opts.onDrop?.({ spool: this.name, segment: seg.id, records: 0, samples: 0, bytes: seg.size - from, reason: 'corrupt' });
    this.opts.onWarning?.('spool segment is corrupt, the rest of it is skipped', { spool: this.name, segment: seg.id, offset: from, reader, error: why });
  }

  // ---- cursors and space ----

  /** Persists cursors soon (coalesced), then deletes segments every reader has passed. */
  scheduleCheckpoint(): void {
    this.checkpoints.schedule();
  }

  /** Waits until every cursor moved so far is on disk. */
  flushCheckpoint(): Promise<void> {
    return this.checkpoints.flush();
  }

  private async checkpointPass(): Promise<void> {
    const snapshot = this.cursorSnapshot();
    try {
      await saveCursors(this.dir, snapshot);
      await this.reclaimAsync(snapshot);
    } catch (err) {
      this.lastError = (err as Error).message;
      this.opts.onWarning?.('cannot write spool cursors (data will be sent again after a restart)', { spool: this.name, error: (err as Error).message });
    }
  }

  private cursorSnapshot(): Cursors {
    const out: Cursors = {};
    for (const [name, r] of this.readerMap) out[name] = { ...r.committed };
    return out;
  }

  /** The id below which every (durably saved) cursor has passed whole segments; undefined: no readers. */
  private passedBelow(durable: Cursors): number | undefined {
    const positions = Object.values(durable);
    return positions.length === 0 ? undefined : Math.min(...positions.map((p) => p.segment));
  }

  /** Deletes whole segments that every (durably saved) cursor has passed (at open). */
  private reclaim(durable: Cursors = this.cursorSnapshot()): void {
    const min = this.passedBelow(durable);
    while (min !== undefined && this.segments.length > 1 && this.segments[0].id < min) this.deleteSegment(this.segments[0]);
  }

  /**
   * reclaim() off the event loop, after each cursor write: unlinking a 16 MiB segment frees
   * its page cache, ~1 % of the event loop during a drain when done synchronously. Out of the
   * list first (nothing reads a passed segment, and drop-oldest must not pick it again); its
   * bytes leave the budget once the file is gone, and a segment that cannot be deleted goes
   * back to be tried again.
   */
  private async reclaimAsync(durable: Cursors): Promise<void> {
    const min = this.passedBelow(durable);
    while (min !== undefined && this.segments.length > 1 && this.segments[0].id < min) {
      const seg = this.segments.shift()!;
      try {
        await fs.promises.rm(seg.file, { force: true });
      } catch (err) {
        this.segments.unshift(seg);
        this.opts.onWarning?.('cannot delete a spool segment', { spool: this.name, segment: seg.id, error: (err as Error).message });
        return;
      }
      this.budget.used -= seg.size;
    }
  }

  private deleteSegment(seg: Segment): void {
    try {
      fs.rmSync(seg.file, { force: true });
    } catch (err) {
      this.opts.onWarning?.('cannot delete a spool segment', { spool: this.name, segment: seg.id, error: (err as Error).message });
      return;
    }
    this.segments = this.segments.filter((s) => s !== seg);
    this.budget.used -= seg.size;
  }

  canDrop(isRequester: boolean): boolean {
    if (this.closed) return false;
    if (this.segments.length > 1) return true;
    // Only the segment being written: droppable by sealing it first, unless that is the requester's own tail.
    return !isRequester && this.current.size > 0;
  }

  /** drop-oldest: deletes the oldest segment even if unread; returns false if there is none. */
  dropOldest(reason: 'spool_full'): boolean {
    if (this.segments.length === 1) {
      if (this.current.size === 0) return false;
      this.rotate();
    }
    const victim = this.segments[0];
    const next = this.segments[1];
    // Count what the slowest reader loses.
    let from = Infinity;
    for (const r of this.readerMap.values()) {
      if (r.committed.segment < victim.id) from = 0;
      else if (r.committed.segment === victim.id) from = Math.min(from, r.committed.offset);
    }
    const lost = from === Infinity ? { records: 0, samples: 0 } : countFrom(victim, from);
    this.deleteSegment(victim);
    for (const r of this.readerMap.values()) r.skipTo({ segment: next.id, offset: 0 });
    this.opts.onDrop?.({ spool: this.name, segment: victim.id, records: lost.records, samples: lost.samples, bytes: victim.size, reason });
    this.scheduleCheckpoint();
    return true;
  }

  /** Stops appends, flushes what was written, saves cursors, closes files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const cur = this.current;
    await this.commits.finish(cur);
    await this.flushCheckpoint();
    try {
      await saveCursors(this.dir, this.cursorSnapshot());
    } catch (err) {
      this.opts.onWarning?.('cannot write spool cursors at shutdown (data will be sent again)', { spool: this.name, error: (err as Error).message });
    }
    for (const r of this.readerMap.values()) await r.closeHandle();
    if (cur.fd !== undefined) fs.closeSync(cur.fd);
    cur.fd = undefined;
    this.dataBell.ring();
    this.budget.spools.delete(this);
  }
}
