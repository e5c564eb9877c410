// Batching on the read side: a lane takes records from its spool cursor and merges them
// into one WriteRequest until BATCH_MAX_BYTES or BATCH_MAX_SAMPLES would be passed, or
// BATCH_MAX_WAIT has gone by since the first record. Merging is concatenation: the
// repeated fields of serialized WriteRequests concatenate on the wire, so the joined
// bytes decode to the union of the inputs, in order, without re-encoding anything.
// Spool records hold snappy blocks; they are decompressed here, once, as they join a batch.

import { decompress as decompressBlock, snappyDecodedLength } from '../shared/remote-write/snappy';
import type { Position, SpoolRecord } from './spool';

export interface BatchLimits {
  maxBytes: number;
  maxSamples: number;
  maxWaitMs: number;
}

/** A spooled request, decompressed. */
export interface BatchRecord {
  raw: Buffer;
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

/** The merged WriteRequest of some records. */
export function mergeRecords(records: readonly BatchRecord[]): Buffer {
  return records.length === 1 ? records[0].raw : Buffer.concat(records.map((r) => r.raw));
}

/** A record whose stored bytes do not decompress (a bug or a disk fault the checksum missed). */
export type OnUnreadable = (rec: SpoolRecord, err: Error) => void;

function decompress(rec: SpoolRecord): BatchRecord | Error {
  try {
    const raw = decompressBlock(rec.payload);
    return { raw, samples: rec.samples, end: rec.end };
  } catch (err) {
    return err as Error;
  }
}

const IDLE_POLL_MS = 60_000;

/**
 * The next batch: waits (until aborted) for a first record, then up to maxWaitMs for
 * more. A record that would push the batch past a limit is left for the next batch;
 * one record larger than a limit goes alone. Undefined only when aborted with nothing read.
 */
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
  let bytes = 0;
  let samples = 0;
  let end: Position | undefined;
  let deadline = Infinity;
  while (!signal.aborted) {
    if (records.length > 0 && (bytes >= limits.maxBytes || samples >= limits.maxSamples)) break;
    const rec = await source.next();
    if (!rec) {
      const left = records.length === 0 ? IDLE_POLL_MS : deadline - now();
      if (left <= 0) break;
      await source.waitForData(left, signal);
      continue;
    }
    const size = snappyDecodedLength(rec.payload);
    if (records.length > 0 && (size < 0 || bytes + size > limits.maxBytes || samples + rec.samples > limits.maxSamples)) {
      source.unread(rec);
      break;
    }
    const decoded = decompress(rec);
    end = rec.end; // an unreadable record is skipped, and committed past with the batch
    if (decoded instanceof Error) {
      onUnreadable(rec, decoded);
      continue;
    }
    if (records.length === 0) deadline = now() + limits.maxWaitMs;
    records.push(decoded);
    bytes += decoded.raw.length;
    samples += decoded.samples;
  }
  if (records.length === 0 || end === undefined) return undefined;
  return { records, samples, bytes, end };
}
