import { isUtf8 } from 'node:buffer';

/** ASCII fast path; only non-ASCII ranges pay for a view and the full check. */
export function isUtf8Range(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    if (buf[i] >= 0x80) return isUtf8(buf.subarray(i, e));
  }
  return true;
}

/** Number of code points in a valid UTF-8 range. */
export function countUtf8Chars(buf: Buffer, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; i++) if ((buf[i] & 0xc0) !== 0x80) n++;
  return n;
}
