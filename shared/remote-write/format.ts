// Renders a series as `metric{a="b",...}` for error messages, defensively: the bytes
// may be the very ones being rejected. Only used on the error path.

import { type Cursor, readLenEnd, readTag, skipField } from './wire';

const MAX_CHARS = 240;
// eslint-disable-next-line no-control-regex -- the control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/g;

export function formatSeries(buf: Buffer, start: number, end: number): string {
  let name = '';
  const parts: string[] = [];
  // Characters in `parts` so far: once past MAX_CHARS the rest would be cut off anyway, so
  // later labels are only searched for __name__ (a series of millions of labels would
  // otherwise cost seconds and hundreds of MiB for a 240-character message).
  let size = 0;
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
      let ns = -1;
      let ne = -1;
      let vs = -1;
      let ve = -1;
      while (c.pos < labelEnd) {
        const t = readTag(buf, c, labelEnd);
        if (t === 0x0a || t === 0x12) {
          const e = readLenEnd(buf, c, labelEnd);
          if (t === 0x0a) {
            ns = c.pos;
            ne = e;
          } else {
            vs = c.pos;
            ve = e;
          }
          c.pos = e;
        } else {
          skipField(buf, c, labelEnd, t & 7);
        }
      }
      const isName = ne - ns === 8 && buf.toString('latin1', ns, ne) === '__name__';
      if (!isName && size > MAX_CHARS) continue;
      if (ns >= 0) n = buf.toString('utf8', ns, Math.min(ne, ns + 128));
      if (vs >= 0) v = buf.toString('utf8', vs, Math.min(ve, vs + 128));
      if (isName) {
        name = v;
      } else {
        const part = `${n}=${JSON.stringify(v)}`;
        parts.push(part);
        size += part.length + 1;
      }
    }
  } catch {
    parts.push('…malformed');
  }
  // Names are shown as they came (values are JSON-quoted): escape control characters so
  // that a rejected name cannot break the one-line reason (or the log line) in two.
  const text = `${name}{${parts.join(',')}}`.replace(CONTROL, (ch) => JSON.stringify(ch).slice(1, -1));
  return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}…` : text;
}
