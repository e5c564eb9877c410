// Batching on the read side: a shard of a lane (shipper.ts) takes the shares queued for it
// and merges them into one WriteRequest until BATCH_MAX_BYTES (uncompressed) or
// BATCH_MAX_SAMPLES would be passed, or BATCH_MAX_WAIT has gone by since the first. Shares
// are snappy blocks (a spooled record as it was stored, or one shard's part of it): a
// batch's body is mergeSnappyBlocks of them, which decodes to the concatenation of their
// WriteRequests, and repeated fields of serialized WriteRequests concatenate on the wire —
// so the merged block is the union of the inputs, in order, with nothing decompressed or
// compressed on the way out.

import { mergeSnappyBlocks, snappyCanHold, snappyDecodedLength, snappyHeaderBytes } from '../shared/remote-write/snappy';
import type { Position, SpoolRecord } from './spool';

export interface BatchLimits {
  maxBytes: number;
  maxSamples: number;
  maxWaitMs: number;
}

/** A spooled request, as stored: one snappy block. */
export interface BatchRecord {
  block: Buffer;
  /** uncompressed bytes, from the block's header */
  bytes: number;
  samples: number;
  end: Position;
  /** each series' hash, when the spool stored them */
  seriesHashes?: Uint32Array;
}

/** The merged WriteRequest of some records, as one snappy block (written into scratch if given). */
export function mergeRecords(records: readonly { block: Buffer }[], scratch?: (size: number) => Buffer): Buffer {
  return mergeSnappyBlocks(
    records.map((r) => r.block),
    scratch,
  );
}

/** A record whose stored bytes are not a snappy block (a bug or a disk fault the checksum missed). */
export type OnUnreadable = (rec: SpoolRecord, err: Error) => void;

/**
 * The record as a batch member, or why it is unreadable. Only the header is checked (the
 * spool's CRC already vouches that the bytes are those written, and the accept path
 * spooled only blocks that decoded): a malformed header, or one declaring more than the
 * bytes after it can hold (no snappy element expands more than 64/3-fold), cannot be
 * merged. Element bytes that are wrong despite the CRC reach upstream, which answers 400,
 * and 400 bisection drops exactly that record.
 */
export function asBatchRecord(rec: SpoolRecord): BatchRecord | Error {
  const header = snappyHeaderBytes(rec.payload);
  if (header < 0) return new Error('not a snappy block: malformed length header');
  const bytes = snappyDecodedLength(rec.payload);
  if (!snappyCanHold(rec.payload.length - header, bytes))
    return new Error(`snappy header declares ${bytes} bytes, more than the ${rec.payload.length - header} bytes after it can hold`);
  const r: BatchRecord = { block: rec.payload, bytes, samples: rec.samples, end: rec.end };
  if (rec.seriesHashes) r.seriesHashes = rec.seriesHashes;
  return r;
}

/** What the batch rules need of a queued share. */
export interface Queueable {
  samples: number;
  /** uncompressed bytes */
  bytes: number;
  /** when it was read from the spool (ms) */
  readAt: number;
}

/**
 * How many shares from the front of the queue make the next batch: as many as fit within
 * BATCH_MAX_SAMPLES and BATCH_MAX_BYTES; a single larger one goes alone.
 */
export function batchSize(q: readonly Queueable[], limits: BatchLimits): number {
  let n = 0;
  let samples = 0;
  let bytes = 0;
  while (n < q.length) {
    const s = q[n];
    if (n > 0 && (samples + s.samples > limits.maxSamples || bytes + s.bytes > limits.maxBytes)) break;
    samples += s.samples;
    bytes += s.bytes;
    n++;
  }
  return n;
}

/** What batchDueIn needs of a queue: kept as running totals, so a check is O(1). */
export interface QueueTotals {
  count: number;
  samples: number;
  /** uncompressed bytes */
  bytes: number;
  /** when the first share was read (ms) */
  firstReadAt: number;
}

/**
 * ms until the batch at the front of the queue should go: 0 when a full batch is queued,
 * when BATCH_MAX_WAIT has passed since its first share was read, or when told to flush;
 * undefined for an empty queue.
 */
export function batchDueIn(q: QueueTotals, limits: BatchLimits, now: number, flush: boolean): number | undefined {
  if (q.count === 0) return undefined;
  if (flush || q.samples >= limits.maxSamples || q.bytes >= limits.maxBytes) return 0;
  return Math.max(0, q.firstReadAt + limits.maxWaitMs - now);
}
