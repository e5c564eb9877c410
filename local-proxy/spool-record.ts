// On-disk record framing of the spool. Each record is
//   u32 LE payload length | u32 LE samples | u32 LE CRC-32 | payload
// and the CRC covers the first 8 header bytes and the payload, so a torn write (a
// length without its bytes, half a payload) is recognised on recovery and on read.

import { crc32 } from 'node:zlib';

export const HEADER_BYTES = 12;
/** a sanity bound on the length field: anything larger is a torn or corrupt header */
export const MAX_RECORD_BYTES = 1024 * 1024 * 1024;

export function encodeHeader(payload: Buffer, samples: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32LE(payload.length, 0);
  h.writeUInt32LE(Math.min(samples, 0xffffffff), 4);
  h.writeUInt32LE(crc32(payload, crc32(h.subarray(0, 8))), 8);
  return h;
}

export interface RecordHeader {
  length: number;
  samples: number;
  crc: number;
}

export function decodeHeader(h: Buffer): RecordHeader {
  return { length: h.readUInt32LE(0), samples: h.readUInt32LE(4), crc: h.readUInt32LE(8) };
}

export function checksumMatches(header: Buffer, payload: Buffer): boolean {
  return crc32(payload, crc32(header.subarray(0, 8))) === header.readUInt32LE(8);
}

// ---- positions ----

export interface Position {
  segment: number;
  offset: number;
}

export interface SpoolRecord {
  payload: Buffer;
  samples: number;
  start: Position;
  end: Position;
}

export function comparePositions(a: Position, b: Position): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}
