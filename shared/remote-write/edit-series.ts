// Edits the series of a decompressed WriteRequest one by one on the wire: each is kept
// (its bytes copied), dropped, or replaced by a new TimeSeries field; everything between
// series (metadata, unknown fields) is copied. When every series is kept the input buffer
// itself comes back, so callers can tell "unchanged" with ===.

import { HttpError } from '../errors';
import { type Cursor, WireError, readLenEnd, readTag, skipField } from './wire';

/** undefined: keep the series as it is; null: drop it; a Buffer: this TimeSeries field instead */
export type SeriesEdit = Buffer | null | undefined;

const SERIES_TAG = 0x0a; // WriteRequest.timeseries: field 1, length-delimited

/**
 * Calls `edit` with the bounds of each series' body (after its tag and length). Malformed
 * protobuf is the sender's fault: HttpError(400).
 */
export function editSeries(raw: Buffer, edit: (raw: Buffer, bodyStart: number, bodyEnd: number) => SeriesEdit): Buffer {
  const parts: Buffer[] = [];
  let copiedFrom = 0;
  const c: Cursor = { pos: 0 };
  const end = raw.length;
  try {
    while (c.pos < end) {
      const fieldStart = c.pos;
      const tag = readTag(raw, c, end);
      if (tag !== SERIES_TAG) {
        skipField(raw, c, end, tag & 7);
        continue;
      }
      const tsEnd = readLenEnd(raw, c, end);
      const result = edit(raw, c.pos, tsEnd);
      c.pos = tsEnd;
      if (result === undefined) continue;
      parts.push(raw.subarray(copiedFrom, fieldStart));
      if (result !== null) parts.push(result);
      copiedFrom = tsEnd;
    }
  } catch (err) {
    if (err instanceof WireError) throw new HttpError(400, 'bad_protobuf', `malformed protobuf WriteRequest: ${err.message}`);
    throw err;
  }
  if (parts.length === 0) return raw;
  parts.push(raw.subarray(copiedFrom, end));
  return Buffer.concat(parts);
}
