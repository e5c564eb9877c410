// Encoder for a materialised prometheus.WriteRequest (see types.ts, decode.ts).
//
// Output is canonical proto3, as gogo-protobuf (Prometheus) writes it: fields in
// field-number order, scalars equal to their default omitted (a double is omitted
// only when its bits are 0, i.e. +0.0: -0.0 and every NaN are written), repeated
// scalars packed, oneof members written whenever set (even when zero). Doubles are
// written from their bit patterns, so NaN payloads (stale markers) survive exactly.
//
// Two passes: the first computes every length-delimited payload's size in pre-order
// into a table, the second writes into one exactly-sized buffer reading that table
// in the same order.

import { WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, varintSize, writeVarint } from '../wire';
import type { BucketSpan, Exemplar, Float64Bits, Histogram, HistogramCount, Label, MetricMetadata, Sample, TimeSeries, WriteRequest } from './types';

const U64_LIMIT = 1n << 64n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

export function encodeWriteRequest(req: WriteRequest): Buffer {
  const sizes: number[] = [];
  let total = 0;
  for (const ts of req.timeseries) total += lenField(sizeTimeSeries(ts, sizes));
  for (const md of req.metadata) total += lenField(sizeMetadata(md, sizes));

  const w = new Writer(Buffer.allocUnsafe(total), sizes);
  for (const ts of req.timeseries) {
    w.tag(1, WIRE_LEN);
    writeTimeSeries(w, ts);
  }
  for (const md of req.metadata) {
    w.tag(3, WIRE_LEN);
    writeMetadata(w, md);
  }
  if (w.pos !== total || w.k !== sizes.length) throw new Error('encodeWriteRequest: size pass and write pass disagree');
  return w.buf;
}

// ---- size pass: returns the payload size, records every LEN payload size in pre-order ----

/** A 1-byte tag (all field numbers here are < 16), length prefix and payload. */
function lenField(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

function sizeString(s: string, t: number[]): number {
  if (s.length === 0) return 0;
  const n = Buffer.byteLength(s, 'utf8');
  t.push(n);
  return lenField(n);
}

function sizeTimeSeries(ts: TimeSeries, t: number[]): number {
  const slot = t.push(0) - 1;
  let n = 0;
  for (const l of ts.labels) n += lenField(sizeLabel(l, t));
  for (const s of ts.samples) n += lenField(sizeSample(s, t));
  for (const e of ts.exemplars) n += lenField(sizeExemplar(e, t));
  for (const h of ts.histograms) n += lenField(sizeHistogram(h, t));
  t[slot] = n;
  return n;
}

function sizeLabel(l: Label, t: number[]): number {
  const slot = t.push(0) - 1;
  const n = sizeString(l.name, t) + sizeString(l.value, t);
  t[slot] = n;
  return n;
}

function sizeSample(s: Sample, t: number[]): number {
  const slot = t.push(0) - 1;
  let n = 0;
  if (checkBits(s.value) !== 0n) n += 9;
  if (checkI64(s.timestamp) !== 0n) n += 1 + varint64Size(BigInt.asUintN(64, s.timestamp));
  t[slot] = n;
  return n;
}

function sizeExemplar(e: Exemplar, t: number[]): number {
  const slot = t.push(0) - 1;
  let n = 0;
  for (const l of e.labels) n += lenField(sizeLabel(l, t));
  if (checkBits(e.value) !== 0n) n += 9;
  if (checkI64(e.timestamp) !== 0n) n += 1 + varint64Size(BigInt.asUintN(64, e.timestamp));
  t[slot] = n;
  return n;
}

function sizeCount(c: HistogramCount | undefined): number {
  if (c === undefined) return 0;
  if (c.kind === 'int') return 1 + varint64Size(checkU64(c.value));
  checkBits(c.bits);
  return 9;
}

function sizeHistogram(h: Histogram, t: number[]): number {
  const slot = t.push(0) - 1;
  let n = sizeCount(h.count);
  if (checkBits(h.sum) !== 0n) n += 9;
  if (h.schema !== 0) n += 1 + varintSize(zigzag32(h.schema));
  if (checkBits(h.zeroThreshold) !== 0n) n += 9;
  n += sizeCount(h.zeroCount);
  for (const s of h.negativeSpans) n += lenField(sizeSpan(s, t));
  n += sizePackedSint64(h.negativeDeltas, t);
  n += sizePackedDoubles(h.negativeCounts, t);
  for (const s of h.positiveSpans) n += lenField(sizeSpan(s, t));
  n += sizePackedSint64(h.positiveDeltas, t);
  n += sizePackedDoubles(h.positiveCounts, t);
  if (h.resetHint !== 0) n += 1 + varint64Size(int32Bits(h.resetHint));
  if (checkI64(h.timestamp) !== 0n) n += 1 + varint64Size(BigInt.asUintN(64, h.timestamp));
  t[slot] = n;
  return n;
}

function sizeSpan(s: BucketSpan, t: number[]): number {
  const slot = t.push(0) - 1;
  let n = 0;
  if (s.offset !== 0) n += 1 + varintSize(zigzag32(s.offset));
  if (checkU32(s.length) !== 0) n += 1 + varintSize(s.length);
  t[slot] = n;
  return n;
}

function sizePackedSint64(values: readonly bigint[], t: number[]): number {
  if (values.length === 0) return 0;
  let n = 0;
  for (const v of values) n += varint64Size(zigzag64(checkI64(v)));
  t.push(n);
  return lenField(n);
}

function sizePackedDoubles(values: readonly Float64Bits[], t: number[]): number {
  if (values.length === 0) return 0;
  for (const v of values) checkBits(v);
  const n = values.length * 8;
  t.push(n);
  return lenField(n);
}

function sizeMetadata(md: MetricMetadata, t: number[]): number {
  const slot = t.push(0) - 1;
  let n = 0;
  if (md.type !== 0) n += 1 + varint64Size(int32Bits(md.type));
  n += sizeString(md.metricFamilyName, t);
  n += sizeString(md.help, t);
  n += sizeString(md.unit, t);
  t[slot] = n;
  return n;
}

// ---- write pass: mirrors the size pass exactly ----

class Writer {
  pos = 0;
  /** next entry of the size table */
  k = 0;
  constructor(
    readonly buf: Buffer,
    private readonly sizes: readonly number[],
  ) {}

  tag(field: number, wire: number): void {
    this.buf[this.pos++] = field * 8 + wire;
  }

  /** Writes the next recorded payload size as a length prefix. */
  len(): number {
    const n = this.sizes[this.k++];
    this.pos = writeVarint(this.buf, this.pos, n);
    return n;
  }

  varint(n: number): void {
    this.pos = writeVarint(this.buf, this.pos, n);
  }

  varint64(v: bigint): void {
    if (v < 0x20000000000000n) {
      this.pos = writeVarint(this.buf, this.pos, Number(v));
      return;
    }
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  fixed64(bits: bigint): void {
    this.buf.writeBigUInt64LE(bits, this.pos);
    this.pos += 8;
  }

  string(field: number, s: string): void {
    if (s.length === 0) return;
    this.tag(field, WIRE_LEN);
    const n = this.len();
    const written = this.buf.write(s, this.pos, n, 'utf8');
    if (written !== n) throw new Error('encodeWriteRequest: string length changed between passes');
    this.pos += n;
  }
}

function writeTimeSeries(w: Writer, ts: TimeSeries): void {
  w.len();
  for (const l of ts.labels) {
    w.tag(1, WIRE_LEN);
    writeLabel(w, l);
  }
  for (const s of ts.samples) {
    w.tag(2, WIRE_LEN);
    writeSample(w, s);
  }
  for (const e of ts.exemplars) {
    w.tag(3, WIRE_LEN);
    writeExemplar(w, e);
  }
  for (const h of ts.histograms) {
    w.tag(4, WIRE_LEN);
    writeHistogram(w, h);
  }
}

function writeLabel(w: Writer, l: Label): void {
  w.len();
  w.string(1, l.name);
  w.string(2, l.value);
}

function writeSample(w: Writer, s: Sample): void {
  w.len();
  if (s.value !== 0n) {
    w.tag(1, WIRE_FIXED64);
    w.fixed64(s.value);
  }
  if (s.timestamp !== 0n) {
    w.tag(2, WIRE_VARINT);
    w.varint64(BigInt.asUintN(64, s.timestamp));
  }
}

function writeExemplar(w: Writer, e: Exemplar): void {
  w.len();
  for (const l of e.labels) {
    w.tag(1, WIRE_LEN);
    writeLabel(w, l);
  }
  if (e.value !== 0n) {
    w.tag(2, WIRE_FIXED64);
    w.fixed64(e.value);
  }
  if (e.timestamp !== 0n) {
    w.tag(3, WIRE_VARINT);
    w.varint64(BigInt.asUintN(64, e.timestamp));
  }
}

function writeCount(w: Writer, c: HistogramCount | undefined, intField: number, floatField: number): void {
  if (c === undefined) return;
  if (c.kind === 'int') {
    w.tag(intField, WIRE_VARINT);
    w.varint64(c.value);
  } else {
    w.tag(floatField, WIRE_FIXED64);
    w.fixed64(c.bits);
  }
}

function writeHistogram(w: Writer, h: Histogram): void {
  w.len();
  writeCount(w, h.count, 1, 2);
  if (h.sum !== 0n) {
    w.tag(3, WIRE_FIXED64);
    w.fixed64(h.sum);
  }
  if (h.schema !== 0) {
    w.tag(4, WIRE_VARINT);
    w.varint(zigzag32(h.schema));
  }
  if (h.zeroThreshold !== 0n) {
    w.tag(5, WIRE_FIXED64);
    w.fixed64(h.zeroThreshold);
  }
  writeCount(w, h.zeroCount, 6, 7);
  for (const s of h.negativeSpans) {
    w.tag(8, WIRE_LEN);
    writeSpan(w, s);
  }
  writePackedSint64(w, 9, h.negativeDeltas);
  writePackedDoubles(w, 10, h.negativeCounts);
  for (const s of h.positiveSpans) {
    w.tag(11, WIRE_LEN);
    writeSpan(w, s);
  }
  writePackedSint64(w, 12, h.positiveDeltas);
  writePackedDoubles(w, 13, h.positiveCounts);
  if (h.resetHint !== 0) {
    w.tag(14, WIRE_VARINT);
    w.varint64(int32Bits(h.resetHint));
  }
  if (h.timestamp !== 0n) {
    w.tag(15, WIRE_VARINT);
    w.varint64(BigInt.asUintN(64, h.timestamp));
  }
}

function writeSpan(w: Writer, s: BucketSpan): void {
  w.len();
  if (s.offset !== 0) {
    w.tag(1, WIRE_VARINT);
    w.varint(zigzag32(s.offset));
  }
  if (s.length !== 0) {
    w.tag(2, WIRE_VARINT);
    w.varint(s.length);
  }
}

function writePackedSint64(w: Writer, field: number, values: readonly bigint[]): void {
  if (values.length === 0) return;
  w.tag(field, WIRE_LEN);
  w.len();
  for (const v of values) w.varint64(zigzag64(v));
}

function writePackedDoubles(w: Writer, field: number, values: readonly Float64Bits[]): void {
  if (values.length === 0) return;
  w.tag(field, WIRE_LEN);
  w.len();
  for (const v of values) w.fixed64(v);
}

function writeMetadata(w: Writer, md: MetricMetadata): void {
  w.len();
  if (md.type !== 0) {
    w.tag(1, WIRE_VARINT);
    w.varint64(int32Bits(md.type));
  }
  w.string(2, md.metricFamilyName);
  w.string(4, md.help);
  w.string(5, md.unit);
}

// ---- scalar helpers ----

function varint64Size(v: bigint): number {
  if (v < 0x20000000000000n) return varintSize(Number(v));
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

/** sint32 zigzag, as an unsigned 32-bit number. */
function zigzag32(n: number): number {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new RangeError(`not a sint32: ${n}`);
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

/** sint64 zigzag, as an unsigned 64-bit bigint. */
function zigzag64(v: bigint): bigint {
  return BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
}

/** int32 (enums) on the wire: negative values sign-extend to 10 bytes. */
function int32Bits(n: number): bigint {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new RangeError(`not an int32: ${n}`);
  return BigInt.asUintN(64, BigInt(n));
}

function checkU32(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not a uint32: ${n}`);
  return n;
}

function checkBits(bits: Float64Bits): Float64Bits {
  if (bits < 0n || bits >= U64_LIMIT) throw new RangeError(`not a 64-bit double bit pattern: ${bits}`);
  return bits;
}

function checkU64(v: bigint): bigint {
  if (v < 0n || v >= U64_LIMIT) throw new RangeError(`not a uint64: ${v}`);
  return v;
}

function checkI64(v: bigint): bigint {
  if (v < I64_MIN || v > I64_MAX) throw new RangeError(`not an int64: ${v}`);
  return v;
}
