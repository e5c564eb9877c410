// Seeded generator of random but valid remote-write requests, for property tests.
// "Valid" means what a Prometheus server could send and validateWriteRequest accepts
// under AZURE_MONITOR_LIMITS: label names match [a-zA-Z_][a-zA-Z0-9_]*, metric names
// [a-zA-Z_:][a-zA-Z0-9_:]*, each label set has __name__, unique names sorted by bytes,
// values valid UTF-8 (multibyte and astral characters included). The numeric content
// deliberately covers the awkward corners: stale-marker and other NaN payloads, ±Inf,
// -0, subnormals, arbitrary 64-bit double patterns, int64 timestamps over the whole
// range, uint64 histogram counts beyond 2^53, sint64 deltas at the extremes.

import type {
  BucketSpan,
  Exemplar,
  Float64Bits,
  Histogram,
  HistogramCount,
  Label,
  MetricMetadata,
  Sample,
  TimeSeries,
  WriteRequest,
} from '../../shared/remote-write/model/types';
import { normalNaNBits, numberToBits, staleMarkerBits } from '../../shared/remote-write/model/types';

/** mulberry32: small, fast, good enough for test data, fully determined by the seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** uniform in [0, 1) */
  float(): number {
    return this.u32() / 0x100000000;
  }

  /** uniform integer in [lo, hi] (inclusive, |range| < 2^32) */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  /** uniform 64-bit pattern */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const x = items[i];
      items[i] = items[j];
      items[j] = x;
    }
    return items;
  }
}

export interface RandomWriteRequestOptions {
  /** at most this many series (default 8) */
  maxSeries?: number;
  /** at most this many metadata entries (default 4) */
  maxMetadata?: number;
  /** at most this many labels per series, __name__ and cluster included (default 12, ≤ 63) */
  maxLabels?: number;
  /** probability that a series carries its own `cluster` label (default 0.3) */
  clusterProbability?: number;
}

export const I64_MIN = -(1n << 63n);
export const I64_MAX = (1n << 63n) - 1n;
export const U64_MAX = (1n << 64n) - 1n;

/** Double bit patterns that codecs tend to get wrong. */
export const SPECIAL_DOUBLE_BITS: readonly Float64Bits[] = [
  0n, // +0
  0x8000000000000000n, // -0
  staleMarkerBits, // Prometheus stale marker (NaN payload 2)
  normalNaNBits, // Prometheus NormalNaN (quiet NaN payload 1)
  0x7ff8000000000000n, // canonical quiet NaN
  0xfff8000000000000n, // negative quiet NaN
  0x7ff4000000000000n, // signalling NaN
  0xffffffffffffffffn, // all-ones NaN
  0x7ff0000000000000n, // +Inf
  0xfff0000000000000n, // -Inf
  0x7fefffffffffffffn, // max finite
  0xffefffffffffffffn, // -max finite
  0x0000000000000001n, // min subnormal
  0x8000000000000001n, // -min subnormal
  0x0010000000000000n, // min normal
  0x3ff0000000000000n, // 1
  0x4340000000000001n, // 2^53 + 2 (first even gap)
];

export function randomDoubleBits(rng: Rng): Float64Bits {
  switch (rng.int(0, 3)) {
    case 0:
      return rng.pick(SPECIAL_DOUBLE_BITS);
    case 1:
      return numberToBits(rng.int(-1000, 100000)); // counter-ish and gauge-ish integers
    case 2:
      return numberToBits((rng.float() - 0.3) * 10 ** rng.int(-12, 15));
    default:
      return rng.u64(); // any pattern at all: every NaN payload, subnormals, …
  }
}

const SPECIAL_TIMESTAMPS: readonly bigint[] = [0n, 1n, -1n, I64_MIN, I64_MAX, (1n << 53n) + 1n, -((1n << 53n) + 1n), 1n << 32n];

export function randomTimestamp(rng: Rng): bigint {
  const r = rng.float();
  if (r < 0.5) return 1_700_000_000_000n + BigInt(rng.int(0, 0x7fffffff)) * 1000n + BigInt(rng.int(0, 999));
  if (r < 0.7) return rng.pick(SPECIAL_TIMESTAMPS);
  return BigInt.asIntN(64, rng.u64());
}

const NAME_START = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_';
const NAME_REST = `${NAME_START}0123456789`;

function randomIdent(rng: Rng, start: string, rest: string, maxLen: number): string {
  let s = start[rng.int(0, start.length - 1)];
  const n = rng.int(0, maxLen - 1);
  for (let i = 0; i < n; i++) s += rest[rng.int(0, rest.length - 1)];
  return s;
}

export function randomLabelName(rng: Rng): string {
  return randomIdent(rng, NAME_START, NAME_REST, 16);
}

export function randomMetricName(rng: Rng): string {
  return randomIdent(rng, `${NAME_START}:`, `${NAME_REST}:`, 40);
}

// Pieces of label values: ASCII (quotes, backslashes, controls, NUL), 2-, 3- and
// 4-byte UTF-8 (the last as surrogate pairs in JS), combining marks, U+FFFD.
const VALUE_PIECES: readonly string[] = [
  'a',
  'z',
  'A',
  '0',
  '9',
  ' ',
  '_',
  '-',
  '.',
  ':',
  '/',
  '"',
  '\\',
  '=',
  ',',
  '{',
  '}',
  '\n',
  '\t',
  '\u0000',
  '\u007f',
  'é',
  'ß',
  'Ω',
  'ж',
  '\u00a0',
  'ñ',
  '€',
  '中',
  '文',
  '日本',
  '\u2028',
  '\ufffd',
  '\u0301',
  'ﬁ',
  '😀',
  '𝄞',
  '🚀',
  '\u{10ffff}',
  '👩‍👩‍👧',
  'http://127.0.0.1:9100/metrics',
  'node',
  'prometheus',
  '0.005',
];

export function randomLabelValue(rng: Rng, maxPieces = 12): string {
  const n = rng.int(1, maxPieces);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.pick(VALUE_PIECES);
  return s;
}

/** Byte-wise (UTF-8) order of label names, as Prometheus sorts them. */
export function compareLabelNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function sortLabels(labels: readonly Label[]): Label[] {
  return [...labels].sort((x, y) => compareLabelNames(x.name, y.name));
}

function randomLabels(rng: Rng, opts: Required<RandomWriteRequestOptions>): Label[] {
  const names = new Set<string>(['__name__']);
  const labels: Label[] = [{ name: '__name__', value: randomMetricName(rng) }];
  if (rng.chance(opts.clusterProbability)) {
    names.add('cluster');
    labels.push({ name: 'cluster', value: randomLabelValue(rng, 3) });
  }
  const extra = rng.int(0, Math.max(0, opts.maxLabels - labels.length));
  for (let i = 0; i < extra; i++) {
    const name = randomLabelName(rng);
    if (names.has(name) || name === 'cluster') continue;
    names.add(name);
    labels.push({ name, value: randomLabelValue(rng) });
  }
  return sortLabels(labels);
}

function randomExemplar(rng: Rng): Exemplar {
  const labels: Label[] = [];
  if (rng.chance(0.8)) labels.push({ name: 'trace_id', value: rng.u64().toString(16).padStart(16, '0') + rng.u64().toString(16).padStart(16, '0') });
  if (rng.chance(0.4)) labels.push({ name: 'span_id', value: rng.u64().toString(16).padStart(16, '0') });
  if (rng.chance(0.2)) labels.push({ name: 'note', value: randomLabelValue(rng, 4) });
  return { labels: sortLabels(labels), value: randomDoubleBits(rng), timestamp: randomTimestamp(rng) };
}

function randomSpans(rng: Rng): BucketSpan[] {
  const spans: BucketSpan[] = [];
  const n = rng.int(0, 3);
  for (let i = 0; i < n; i++) spans.push({ offset: i === 0 ? rng.int(-20, 20) : rng.int(0, 5), length: rng.int(0, 4) });
  return spans;
}

function bucketCount(spans: readonly BucketSpan[]): number {
  return spans.reduce((n, s) => n + s.length, 0);
}

function randomUint64(rng: Rng): bigint {
  const r = rng.float();
  if (r < 0.2) return 0n;
  if (r < 0.7) return BigInt(rng.int(1, 100000));
  if (r < 0.85) return U64_MAX - BigInt(rng.int(0, 3));
  return rng.u64();
}

function randomSint64(rng: Rng): bigint {
  const r = rng.float();
  if (r < 0.6) return BigInt(rng.int(-50, 50));
  if (r < 0.75) return rng.pick([I64_MIN, I64_MAX, -1n, 0n]);
  return BigInt.asIntN(64, rng.u64());
}

function randomCount(rng: Rng, float: boolean): HistogramCount | undefined {
  if (rng.chance(0.05)) return undefined; // oneof not set at all
  if (float) return { kind: 'float', bits: rng.chance(0.15) ? 0n : randomDoubleBits(rng) };
  return { kind: 'int', value: randomUint64(rng) }; // includes 0n: set-to-zero must survive
}

export function randomHistogram(rng: Rng): Histogram {
  const float = rng.chance(0.5);
  const negativeSpans = randomSpans(rng);
  const positiveSpans = randomSpans(rng);
  const nNeg = bucketCount(negativeSpans);
  const nPos = bucketCount(positiveSpans);
  const h: Histogram = {
    sum: randomDoubleBits(rng),
    schema: rng.chance(0.1) ? -53 : rng.int(-4, 8),
    zeroThreshold: rng.chance(0.3) ? 0n : rng.pick([numberToBits(2.938735877055719e-39), numberToBits(1e-128), randomDoubleBits(rng)]),
    negativeSpans,
    negativeDeltas: float ? [] : Array.from({ length: nNeg }, () => randomSint64(rng)),
    negativeCounts: float ? Array.from({ length: nNeg }, () => randomDoubleBits(rng)) : [],
    positiveSpans,
    positiveDeltas: float ? [] : Array.from({ length: nPos }, () => randomSint64(rng)),
    positiveCounts: float ? Array.from({ length: nPos }, () => randomDoubleBits(rng)) : [],
    resetHint: rng.int(0, 3),
    timestamp: randomTimestamp(rng),
  };
  const count = randomCount(rng, float);
  if (count !== undefined) h.count = count;
  const zeroCount = randomCount(rng, float);
  if (zeroCount !== undefined) h.zeroCount = zeroCount;
  return h;
}

export function randomSample(rng: Rng): Sample {
  return { value: randomDoubleBits(rng), timestamp: randomTimestamp(rng) };
}

export function randomTimeSeries(rng: Rng, opts: RandomWriteRequestOptions = {}): TimeSeries {
  const o = withDefaults(opts);
  const labels = randomLabels(rng, o);
  if (rng.chance(0.25)) {
    const histograms = Array.from({ length: rng.int(1, 3) }, () => randomHistogram(rng));
    const exemplars = rng.chance(0.3) ? [randomExemplar(rng)] : [];
    return { labels, samples: [], exemplars, histograms };
  }
  const samples = Array.from({ length: rng.int(1, 5) }, () => randomSample(rng));
  const exemplars = rng.chance(0.3) ? Array.from({ length: rng.int(1, 2) }, () => randomExemplar(rng)) : [];
  return { labels, samples, exemplars, histograms: [] };
}

export function randomMetadata(rng: Rng): MetricMetadata {
  return {
    type: rng.int(0, 7),
    metricFamilyName: randomMetricName(rng),
    help: rng.chance(0.2) ? '' : randomLabelValue(rng, 20),
    unit: rng.chance(0.6) ? '' : rng.pick(['seconds', 'bytes', 'ratio', 'celsius', 'µs']),
  };
}

export function randomWriteRequest(rng: Rng, opts: RandomWriteRequestOptions = {}): WriteRequest {
  const o = withDefaults(opts);
  const nSeries = rng.chance(0.05) ? 0 : rng.int(1, o.maxSeries);
  const nMeta = rng.chance(0.5) ? 0 : rng.int(1, o.maxMetadata);
  return {
    timeseries: Array.from({ length: nSeries }, () => randomTimeSeries(rng, o)),
    metadata: Array.from({ length: nMeta }, () => randomMetadata(rng)),
  };
}

function withDefaults(opts: RandomWriteRequestOptions): Required<RandomWriteRequestOptions> {
  const maxLabels = opts.maxLabels ?? 12;
  if (maxLabels > 63 || maxLabels < 2) throw new RangeError('maxLabels must be within 2..63');
  return {
    maxSeries: opts.maxSeries ?? 8,
    maxMetadata: opts.maxMetadata ?? 4,
    maxLabels,
    clusterProbability: opts.clusterProbability ?? 0.3,
  };
}

// ---- hand-built protobuf, for malformed input and unknown fields ----

/** A varint of any non-negative value below 2^64 (negative numbers: two's complement). */
export function rawVarint(v: number | bigint): Buffer {
  return uvarintBytes(BigInt.asUintN(64, BigInt(v)));
}

/** The varint bytes of any non-negative x, however large (no 64-bit truncation: oversized tags). */
export function uvarintBytes(x: bigint): Buffer {
  const bytes: number[] = [];
  while (x >= 0x80n) {
    bytes.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  bytes.push(Number(x));
  return Buffer.from(bytes);
}

export function rawTag(field: number, wire: number): Buffer {
  return rawVarint(BigInt(field) * 8n + BigInt(wire));
}

/** field with wire type LEN holding the concatenated parts */
export function rawLen(field: number, ...parts: (Buffer | string)[]): Buffer {
  const payload = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
  return Buffer.concat([rawTag(field, 2), rawVarint(payload.length), payload]);
}

/** field with wire type VARINT */
export function rawVarintField(field: number, v: number | bigint): Buffer {
  return Buffer.concat([rawTag(field, 0), rawVarint(v)]);
}

/** field with wire type FIXED64 holding these bits */
export function rawFixed64(field: number, bits: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, bits));
  return Buffer.concat([rawTag(field, 1), b]);
}

/** field with wire type FIXED32 */
export function rawFixed32(field: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return Buffer.concat([rawTag(field, 5), b]);
}

/** Label { name = 1; value = 2 } as a TimeSeries/Exemplar `labels` field (field 1) */
export function rawLabel(name: string | Buffer, value: string | Buffer, ...extra: Buffer[]): Buffer {
  return rawLen(1, rawLen(1, name), rawLen(2, value), ...extra);
}

/** WriteRequest.timeseries field (field 1) holding the given TimeSeries fields */
export function rawSeries(...fields: Buffer[]): Buffer {
  return rawLen(1, ...fields);
}

/** TimeSeries.samples field (field 2): Sample { value = 1; timestamp = 2 } */
export function rawSample(bits: bigint, timestamp: bigint, ...extra: Buffer[]): Buffer {
  return rawLen(2, rawFixed64(1, bits), rawVarintField(2, timestamp), ...extra);
}

/** A sampler of unknown fields: one unknown field of every wire type (field numbers ≥ 100). */
export function rawUnknownFields(): Buffer {
  return Buffer.concat([
    rawVarintField(100, 12345678901234n),
    rawFixed64(101, 0x7ff0000000000002n),
    rawLen(102, 'unknown bytes \u00e9'),
    rawFixed32(103, 0xdeadbeef),
    rawLen(536870911, rawVarintField(1, 1)), // the largest legal field number
  ]);
}
