// Batching on the read side: a lane takes records from its spool cursor and merges them
// into one WriteRequest until BATCH_MAX_BYTES (uncompressed) or BATCH_MAX_SAMPLES would be
// passed, or BATCH_MAX_WAIT has gone by since the first record. Records stay the snappy
// blocks they were spooled as: a batch's body is mergeSnappyBlocks of them, which decodes
// to the concatenation of their WriteRequests, and repeated fields of serialized
// WriteRequests concatenate on the wire — so the merged block is the union of the inputs,
// in order, with nothing decompressed or compressed on the way out.

import { SNAPPY_MAX_DECODED, mergeSnappyBlocks, snappyDecodedLength, snappyHeaderBytes } from '../shared/remote-write/snappy';
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
}

export interface Batch {
  records: BatchRecord[];
  samples: number;
  /** uncompressed bytes */
  bytes: number;
  /** the cursor to commit once the batch is delivered */
  end: Position;
}

/** What collectBatch needs of a spool reader. */
export interface RecordSource {
  next(): Promise<SpoolRecord | undefined>;
  unread(rec: SpoolRecord): void;
  waitForData(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The merged WriteRequest of some records, as one snappy block (written into scratch if given). */
export function mergeRecords(records: readonly BatchRecord[], scratch?: (size: number) => Buffer): Buffer {
  return mergeSnappyBlocks(records.map((r) => r.block), scratch);
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
function readable(rec: SpoolRecord): BatchRecord | Error {
  const header = snappyHeaderBytes(rec.payload);
  if (header < 0) return new Error('not a snappy block: malformed length header');
  const bytes = snappyDecodedLength(rec.payload);
  if (bytes > ((rec.payload.length - header) * 64) / 3) return new Error(`snappy header declares ${bytes} bytes, more than the ${rec.payload.length - header} bytes after it can hold`);
  return { block: rec.payload, bytes, samples: rec.samples, end: rec.end };
}

const IDLE_POLL_MS = 60_000;

/**
 * The next batch: waits (until aborted) for a first record, then up to maxWaitMs for
 * more. A record that would push the batch past a limit is left for the next batch;
 * one record larger than a limit goes alone. Undefined only when aborted with nothing read.
 */
export async function collectBatch(
  source: RecordSource,
  limits: BatchLimits,
  signal: AbortSignal,
  now: () => number = Date.now,
  onUnreadable: OnUnreadable = () => undefined,
): Promise<Batch | undefined> {
  const records: BatchRecord[] = [];
  // the merged block's header holds a 32-bit length
  const maxBytes = Math.min(limits.maxBytes, SNAPPY_MAX_DECODED);
  let bytes = 0;
  let samples = 0;
  let end: Position | undefined;
  let deadline = Infinity;
  while (!signal.aborted) {
    if (records.length > 0 && (bytes >= maxBytes || samples >= limits.maxSamples)) break;
    const rec = await source.next();
    if (!rec) {
      const left = records.length === 0 ? IDLE_POLL_MS : deadline - now();
      if (left <= 0) break;
      await source.waitForData(left, signal);
      continue;
    }
    const r = readable(rec);
    if (r instanceof Error) {
      end = rec.end; // an unreadable record is skipped, and committed past with the batch
      onUnreadable(rec, r);
      continue;
    }
    if (records.length > 0 && (bytes + r.bytes > maxBytes || samples + r.samples > limits.maxSamples)) {
      source.unread(rec);
      break;
    }
    end = rec.end;
    if (records.length === 0) deadline = now() + limits.maxWaitMs;
    records.push(r);
    bytes += r.bytes;
    samples += r.samples;
  }
  if (records.length === 0 || end === undefined) return undefined;
  return { records, samples, bytes, end };
}
