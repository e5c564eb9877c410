// Counts samples and histogram samples in an already validated WriteRequest.

import { type Cursor, readLenEnd, readTag, skipField } from './wire';

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
