// Counts samples and histogram samples in an already validated WriteRequest, and reads
// their time range.

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

/** Oldest and newest sample time of a request, with its sample count. */
export interface SampleTimeRange {
  /** ms since the epoch; +Infinity when the request holds no samples or histograms */
  minTime: number;
  /** -Infinity when none */
  maxTime: number;
  /** samples + histograms */
  samples: number;
}

/**
 * The sample time range of an already validated WriteRequest, as validateWriteRequest
 * reports it (every sample's and histogram's timestamp, exemplars not counted), for
 * records spooled before the spool kept it.
 */
export function sampleTimeRange(buf: Buffer): SampleTimeRange {
  const c: Cursor = { pos: 0 };
  const r: SampleTimeRange = { minTime: Infinity, maxTime: -Infinity, samples: 0 };
  const end = buf.length;
  while (c.pos < end) {
    const tag = readTag(buf, c, end);
    if (tag !== 0x0a) {
      skipField(buf, c, end, tag & 7);
      continue;
    }
    const tsEnd = readLenEnd(buf, c, end);
    while (c.pos < tsEnd) {
      const t = readTag(buf, c, tsEnd);
      if (t !== 0x12 && t !== 0x22) {
        skipField(buf, c, tsEnd, t & 7);
        continue;
      }
      const e = readLenEnd(buf, c, tsEnd);
      const ts = t === 0x12 ? fieldInt64(buf, c.pos, e, 0x10) : fieldInt64(buf, c.pos, e, 0x78);
      if (ts < r.minTime) r.minTime = ts;
      if (ts > r.maxTime) r.maxTime = ts;
      r.samples++;
      c.pos = e;
    }
  }
  return r;
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
