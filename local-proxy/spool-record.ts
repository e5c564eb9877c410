// On-disk record framing of the spool. Format 3 (every segment written since the forwarder
// kept its series hashes):
//   u32 LE payload length | u32 LE samples | f64 LE oldest sample ms | f64 LE newest sample ms |
//   u32 LE hash bytes | u32 LE CRC-32 | payload
// where the payload is the series hashes (u32 LE each, `hash bytes` of them) followed by the
// request's snappy block. Format 2 (segments of a forwarder that learned sample times):
//   u32 LE payload length | u32 LE samples | f64 LE oldest sample ms | f64 LE newest sample ms | u32 LE CRC-32 | payload
// Format 1 (older still):
//   u32 LE payload length | u32 LE samples | u32 LE CRC-32 | payload
// Formats 1 and 2 hold the block alone. Older segments are still read after an upgrade.
// The CRC covers the header bytes before it and the payload, so a torn write (a length
// without its bytes, half a payload) is recognised on recovery and on read. A segment's
// format is told by which layout its first record's checksum matches.

import { crc32 as zlibCrc32 } from 'node:zlib';
import { endianness } from 'node:os';
import { nativeBinding } from '../shared/remote-write/native';

/**
 * zlib's CRC-32, or the native module's where the CPU can fold it with PCLMULQDQ (the same
 * value, several times faster: zlib's was ~3 % of the forwarder's CPU while draining).
 */
const crc32: (data: Buffer, value?: number) => number = nativeBinding()?.crc32 ?? zlibCrc32;

export type RecordFormat = 1 | 2 | 3;

/** The format appends are written in. */
export const CURRENT_FORMAT: RecordFormat = 3;
/** Header bytes of the current format (3). */
export const HEADER_BYTES = 32;
export const V2_HEADER_BYTES = 28;
export const V1_HEADER_BYTES = 12;
/** a sanity bound on the length field: anything larger is a torn or corrupt header */
export const MAX_RECORD_BYTES = 1024 * 1024 * 1024;

export function headerBytes(format: RecordFormat): number {
  return format === 3 ? HEADER_BYTES : format === 2 ? V2_HEADER_BYTES : V1_HEADER_BYTES;
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

const LITTLE_ENDIAN = endianness() === 'LE';

/** Series hashes as the bytes a record stores (u32 LE each): a view where the machine is little-endian. */
export function hashBytesOf(hashes: Uint32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(hashes.buffer, hashes.byteOffset, hashes.byteLength);
  const b = Buffer.allocUnsafe(hashes.length * 4);
  for (let i = 0; i < hashes.length; i++) b.writeUInt32LE(hashes[i], i * 4);
  return b;
}

/** The hashes stored at the front of a payload: a view when aligned (pooled reads are), else a copy. */
export function hashesOf(stored: Buffer, hashBytes: number): Uint32Array {
  const n = hashBytes >>> 2;
  if (LITTLE_ENDIAN && stored.byteOffset % 4 === 0) return new Uint32Array(stored.buffer, stored.byteOffset, n);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = stored.readUInt32LE(i * 4);
  return out;
}

/** The current format's header for a record of `payload` (the block), with its series hashes' bytes when known. */
export function encodeHeader(payload: Buffer, samples: number, times: TimeRange = UNKNOWN_TIMES, hashes?: Buffer): Buffer {
  const hashBytes = hashes?.length ?? 0;
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32LE(hashBytes + payload.length, 0);
  h.writeUInt32LE(Math.min(samples, 0xffffffff), 4);
  h.writeDoubleLE(times.minTime, 8);
  h.writeDoubleLE(times.maxTime, 16);
  h.writeUInt32LE(hashBytes, 24);
  let crc = crc32(h.subarray(0, 28));
  if (hashes) crc = crc32(hashes, crc);
  h.writeUInt32LE(crc32(payload, crc), 28);
  return h;
}

export interface RecordHeader extends TimeRange {
  /** bytes after the header: the hashes and the block */
  length: number;
  samples: number;
  /** how many of them are series hashes (0: none stored, formats 1 and 2) */
  hashBytes: number;
  crc: number;
}

export function decodeHeader(h: Buffer, format: RecordFormat = CURRENT_FORMAT): RecordHeader {
  if (format === 1)
    return { length: h.readUInt32LE(0), samples: h.readUInt32LE(4), hashBytes: 0, crc: h.readUInt32LE(8), minTime: Number.NaN, maxTime: Number.NaN };
  if (format === 2)
    return {
      length: h.readUInt32LE(0),
      samples: h.readUInt32LE(4),
      minTime: h.readDoubleLE(8),
      maxTime: h.readDoubleLE(16),
      hashBytes: 0,
      crc: h.readUInt32LE(24),
    };
  return {
    length: h.readUInt32LE(0),
    samples: h.readUInt32LE(4),
    minTime: h.readDoubleLE(8),
    maxTime: h.readDoubleLE(16),
    hashBytes: h.readUInt32LE(24),
    crc: h.readUInt32LE(28),
  };
}

/** Whether a header's lengths can describe a record at all (its checksum is checked apart). */
export function plausible(h: RecordHeader): boolean {
  return h.length <= MAX_RECORD_BYTES && h.hashBytes <= h.length && h.hashBytes % 4 === 0;
}

/** `payload`: everything after the header (hashes and block). */
export function checksumMatches(header: Buffer, payload: Buffer, format: RecordFormat = CURRENT_FORMAT): boolean {
  const n = headerBytes(format) - 4;
  return crc32(payload, crc32(header.subarray(0, n))) === header.readUInt32LE(n);
}

// ---- positions ----

export interface Position {
  segment: number;
  offset: number;
}

export interface SpoolRecord extends TimeRange {
  /** the request's snappy block */
  payload: Buffer;
  samples: number;
  /** each series' hash, as seriesHashes() gives them, when the forwarder stored them (format 3) */
  seriesHashes?: Uint32Array;
  start: Position;
  end: Position;
}

export function comparePositions(a: Position, b: Position): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}
