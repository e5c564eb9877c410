// Protobuf wire-format primitives over a Buffer, with no allocation.
// Readers take a cursor object so one pass can walk nested messages without
// materialising them; every read is bounds-checked against an explicit end.

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** A malformed protobuf or snappy body: always the sender's fault (400). */
export class WireError extends Error {
  override readonly name = 'WireError';
}

export interface Cursor {
  pos: number;
}

/**
 * Reads a varint of up to 53 bits (tags, lengths, enum values). Larger values
 * are legal on the wire for int64 fields, but those are only ever skipped.
 */
export function readVarint(buf: Buffer, c: Cursor, end: number): number {
  let pos = c.pos;
  let b = pos < end ? buf[pos++] : -1;
  if (b < 0) throw new WireError('truncated varint');
  if (b < 0x80) {
    c.pos = pos;
    return b;
  }
  let value = b & 0x7f;
  let mul = 0x80;
  for (let i = 1; i < 8; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    b = buf[pos++];
    value += (b & 0x7f) * mul;
    if (b < 0x80) {
      c.pos = pos;
      return value;
    }
    mul *= 0x80;
  }
  throw new WireError('varint too long for a length or tag');
}

/** Skips a varint of up to 10 bytes (any int64/uint64). */
export function skipVarint(buf: Buffer, c: Cursor, end: number): void {
  let pos = c.pos;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    if (buf[pos++] < 0x80) {
      c.pos = pos;
      return;
    }
  }
  throw new WireError('varint longer than 10 bytes');
}

/**
 * Reads an int64 varint (up to 10 bytes; beyond 64 bits truncated, as protobuf decoders
 * do) as a JS number: exact up to 2^53 in magnitude, rounded to the nearest double past
 * that, negative values (always 10 bytes on the wire) included.
 */
export function readInt64Number(buf: Buffer, c: Cursor, end: number): number {
  let pos = c.pos;
  let lo = 0;
  let hi = 0;
  for (let i = 0; ; i++) {
    if (i === 10) throw new WireError('varint longer than 10 bytes');
    if (pos >= end) throw new WireError('truncated varint');
    const b = buf[pos++] & 0xff;
    const v = b & 0x7f;
    if (i < 4) lo |= v << (7 * i);
    else if (i === 4) {
      lo |= (v & 0x0f) << 28;
      hi = v >>> 4;
    } else if (i < 9) hi |= v << (7 * i - 32);
    else hi |= (v & 1) << 31;
    if (b < 0x80) break;
  }
  c.pos = pos;
  return (hi | 0) * 4294967296 + (lo >>> 0);
}

/** Reads a length prefix and returns the end of the delimited payload. */
export function readLenEnd(buf: Buffer, c: Cursor, end: number): number {
  const len = readVarint(buf, c, end);
  const payloadEnd = c.pos + len;
  if (payloadEnd > end) throw new WireError('length-delimited field runs past its message');
  return payloadEnd;
}

/** Skips one field's value of the given wire type. */
export function skipField(buf: Buffer, c: Cursor, end: number, wireType: number): void {
  switch (wireType) {
    case WIRE_VARINT:
      skipVarint(buf, c, end);
      return;
    case WIRE_FIXED64:
      if (c.pos + 8 > end) throw new WireError('truncated fixed64');
      c.pos += 8;
      return;
    case WIRE_LEN:
      c.pos = readLenEnd(buf, c, end);
      return;
    case WIRE_FIXED32:
      if (c.pos + 4 > end) throw new WireError('truncated fixed32');
      c.pos += 4;
      return;
    default:
      throw new WireError(`unsupported wire type ${wireType}`);
  }
}

/**
 * Reads a tag; throws on field number 0 (never valid) and on tags over 32 bits
 * (field numbers stop at 2^29-1). Callers split tags with `>>> 3`, which would
 * silently alias a wider tag onto a small field number.
 */
export function readTag(buf: Buffer, c: Cursor, end: number): number {
  const tag = readVarint(buf, c, end);
  if (tag < 8) throw new WireError('invalid field number 0');
  if (tag > 0xffffffff) throw new WireError('field number out of range');
  return tag;
}

// ---- writing ----

export function varintSize(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

export function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

/** tag byte(s) for a field number and wire type */
export function tagOf(field: number, wireType: number): number {
  return field * 8 + wireType;
}
