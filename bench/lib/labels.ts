// The sink's label check (bench/sink.ts, /mode?label=NAME): how many series of a decoded
// WriteRequest lack a label, so that the label-injection cases can show that every target
// delivered the same series (the relay and vmagent both adding `cluster`).

import { NAME_END, NAME_START, labelSpan, readLabelFields } from '../../shared/remote-write/label';
import { type Cursor, WIRE_LEN, readLenEnd, readTag, skipField } from '../../shared/remote-write/wire';

const TIMESERIES = (1 << 3) | WIRE_LEN;
const LABELS = (1 << 3) | WIRE_LEN;
const span = labelSpan();

/** Series in `raw` (a decompressed WriteRequest), and how many of them have no label called `name`. Throws on a malformed message. */
export function seriesWithoutLabel(raw: Buffer, name: Buffer): { series: number; without: number } {
  const c: Cursor = { pos: 0 };
  let series = 0;
  let without = 0;
  while (c.pos < raw.length) {
    const tag = readTag(raw, c, raw.length);
    if (tag !== TIMESERIES) {
      skipField(raw, c, raw.length, tag & 7);
      continue;
    }
    const end = readLenEnd(raw, c, raw.length);
    series++;
    let found = false;
    while (c.pos < end) {
      const t = readTag(raw, c, end);
      if (t !== LABELS || found) {
        skipField(raw, c, end, t & 7);
        continue;
      }
      const labelEnd = readLenEnd(raw, c, end);
      readLabelFields(raw, c.pos, labelEnd, span);
      found = raw.subarray(span[NAME_START], span[NAME_END]).equals(name);
      c.pos = labelEnd;
    }
    if (!found) without++;
  }
  return { series, without };
}
