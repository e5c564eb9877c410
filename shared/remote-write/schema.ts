// Structural checks for the messages the relay forwards untouched (histograms,
// metadata): every field well-formed, known fields with an allowed wire type,
// strings valid UTF-8, nested messages checked recursively. Unknown fields are
// skipped, never rejected, so newer senders stay compatible.

import { HttpError } from '../errors';
import { type Cursor, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, WireError, readLenEnd, readTag, skipField } from './wire';
import { isUtf8Range } from './utf8';

export interface FieldRule {
  /** allowed wire types (packed repeated scalars may also arrive as LEN) */
  wires: readonly number[];
  /** LEN payload is a UTF-8 string */
  string?: boolean;
  /** LEN payload is a nested message with these rules */
  message?: MessageSchema;
}

export type MessageSchema = Readonly<Record<number, FieldRule>>;

const varint: FieldRule = { wires: [WIRE_VARINT] };
const double: FieldRule = { wires: [WIRE_FIXED64] };
const packedVarint: FieldRule = { wires: [WIRE_VARINT, WIRE_LEN] };
const packedDouble: FieldRule = { wires: [WIRE_FIXED64, WIRE_LEN] };
const str: FieldRule = { wires: [WIRE_LEN], string: true };

export const BUCKET_SPAN_SCHEMA: MessageSchema = { 1: varint, 2: varint };

// prompb.Histogram (types.proto)
export const HISTOGRAM_SCHEMA: MessageSchema = {
  1: varint, // count_int
  2: double, // count_float
  3: double, // sum
  4: varint, // schema (sint32)
  5: double, // zero_threshold
  6: varint, // zero_count_int
  7: double, // zero_count_float
  8: { wires: [WIRE_LEN], message: BUCKET_SPAN_SCHEMA }, // negative_spans
  9: packedVarint, // negative_deltas
  10: packedDouble, // negative_counts
  11: { wires: [WIRE_LEN], message: BUCKET_SPAN_SCHEMA }, // positive_spans
  12: packedVarint, // positive_deltas
  13: packedDouble, // positive_counts
  14: varint, // reset_hint
  15: varint, // timestamp
  16: packedDouble, // custom_values (custom buckets, schema -53)
};

// prompb.MetricMetadata
export const METADATA_SCHEMA: MessageSchema = {
  1: varint, // type
  2: str, // metric_family_name
  4: str, // help
  5: str, // unit
};

export function checkMessage(buf: Buffer, start: number, end: number, schema: MessageSchema, what: string): void {
  const c: Cursor = { pos: start };
  while (c.pos < end) {
    const tag = readTag(buf, c, end);
    const field = tag >>> 3;
    const wire = tag & 7;
    const rule = schema[field];
    if (rule === undefined) {
      skipField(buf, c, end, wire);
      continue;
    }
    if (!rule.wires.includes(wire)) throw new WireError(`${what} field ${field} has the wrong wire type ${wire}`);
    if (wire !== WIRE_LEN) {
      skipField(buf, c, end, wire);
      continue;
    }
    const fieldEnd = readLenEnd(buf, c, end);
    if (rule.string && !isUtf8Range(buf, c.pos, fieldEnd)) {
      throw new HttpError(400, 'invalid_utf8', `${what} field ${field} is not valid UTF-8`);
    } else if (rule.message) {
      checkMessage(buf, c.pos, fieldEnd, rule.message, what);
    } else if (rule.wires.includes(WIRE_FIXED64) && (fieldEnd - c.pos) % 8 !== 0) {
      throw new WireError(`${what} field ${field}: packed doubles not a multiple of 8 bytes`);
    } else if (rule.wires.includes(WIRE_VARINT)) {
      checkPackedVarints(buf, c.pos, fieldEnd);
    }
    c.pos = fieldEnd;
  }
}

function checkPackedVarints(buf: Buffer, start: number, end: number): void {
  const c: Cursor = { pos: start };
  while (c.pos < end) skipField(buf, c, end, WIRE_VARINT);
}
