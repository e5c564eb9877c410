// Materialising decoder for prometheus.WriteRequest (proto/remote.proto), written on
// the wire.ts primitives rather than protobufjs so that doubles keep their exact bit
// patterns (see types.ts) and 64-bit integers are never rounded.
//
// Used by tests, the dev workspace emulator (to show what was received) and tools.
// The relay's hot path never materialises requests: it validates (validate.ts) and
// forwards raw bytes (rewrite.ts).
//
// Semantics, matching standard protobuf decoders:
// - Unknown fields are skipped and DROPPED: re-encoding a decoded request loses them.
//   (The hot path keeps them because it copies bytes; this codec does not.)
// - Absent scalar fields take their proto3 defaults (0, 0n, "", +0.0 bits 0n).
// - For singular fields the last occurrence wins; for a oneof the last member seen
//   wins. Repeated scalars are accepted packed and unpacked (mixed too).
// - Known fields with the wrong wire type, truncated data, invalid field numbers
//   and invalid UTF-8 in string fields throw WireError.
// - Varints longer than 64 bits are truncated to their low 64 bits, as gogo-protobuf
//   (Prometheus) and protobufjs do; more than 10 bytes is an error.

import { type Cursor, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, WireError, readLenEnd, readTag, skipField } from '../wire';
import { isUtf8Range } from '../utf8';
import type { BucketSpan, Exemplar, Float64Bits, Histogram, Label, MetricMetadata, Sample, TimeSeries, WriteRequest } from './types';

const MAX_FIELD_NUMBER = 0x1fffffff;

/** Decodes a (decompressed) WriteRequest. Throws WireError on malformed input. */
export function decodeWriteRequest(buf: Buffer): WriteRequest {
  const req: WriteRequest = { timeseries: [], metadata: [] };
  const c: Cursor = { pos: 0 };
  const end = buf.length;
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'WriteRequest.timeseries');
      const e = readLenEnd(buf, c, end);
      req.timeseries.push(decodeTimeSeries(buf, c, e));
    } else if (field === 3) {
      expectWire(wire, WIRE_LEN, 'WriteRequest.metadata');
      const e = readLenEnd(buf, c, end);
      req.metadata.push(decodeMetadata(buf, c, e));
    } else {
      skipField(buf, c, end, wire);
    }
  }
  return req;
}

function decodeTimeSeries(buf: Buffer, c: Cursor, end: number): TimeSeries {
  const ts: TimeSeries = { labels: [], samples: [], exemplars: [], histograms: [] };
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    switch (field) {
      case 1: {
        expectWire(wire, WIRE_LEN, 'TimeSeries.labels');
        ts.labels.push(decodeLabel(buf, c, readLenEnd(buf, c, end)));
        break;
      }
      case 2: {
        expectWire(wire, WIRE_LEN, 'TimeSeries.samples');
        ts.samples.push(decodeSample(buf, c, readLenEnd(buf, c, end)));
        break;
      }
      case 3: {
        expectWire(wire, WIRE_LEN, 'TimeSeries.exemplars');
        ts.exemplars.push(decodeExemplar(buf, c, readLenEnd(buf, c, end)));
        break;
      }
      case 4: {
        expectWire(wire, WIRE_LEN, 'TimeSeries.histograms');
        ts.histograms.push(decodeHistogram(buf, c, readLenEnd(buf, c, end)));
        break;
      }
      default:
        skipField(buf, c, end, wire);
    }
  }
  return ts;
}

function decodeLabel(buf: Buffer, c: Cursor, end: number): Label {
  const label: Label = { name: '', value: '' };
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'Label.name');
      label.name = readString(buf, c, end, 'Label.name');
    } else if (field === 2) {
      expectWire(wire, WIRE_LEN, 'Label.value');
      label.value = readString(buf, c, end, 'Label.value');
    } else {
      skipField(buf, c, end, wire);
    }
  }
  return label;
}

function decodeSample(buf: Buffer, c: Cursor, end: number): Sample {
  const sample: Sample = { value: 0n, timestamp: 0n };
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    if (field === 1) {
      expectWire(wire, WIRE_FIXED64, 'Sample.value');
      sample.value = readDoubleBits(buf, c, end);
    } else if (field === 2) {
      expectWire(wire, WIRE_VARINT, 'Sample.timestamp');
      sample.timestamp = BigInt.asIntN(64, readVarint64(buf, c, end));
    } else {
      skipField(buf, c, end, wire);
    }
  }
  return sample;
}

function decodeExemplar(buf: Buffer, c: Cursor, end: number): Exemplar {
  const ex: Exemplar = { labels: [], value: 0n, timestamp: 0n };
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    if (field === 1) {
      expectWire(wire, WIRE_LEN, 'Exemplar.labels');
      ex.labels.push(decodeLabel(buf, c, readLenEnd(buf, c, end)));
    } else if (field === 2) {
      expectWire(wire, WIRE_FIXED64, 'Exemplar.value');
      ex.value = readDoubleBits(buf, c, end);
    } else if (field === 3) {
      expectWire(wire, WIRE_VARINT, 'Exemplar.timestamp');
      ex.timestamp = BigInt.asIntN(64, readVarint64(buf, c, end));
    } else {
      skipField(buf, c, end, wire);
    }
  }
  return ex;
}

/** A histogram with every field at its proto3 default and neither oneof set. */
export function emptyHistogram(): Histogram {
  return {
    sum: 0n,
    schema: 0,
    zeroThreshold: 0n,
    negativeSpans: [],
    negativeDeltas: [],
    negativeCounts: [],
    positiveSpans: [],
    positiveDeltas: [],
    positiveCounts: [],
    resetHint: 0,
    timestamp: 0n,
  };
}

function decodeHistogram(buf: Buffer, c: Cursor, end: number): Histogram {
  const h = emptyHistogram();
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    switch (field) {
      case 1:
        expectWire(wire, WIRE_VARINT, 'Histogram.count_int');
        h.count = { kind: 'int', value: readVarint64(buf, c, end) };
        break;
      case 2:
        expectWire(wire, WIRE_FIXED64, 'Histogram.count_float');
        h.count = { kind: 'float', bits: readDoubleBits(buf, c, end) };
        break;
      case 3:
        expectWire(wire, WIRE_FIXED64, 'Histogram.sum');
        h.sum = readDoubleBits(buf, c, end);
        break;
      case 4:
        expectWire(wire, WIRE_VARINT, 'Histogram.schema');
        h.schema = sint32(readVarint64(buf, c, end));
        break;
      case 5:
        expectWire(wire, WIRE_FIXED64, 'Histogram.zero_threshold');
        h.zeroThreshold = readDoubleBits(buf, c, end);
        break;
      case 6:
        expectWire(wire, WIRE_VARINT, 'Histogram.zero_count_int');
        h.zeroCount = { kind: 'int', value: readVarint64(buf, c, end) };
        break;
      case 7:
        expectWire(wire, WIRE_FIXED64, 'Histogram.zero_count_float');
        h.zeroCount = { kind: 'float', bits: readDoubleBits(buf, c, end) };
        break;
      case 8:
        expectWire(wire, WIRE_LEN, 'Histogram.negative_spans');
        h.negativeSpans.push(decodeBucketSpan(buf, c, readLenEnd(buf, c, end)));
        break;
      case 9:
        readPackedSint64(buf, c, end, wire, h.negativeDeltas, 'Histogram.negative_deltas');
        break;
      case 10:
        readPackedDoubles(buf, c, end, wire, h.negativeCounts, 'Histogram.negative_counts');
        break;
      case 11:
        expectWire(wire, WIRE_LEN, 'Histogram.positive_spans');
        h.positiveSpans.push(decodeBucketSpan(buf, c, readLenEnd(buf, c, end)));
        break;
      case 12:
        readPackedSint64(buf, c, end, wire, h.positiveDeltas, 'Histogram.positive_deltas');
        break;
      case 13:
        readPackedDoubles(buf, c, end, wire, h.positiveCounts, 'Histogram.positive_counts');
        break;
      case 14:
        expectWire(wire, WIRE_VARINT, 'Histogram.reset_hint');
        h.resetHint = int32(readVarint64(buf, c, end));
        break;
      case 15:
        expectWire(wire, WIRE_VARINT, 'Histogram.timestamp');
        h.timestamp = BigInt.asIntN(64, readVarint64(buf, c, end));
        break;
      default:
        skipField(buf, c, end, wire);
    }
  }
  return h;
}

function decodeBucketSpan(buf: Buffer, c: Cursor, end: number): BucketSpan {
  const span: BucketSpan = { offset: 0, length: 0 };
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    if (field === 1) {
      expectWire(wire, WIRE_VARINT, 'BucketSpan.offset');
      span.offset = sint32(readVarint64(buf, c, end));
    } else if (field === 2) {
      expectWire(wire, WIRE_VARINT, 'BucketSpan.length');
      span.length = Number(BigInt.asUintN(32, readVarint64(buf, c, end)));
    } else {
      skipField(buf, c, end, wire);
    }
  }
  return span;
}

function decodeMetadata(buf: Buffer, c: Cursor, end: number): MetricMetadata {
  const md: MetricMetadata = { type: 0, metricFamilyName: '', help: '', unit: '' };
  while (c.pos < end) {
    const { field, wire } = nextTag(buf, c, end);
    if (field === 1) {
      expectWire(wire, WIRE_VARINT, 'MetricMetadata.type');
      md.type = int32(readVarint64(buf, c, end));
    } else if (field === 2) {
      expectWire(wire, WIRE_LEN, 'MetricMetadata.metric_family_name');
      md.metricFamilyName = readString(buf, c, end, 'MetricMetadata.metric_family_name');
    } else if (field === 4) {
      expectWire(wire, WIRE_LEN, 'MetricMetadata.help');
      md.help = readString(buf, c, end, 'MetricMetadata.help');
    } else if (field === 5) {
      expectWire(wire, WIRE_LEN, 'MetricMetadata.unit');
      md.unit = readString(buf, c, end, 'MetricMetadata.unit');
    } else {
      skipField(buf, c, end, wire);
    }
  }
  return md;
}

// ---- primitives ----

function nextTag(buf: Buffer, c: Cursor, end: number): { field: number; wire: number } {
  const tag = readTag(buf, c, end);
  // Arithmetic, not `>>> 3`: a tag varint may exceed 32 bits, which must not alias.
  const field = Math.floor(tag / 8);
  if (field > MAX_FIELD_NUMBER) throw new WireError(`field number ${field} out of range`);
  return { field, wire: tag % 8 };
}

function expectWire(wire: number, want: number, what: string): void {
  if (wire !== want) throw new WireError(`${what} has the wrong wire type ${wire} (expected ${want})`);
}

function readString(buf: Buffer, c: Cursor, end: number, what: string): string {
  const e = readLenEnd(buf, c, end);
  if (!isUtf8Range(buf, c.pos, e)) throw new WireError(`${what} is not valid UTF-8`);
  const s = buf.toString('utf8', c.pos, e);
  c.pos = e;
  return s;
}

function readDoubleBits(buf: Buffer, c: Cursor, end: number): Float64Bits {
  if (c.pos + 8 > end) throw new WireError('truncated fixed64');
  const bits = buf.readBigUInt64LE(c.pos);
  c.pos += 8;
  return bits;
}

/** Reads a varint of up to 10 bytes as an unsigned 64-bit bigint. */
export function readVarint64(buf: Buffer, c: Cursor, end: number): bigint {
  let pos = c.pos;
  // Fast path: the first 7 bytes (49 bits) accumulate exactly in a number.
  let low = 0;
  let mul = 1;
  for (let i = 0; i < 7; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    const b = buf[pos++];
    low += (b & 0x7f) * mul;
    if (b < 0x80) {
      c.pos = pos;
      return BigInt(low);
    }
    mul *= 0x80;
  }
  let value = BigInt(low);
  let shift = 49n;
  for (let i = 7; i < 10; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    const b = buf[pos++];
    value |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) {
      c.pos = pos;
      return BigInt.asUintN(64, value);
    }
    shift += 7n;
  }
  throw new WireError('varint longer than 10 bytes');
}

function int32(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

function sint32(v: bigint): number {
  const u = Number(BigInt.asUintN(32, v));
  return (u >>> 1) ^ -(u & 1);
}

function zigzagDecode64(v: bigint): bigint {
  return BigInt.asIntN(64, (v >> 1n) ^ -(v & 1n));
}

function readPackedSint64(buf: Buffer, c: Cursor, end: number, wire: number, out: bigint[], what: string): void {
  if (wire === WIRE_VARINT) {
    out.push(zigzagDecode64(readVarint64(buf, c, end)));
    return;
  }
  expectWire(wire, WIRE_LEN, what);
  const e = readLenEnd(buf, c, end);
  while (c.pos < e) out.push(zigzagDecode64(readVarint64(buf, c, e)));
}

function readPackedDoubles(buf: Buffer, c: Cursor, end: number, wire: number, out: Float64Bits[], what: string): void {
  if (wire === WIRE_FIXED64) {
    out.push(readDoubleBits(buf, c, end));
    return;
  }
  expectWire(wire, WIRE_LEN, what);
  const e = readLenEnd(buf, c, end);
  if ((e - c.pos) % 8 !== 0) throw new WireError(`${what}: packed doubles not a multiple of 8 bytes`);
  for (; c.pos < e; c.pos += 8) out.push(buf.readBigUInt64LE(c.pos));
}
