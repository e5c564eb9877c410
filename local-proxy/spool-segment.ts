// A spool's segment files: naming, creation, the append write, and recovery (a scan that
// cuts a torn tail off the last segment). Synchronous: used at open, on rotation and on
// the append path, where the write must be done before append() returns.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { CURRENT_FORMAT, type RecordFormat, checksumMatches, decodeHeader, headerBytes, plausible } from './spool-record';

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
  /** record layout (spool-record.ts): CURRENT_FORMAT (3) for every segment this version writes */
  format: RecordFormat;
}

export type Warn = (msg: string, fields: Record<string, string | number>) => void;

const SEGMENT_RE = /^(\d{16})\.seg$/;

export function segmentFile(dir: string, id: number): string {
  return path.join(dir, `${String(id).padStart(16, '0')}.seg`);
}

/** The ids of the segment files in dir, oldest first. */
export function listSegmentIds(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .map((f) => SEGMENT_RE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A new, empty segment file, open for appends; its name is durable before the first ack. */
export function createSegment(dir: string, id: number): Segment {
  const file = segmentFile(dir, id);
  const fd = fs.openSync(file, 'w+');
  fsyncDir(dir);
  return { id, file, size: 0, synced: 0, records: 0, samples: 0, fd, broken: false, format: CURRENT_FORMAT };
}

/**
 * Writes one record at the end of seg (not flushed): its header, its series hashes' bytes
 * when there are some, its block. On failure nothing of it is left in
 * the segment (cut off, or the segment is marked broken) and the error is rethrown.
 */
export function writeRecord(seg: Segment, header: Buffer, payload: Buffer, hashes?: Buffer): void {
  const before = seg.size;
  try {
    let bufs = hashes ? [header, hashes, payload] : [header, payload];
    let left = header.length + (hashes?.length ?? 0) + payload.length;
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
    throw err;
  }
}

/**
 * Which record layout a segment uses: the one under which its first record's checksum
 * holds. Segments this version writes are format 3; formats 2 and 1 are older forwarders'.
 */
function sniffFormat(fd: number, fileSize: number): RecordFormat {
  for (const format of [3, 2, 1] as const) {
    const hb = headerBytes(format);
    if (fileSize < hb) continue;
    const header = Buffer.allocUnsafe(hb);
    fs.readSync(fd, header, 0, hb, 0);
    const h = decodeHeader(header, format);
    if (!plausible(h) || hb + h.length > fileSize) continue;
    const payload = Buffer.allocUnsafe(h.length);
    fs.readSync(fd, payload, 0, h.length, hb);
    if (checksumMatches(header, payload, format)) return format;
  }
  return CURRENT_FORMAT;
}

/** Reads a segment's record headers; the last one is also checksummed and cut at the first bad record. */
export function scanSegment(dir: string, id: number, isLast: boolean, spool: string, warn?: Warn): Segment {
  const file = segmentFile(dir, id);
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
      if (!plausible(h) || offset + hb + h.length > fileSize) break;
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
      warn?.('spool segment has a torn or corrupt tail, cut off', { spool, segment: id, keptBytes: offset, cutBytes: fileSize - offset });
      fs.ftruncateSync(fd, offset);
      fs.fsyncSync(fd);
    } else if (offset < fileSize) {
      // An older, sealed segment cannot be torn: this is damage. Keep it; readers skip from there (counted).
      warn?.('spool segment is damaged; readers will skip from the damaged record', { spool, segment: id, offset });
      offset = fileSize;
    }
    return { id, file, size: offset, synced: offset, records, samples, broken: false, format };
  } finally {
    fs.closeSync(fd);
  }
}

/** Records and samples in seg from offset `from` on (what drop-oldest loses); best effort. */
export function countFrom(seg: Segment, from: number): { records: number; samples: number } {
  if (from === 0) return { records: seg.records, samples: seg.samples };
  let fd: number | undefined;
  let records = 0;
  let samples = 0;
  try {
    fd = fs.openSync(seg.file, 'r');
    const hb = headerBytes(seg.format);
    const header = Buffer.allocUnsafe(hb);
    for (let off = from; off + hb <= seg.size;) {
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
