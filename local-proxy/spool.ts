// The spool: a write-ahead log of accepted requests, so that a 204 means "on disk".
//
// - Records are appended to the current segment file; append() resolves only after an
//   fdatasync that covers the record. Concurrent appends share one fdatasync (group
//   commit): the ack costs one disk flush, not one per request, and never BATCH_MAX_WAIT.
// - Segments rotate at segmentBytes. On open, the last segment is scanned and cut at the
//   first torn or corrupt record (those were never acknowledged), and a new one starts.
// - Each reader (a delivery lane) has a cursor (segment, offset). Cursors are kept in
//   cursors.json, written atomically (tmp + fsync + rename) after deliveries; a segment is
//   deleted once every reader's durable cursor is past it.
// - One SpoolBudget caps the bytes of all spools under SPOOL_DIR (main + relay lanes);
//   when full it either refuses appends (reject) or deletes the oldest segments (drop-oldest).
// - The last TAIL_CACHE_BYTES of appended payloads stay in memory: lanes that keep up
//   read them from there (no read syscalls, no checksum of bytes that never left memory)
//   and fall back to the file for anything older.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SpoolFullPolicy } from './config';
import { HEADER_BYTES, MAX_RECORD_BYTES, type Position, type RecordFormat, type TimeRange, UNKNOWN_TIMES, V1_HEADER_BYTES, checksumMatches, comparePositions, decodeHeader, encodeHeader, headerBytes } from './spool-record';
import { Doorbell } from './doorbell';
import { SpoolReader } from './spool-reader';

export { type Position, type SpoolRecord, type TimeRange, comparePositions } from './spool-record';
export { SpoolReader } from './spool-reader';

export interface DropInfo {
  spool: string;
  segment: number;
  records: number;
  samples: number;
  bytes: number;
  reason: 'spool_full' | 'corrupt';
}

/** The cap is reached and the policy is reject: answer 503 so the sender keeps the data. */
export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
}

/** The disk refused a write or a flush: answer 503, the sender retries. */
export class SpoolWriteError extends Error {
  override readonly name = 'SpoolWriteError';
}

export class SpoolClosedError extends Error {
  override readonly name = 'SpoolClosedError';
}

export interface Segment {
  id: number;
  file: string;
  /** bytes written */
  size: number;
  /** bytes known durable: readers see only these */
  synced: number;
  records: number;
  samples: number;
  fd?: number;
  /** a write or flush failed on it: the next append starts a new segment */
  broken: boolean;
  /** record layout (spool-record.ts): 2 for every segment this version writes */
  format: RecordFormat;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** Shared byte cap over every spool in SPOOL_DIR. */
export class SpoolBudget {
  used = 0;
  readonly spools = new Set<Spool>();

  constructor(
    readonly maxBytes: number,
    readonly policy: SpoolFullPolicy,
  ) {}

  /** Makes room for n more bytes, or throws SpoolFullError. */
  reserve(n: number, requester: Spool): void {
    if (this.used + n <= this.maxBytes) return;
    if (this.policy === 'drop-oldest') {
      while (this.used + n > this.maxBytes) {
        const victim = this.pickVictim(requester);
        if (!victim || !victim.dropOldest('spool_full')) break;
      }
      if (this.used + n <= this.maxBytes) return;
    }
    // Lanes only take data the main spool already holds (and then frees): let them through.
    if (requester.capExempt) return;
    throw new SpoolFullError(`spool is full (${this.used} of ${this.maxBytes} bytes, SPOOL_FULL_POLICY=${this.policy})`);
  }

  /** Lanes (a lagging endpoint's backlog) give way first, the largest one first; then the main spool. */
  private pickVictim(requester: Spool): Spool | undefined {
    const droppable = [...this.spools].filter((s) => s.canDrop(s === requester));
    droppable.sort((a, b) => Number(b.capExempt) - Number(a.capExempt) || b.bytes - a.bytes);
    return droppable[0];
  }
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

/** In-memory copy of the newest records (by payload, counted as the memory they retain). */
export const TAIL_CACHE_BYTES = 4 * 1024 * 1024;

/** A record appended recently, as it was handed to append(). */
interface TailRecord extends TimeRange {
  segment: number;
  offset: number;
  payload: Buffer;
  samples: number;
  /** memory it keeps alive (a payload may be a view on a larger buffer) */
  retained: number;
}

const SEGMENT_RE = /^(\d{16})\.seg$/;
const CHECKPOINT = 'cursors.json';

function segmentFile(dir: string, id: number): string {
  return path.join(dir, `${String(id).padStart(16, '0')}.seg`);
}

/**
 * Which record layout a segment uses: the one under which its first record's checksum
 * holds. Segments this version writes are format 2; format 1 is an older forwarder's.
 */
function sniffFormat(fd: number, fileSize: number): RecordFormat {
  for (const format of [2, 1] as const) {
    const hb = format === 2 ? HEADER_BYTES : V1_HEADER_BYTES;
    if (fileSize < hb) continue;
    const header = Buffer.allocUnsafe(hb);
    fs.readSync(fd, header, 0, hb, 0);
    const h = decodeHeader(header, format);
    if (h.length > MAX_RECORD_BYTES || hb + h.length > fileSize) continue;
    const payload = Buffer.allocUnsafe(h.length);
    fs.readSync(fd, payload, 0, h.length, hb);
    if (checksumMatches(header, payload, format)) return format;
  }
  return 2;
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class Spool {
  readonly dir: string;
  readonly name: string;
  readonly capExempt: boolean;
  private readonly segmentBytes: number;
  private readonly budget: SpoolBudget;
  private readonly opts: SpoolOptions;
  private segments: Segment[] = [];
  private readonly readerMap = new Map<string, SpoolReader>();
  private waiters: Waiter[] = [];
  private syncing = false;
  private deferredCloses: number[] = [];
  private readonly dataBell = new Doorbell();
  private checkpointRunning: Promise<void> | undefined;
  private checkpointDirty = false;
  private closed = false;
  /** newest records, oldest first, and by segment → offset */
  private tail: TailRecord[] = [];
  private tailHead = 0;
  private tailBytes = 0;
  private readonly tailIndex = new Map<number, Map<number, TailRecord>>();
  /** last write/flush failure, cleared by the next successful flush */
  lastError: string | undefined;
  /** fdatasync calls made for appends (group commit shows as syncs < appends) */
  syncCount = 0;
  /** samples appended since open (the delivery lanes' intake rate) */
  appendedSamples = 0;

  private constructor(opts: SpoolOptions) {
    this.opts = opts;
    this.dir = opts.dir;
    this.name = opts.name;
    this.capExempt = opts.capExempt ?? false;
    this.segmentBytes = opts.segmentBytes;
    this.budget = opts.budget;
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

  // ---- appending ----

  /**
   * Appends one record with its samples' time range; resolves once it is durable. The
   * write itself happens before this returns (only the flush is awaited), so the record
   * counts as pending for every reader from then on. Throws SpoolFullError/SpoolWriteError/SpoolClosedError.
   */
  append(payload: Buffer, samples: number, times: TimeRange = UNKNOWN_TIMES): Promise<void> {
    if (this.closed) return Promise.reject(new SpoolClosedError('spool is closed (shutting down)'));
    const size = HEADER_BYTES + payload.length;
    try {
      this.budget.reserve(size, this);
      let cur = this.current;
      if (cur.broken || (cur.size > 0 && cur.size + size > this.segmentBytes)) {
        this.rotate();
        cur = this.current;
      }
      const offset = cur.size;
      const header = encodeHeader(payload, samples, times);
      this.writeRecord(cur, header, payload);
      this.remember(cur.id, offset, payload, header.readUInt32LE(4), times);
      cur.records++;
      cur.samples += samples;
      this.appendedSamples += samples;
      this.budget.used += size;
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.syncing) this.startSync();
    });
  }

  private writeRecord(seg: Segment, header: Buffer, payload: Buffer): void {
    const before = seg.size;
    try {
      let bufs = [header, payload];
      let left = header.length + payload.length;
      let pos = before;
      while (left > 0) {
        const n = fs.writevSync(seg.fd!, bufs, pos);
        left -= n;
        pos += n;
        if (left > 0) bufs = [Buffer.concat(bufs).subarray(n)];
      }
      seg.size = pos;
    } catch (err) {
      // Never leave half a record in the middle of a segment: cut it off, or give up on the segment.
      try {
        fs.ftruncateSync(seg.fd!, before);
      } catch {
        seg.broken = true;
      }
      this.lastError = (err as Error).message;
      throw new SpoolWriteError(`cannot write to the spool in ${this.dir}: ${(err as Error).message}`);
    }
  }

  private remember(segment: number, offset: number, payload: Buffer, samples: number, times: TimeRange): void {
    const retained = Math.max(payload.length, payload.buffer.byteLength);
    if (retained > TAIL_CACHE_BYTES) return;
    const rec: TailRecord = { segment, offset, payload, samples, retained, minTime: times.minTime, maxTime: times.maxTime };
    let bySeg = this.tailIndex.get(segment);
    if (!bySeg) this.tailIndex.set(segment, (bySeg = new Map()));
    bySeg.set(offset, rec);
    this.tail.push(rec);
    this.tailBytes += retained;
    while (this.tailBytes > TAIL_CACHE_BYTES) this.forgetOldest();
    // compact the FIFO now and then instead of shifting on every eviction
    if (this.tailHead > 1024 && this.tailHead * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailHead);
      this.tailHead = 0;
    }
  }

  private forgetOldest(): void {
    const rec = this.tail[this.tailHead];
    this.tail[this.tailHead++] = undefined as unknown as TailRecord;
    this.tailBytes -= rec.retained;
    const bySeg = this.tailIndex.get(rec.segment);
    if (bySeg?.get(rec.offset) === rec) {
      bySeg.delete(rec.offset);
      if (bySeg.size === 0) this.tailIndex.delete(rec.segment);
    }
  }

  /** The payload, samples and times of the record at (segment, offset) if it is still in memory. */
  cachedRecord(segment: number, offset: number): (TimeRange & { payload: Buffer; samples: number }) | undefined {
    return this.tailIndex.get(segment)?.get(offset);
  }

  private startSync(): void {
    const batch = this.waiters;
    this.waiters = [];
    if (batch.length === 0) return;
    const seg = this.current;
    const target = seg.size;
    this.syncing = true;
    this.syncCount++;
    fs.fdatasync(seg.fd!, (err) => {
      this.syncing = false;
      for (const fd of this.deferredCloses.splice(0)) fs.close(fd, () => undefined);
      if (err) {
        seg.broken = true;
        this.lastError = err.message;
        for (const w of batch) w.reject(new SpoolWriteError(`cannot flush the spool in ${this.dir}: ${err.message}`));
      } else {
        if (seg.synced < target) seg.synced = target;
        this.lastError = undefined;
        for (const w of batch) w.resolve();
        this.notify();
      }
      if (this.waiters.length > 0) this.startSync();
    });
  }

  private get current(): Segment {
    return this.segments[this.segments.length - 1];
  }

  /** Seals the current segment (flushed, so its waiters are acknowledged) and starts a new one. */
  private rotate(): void {
    const old = this.current;
    const queued = this.waiters;
    this.waiters = [];
    if (old.fd !== undefined) {
      let err: Error | undefined;
      try {
        fs.fdatasyncSync(old.fd);
        old.synced = old.size;
      } catch (e) {
        err = e as Error;
        this.lastError = err.message;
      }
      for (const w of queued) {
        if (err) w.reject(new SpoolWriteError(`cannot flush the spool in ${this.dir}: ${err.message}`));
        else w.resolve();
      }
      // An fdatasync may still be running on this fd in the thread pool: close it after.
      if (this.syncing) this.deferredCloses.push(old.fd);
      else fs.closeSync(old.fd);
      old.fd = undefined;
    }
    this.createSegment(old.id + 1);
    this.notify();
  }

  private createSegment(id: number): void {
    const file = segmentFile(this.dir, id);
    const fd = fs.openSync(file, 'w+');
    fsyncDir(this.dir); // the new name must survive a crash before its first ack
    this.segments.push({ id, file, size: 0, synced: 0, records: 0, samples: 0, fd, broken: false, format: 2 });
  }

  // ---- recovery ----

  private recover(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const ids = fs
      .readdirSync(this.dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const [i, id] of ids.entries()) {
      const seg = this.scanSegment(id, i === ids.length - 1);
      this.segments.push(seg);
      this.budget.used += seg.size;
    }
    for (const f of fs.readdirSync(this.dir)) if (f.startsWith(`${CHECKPOINT}.tmp`)) fs.rmSync(path.join(this.dir, f), { force: true });

    const last = this.segments[this.segments.length - 1];
    if (last && last.size === 0) {
      last.fd = fs.openSync(last.file, 'r+');
      last.format = 2; // empty: appends go in the current format
    } else {
      this.createSegment(last ? last.id + 1 : 1);
    }

    const saved = this.loadCheckpoint();
    const known = this.opts.readers.filter((r) => saved[r] !== undefined).map((r) => this.normalize(saved[r]));
    const start = known.length > 0 ? known.reduce((a, b) => (comparePositions(a, b) <= 0 ? a : b)) : { segment: this.segments[0].id, offset: 0 };
    for (const name of this.opts.readers) {
      // A reader new to this spool (an endpoint added) starts where the slowest known one is.
      const pos = saved[name] !== undefined ? this.normalize(saved[name]) : start;
      this.readerMap.set(name, new SpoolReader(this, name, pos));
    }
    for (const name of Object.keys(saved)) {
      if (!this.readerMap.has(name)) this.opts.onWarning?.('spool reader no longer configured, its cursor is dropped', { spool: this.name, reader: name });
    }
    this.writeCheckpointSync();
    this.reclaim();
  }

  /** Reads a segment's record headers; the last one is also checksummed and cut at the first bad record. */
  private scanSegment(id: number, isLast: boolean): Segment {
    const file = segmentFile(this.dir, id);
    const fd = fs.openSync(file, 'r+');
    try {
      const fileSize = fs.fstatSync(fd).size;
      const format = sniffFormat(fd, fileSize);
      const hb = headerBytes(format);
      const header = Buffer.allocUnsafe(hb);
      let offset = 0;
      let records = 0;
      let samples = 0;
      while (offset + hb <= fileSize) {
        fs.readSync(fd, header, 0, hb, offset);
        const h = decodeHeader(header, format);
        if (h.length > MAX_RECORD_BYTES || offset + hb + h.length > fileSize) break;
        if (isLast) {
          const payload = Buffer.allocUnsafe(h.length);
          fs.readSync(fd, payload, 0, h.length, offset + hb);
          if (!checksumMatches(header, payload, format)) break;
        }
        offset += hb + h.length;
        records++;
        samples += h.samples;
      }
      if (offset < fileSize && isLast) {
        // A torn tail: the record being written when the process died, never acknowledged.
        this.opts.onWarning?.('spool segment has a torn or corrupt tail, cut off', { spool: this.name, segment: id, keptBytes: offset, cutBytes: fileSize - offset });
        fs.ftruncateSync(fd, offset);
        fs.fsyncSync(fd);
      } else if (offset < fileSize) {
        // An older, sealed segment cannot be torn: this is damage. Keep it; readers skip from there (counted).
        this.opts.onWarning?.('spool segment is damaged; readers will skip from the damaged record', { spool: this.name, segment: id, offset });
        offset = fileSize;
      }
      return { id, file, size: offset, synced: offset, records, samples, broken: false, format };
    } finally {
      fs.closeSync(fd);
    }
  }

  private loadCheckpoint(): Record<string, Position> {
    const file = path.join(this.dir, CHECKPOINT);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return {};
    }
    try {
      const parsed = JSON.parse(text) as { readers?: Record<string, Position> };
      const out: Record<string, Position> = {};
      for (const [k, v] of Object.entries(parsed.readers ?? {})) {
        if (Number.isSafeInteger(v?.segment) && Number.isSafeInteger(v?.offset)) out[k] = { segment: v.segment, offset: v.offset };
      }
      return out;
    } catch {
      // Unreadable cursors: deliver everything again rather than lose anything (at least once).
      this.opts.onWarning?.('spool cursors file is unreadable, every reader starts from the oldest segment', { spool: this.name });
      return {};
    }
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

  // ---- reading support ----

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
  bytesAfter(p: Position, written = false): number {
    let n = 0;
    for (const s of this.segments) {
      if (s.id < p.segment) continue;
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

  private notify(): void {
    this.dataBell.ring();
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
    if (this.checkpointRunning) {
      this.checkpointDirty = true;
      return;
    }
    this.checkpointRunning = this.runCheckpoints().finally(() => {
      this.checkpointRunning = undefined;
    });
  }

  /** Waits until every cursor moved so far is on disk. */
  async flushCheckpoint(): Promise<void> {
    while (this.checkpointRunning) await this.checkpointRunning;
  }

  private async runCheckpoints(): Promise<void> {
    do {
      this.checkpointDirty = false;
      const snapshot = this.cursorSnapshot();
      try {
        await this.writeCheckpoint(snapshot);
        this.reclaim(snapshot);
      } catch (err) {
        this.lastError = (err as Error).message;
        this.opts.onWarning?.('cannot write spool cursors (data will be sent again after a restart)', { spool: this.name, error: (err as Error).message });
      }
    } while (this.checkpointDirty && !this.closed);
  }

  private cursorSnapshot(): Record<string, Position> {
    const out: Record<string, Position> = {};
    for (const [name, r] of this.readerMap) out[name] = { ...r.committed };
    return out;
  }

  private async writeCheckpoint(readers: Record<string, Position>): Promise<void> {
    const file = path.join(this.dir, CHECKPOINT);
    const tmp = `${file}.tmp`;
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify({ version: 1, readers }));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  }

  private writeCheckpointSync(): void {
    const file = path.join(this.dir, CHECKPOINT);
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify({ version: 1, readers: this.cursorSnapshot() }));
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(this.dir);
  }

  /** Deletes whole segments that every (durably saved) cursor has passed. */
  private reclaim(durable: Record<string, Position> = this.cursorSnapshot()): void {
    const positions = Object.values(durable);
    if (positions.length === 0) return;
    const min = Math.min(...positions.map((p) => p.segment));
    while (this.segments.length > 1 && this.segments[0].id < min) this.deleteSegment(this.segments[0]);
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
    this.tailIndex.delete(seg.id); // its FIFO entries age out by themselves
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
    const lost = from === Infinity ? { records: 0, samples: 0 } : this.countFrom(victim, from);
    this.deleteSegment(victim);
    for (const r of this.readerMap.values()) r.skipTo({ segment: next.id, offset: 0 });
    this.opts.onDrop?.({ spool: this.name, segment: victim.id, records: lost.records, samples: lost.samples, bytes: victim.size, reason });
    this.scheduleCheckpoint();
    return true;
  }

  private countFrom(seg: Segment, from: number): { records: number; samples: number } {
    if (from === 0) return { records: seg.records, samples: seg.samples };
    let fd: number | undefined;
    let records = 0;
    let samples = 0;
    try {
      fd = fs.openSync(seg.file, 'r');
      const hb = headerBytes(seg.format);
      const header = Buffer.allocUnsafe(hb);
      for (let off = from; off + hb <= seg.size; ) {
        fs.readSync(fd, header, 0, hb, off);
        const h = decodeHeader(header, seg.format);
        records++;
        samples += h.samples;
        off += hb + h.length;
      }
    } catch {
      // counting is best effort
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    return { records, samples };
  }

  /** Stops appends, flushes what was written, saves cursors, closes files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const cur = this.current;
    if (cur.fd !== undefined) {
      try {
        fs.fdatasyncSync(cur.fd);
        cur.synced = cur.size;
        for (const w of this.waiters.splice(0)) w.resolve();
      } catch (err) {
        for (const w of this.waiters.splice(0)) w.reject(new SpoolWriteError((err as Error).message));
      }
    }
    while (this.syncing) await new Promise((r) => setTimeout(r, 1));
    await this.flushCheckpoint();
    try {
      await this.writeCheckpoint(this.cursorSnapshot());
    } catch (err) {
      this.opts.onWarning?.('cannot write spool cursors at shutdown (data will be sent again)', { spool: this.name, error: (err as Error).message });
    }
    for (const r of this.readerMap.values()) await r.closeHandle();
    if (cur.fd !== undefined) fs.closeSync(cur.fd);
    cur.fd = undefined;
    this.notify();
    this.budget.spools.delete(this);
  }
}
