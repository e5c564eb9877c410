// Counts samples and histogram samples in an already validated WriteRequest.

import { type Cursor, readInt64Number, readLenEnd, readTag, skipField } from './wire';

export function countSamples(buf: Buffer): number {
  const c: Cursor = { pos: 0 };
  let n = 0;
  while (c.pos < buf.length) {
    const tag = readTag(buf, c, buf.length);
    if (tag !== 0x0a) {
      skipField(buf, c, buf.length, tag & 7);
      continue;
    }
    const end = readLenEnd(buf, c, buf.length);
    while (c.pos < end) {
      const t = readTag(buf, c, end);
      if (t === 0x12 || t === 0x22) n++;
      skipField(buf, c, end, t & 7);
    }
  }
  return n;
}

/** The last varint field with this tag in the message [start, end), as an int64; 0 if absent. */
export function fieldInt64(buf: Buffer, start: number, end: number, tag: number): number {
  const c: Cursor = { pos: start };
  let v = 0;
  while (c.pos < end) {
    const t = readTag(buf, c, end);
    if (t === tag) v = readInt64Number(buf, c, end);
    else skipField(buf, c, end, t & 7);
  }
  return v;
}
