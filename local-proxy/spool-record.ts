// On-disk record framing of the spool. Format 2 (every segment written since the forwarder
// learned sample times):
//   u32 LE payload length | u32 LE samples | f64 LE oldest sample ms | f64 LE newest sample ms | u32 LE CRC-32 | payload
// Format 1 (segments left by an older forwarder, still read after an upgrade):
//   u32 LE payload length | u32 LE samples | u32 LE CRC-32 | payload
// The CRC covers the header bytes before it and the payload, so a torn write (a length
// without its bytes, half a payload) is recognised on recovery and on read. A segment's
// format is told by which layout its first record's checksum matches.

import { crc32 } from 'node:zlib';

export type RecordFormat = 1 | 2;

/** Header bytes of the current format (2). */
export const HEADER_BYTES = 28;
export const V1_HEADER_BYTES = 12;
/** a sanity bound on the length field: anything larger is a torn or corrupt header */
export const MAX_RECORD_BYTES = 1024 * 1024 * 1024;

export function headerBytes(format: RecordFormat): number {
  return format === 2 ? HEADER_BYTES : V1_HEADER_BYTES;
}

/**
 * The time range of a record's samples, ms since the epoch. A record without samples has
 * +Infinity / -Infinity; NaN means unknown (format-1 records, or an append that gave none).
 */
export interface TimeRange {
  minTime: number;
  maxTime: number;
}

export const UNKNOWN_TIMES: TimeRange = { minTime: Number.NaN, maxTime: Number.NaN };

export function encodeHeader(payload: Buffer, samples: number, times: TimeRange = UNKNOWN_TIMES): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32LE(payload.length, 0);
  h.writeUInt32LE(Math.min(samples, 0xffffffff), 4);
  h.writeDoubleLE(times.minTime, 8);
  h.writeDoubleLE(times.maxTime, 16);
  h.writeUInt32LE(crc32(payload, crc32(h.subarray(0, 24))), 24);
  return h;
}

export interface RecordHeader extends TimeRange {
  length: number;
  samples: number;
  crc: number;
}

export function decodeHeader(h: Buffer, format: RecordFormat = 2): RecordHeader {
  if (format === 1) return { length: h.readUInt32LE(0), samples: h.readUInt32LE(4), crc: h.readUInt32LE(8), minTime: Number.NaN, maxTime: Number.NaN };
  return { length: h.readUInt32LE(0), samples: h.readUInt32LE(4), minTime: h.readDoubleLE(8), maxTime: h.readDoubleLE(16), crc: h.readUInt32LE(24) };
}

export function checksumMatches(header: Buffer, payload: Buffer, format: RecordFormat = 2): boolean {
  const n = headerBytes(format) - 4;
  return crc32(payload, crc32(header.subarray(0, n))) === header.readUInt32LE(n);
}

// ---- positions ----

export interface Position {
  segment: number;
  offset: number;
}

export interface SpoolRecord extends TimeRange {
  payload: Buffer;
  samples: number;
  start: Position;
  end: Position;
}

export function comparePositions(a: Position, b: Position): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}
