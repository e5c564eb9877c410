// Renders a series as `metric{a="b",...}` for error messages, defensively: the bytes
// may be the very ones being rejected. Only used on the error path.

import { type Cursor, readLenEnd, readTag, skipField } from './wire';

const MAX_CHARS = 240;

export function formatSeries(buf: Buffer, start: number, end: number): string {
  let name = '';
  const parts: string[] = [];
  try {
    const c: Cursor = { pos: start };
    while (c.pos < end) {
      const tag = readTag(buf, c, end);
      if (tag !== 0x0a) {
        skipField(buf, c, end, tag & 7);
        continue;
      }
      const labelEnd = readLenEnd(buf, c, end);
      let n = '';
      let v = '';
      while (c.pos < labelEnd) {
        const t = readTag(buf, c, labelEnd);
        if (t === 0x0a || t === 0x12) {
          const e = readLenEnd(buf, c, labelEnd);
          const s = buf.toString('utf8', c.pos, Math.min(e, c.pos + 128));
          if (t === 0x0a) n = s;
          else v = s;
          c.pos = e;
        } else {
          skipField(buf, c, labelEnd, t & 7);
        }
      }
      if (n === '__name__') name = v;
      else parts.push(`${n}=${JSON.stringify(v)}`);
    }
  } catch {
    parts.push('…malformed');
  }
  const text = `${name}{${parts.join(',')}}`;
  return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}…` : text;
}
