// Splits an uncompressed WriteRequest into parts on top-level field boundaries.
// Fields are contiguous on the wire and repeated fields concatenate, so every part is
// a zero-copy slice of the original and is itself a valid WriteRequest.

import { type Cursor, readTag, skipField } from '../remote-write/wire';

/** Contiguous slices of at most maxBytes each (a single larger field goes alone). */
export function splitBySize(raw: Buffer, maxBytes: number): Buffer[] {
  if (raw.length <= maxBytes) return [raw];
  const parts: Buffer[] = [];
  const c: Cursor = { pos: 0 };
  let partStart = 0;
  while (c.pos < raw.length) {
    const fieldStart = c.pos;
    const tag = readTag(raw, c, raw.length);
    skipField(raw, c, raw.length, tag & 7);
    if (c.pos - partStart > maxBytes && fieldStart > partStart) {
      parts.push(raw.subarray(partStart, fieldStart));
      partStart = fieldStart;
    }
  }
  parts.push(raw.subarray(partStart));
  return parts;
}

/** Two halves split at the field boundary nearest the middle; one part if it is a single field. */
export function splitInHalf(raw: Buffer): Buffer[] {
  const c: Cursor = { pos: 0 };
  const middle = raw.length / 2;
  let best = 0;
  while (c.pos < raw.length) {
    const tag = readTag(raw, c, raw.length);
    skipField(raw, c, raw.length, tag & 7);
    if (c.pos < raw.length && Math.abs(c.pos - middle) < Math.abs(best - middle)) best = c.pos;
  }
  return best === 0 ? [raw] : [raw.subarray(0, best), raw.subarray(best)];
}
