// Materialised prometheus.WriteRequest (remote-write 1.0, proto/remote.proto), as
// produced by decode.ts and consumed by encode.ts.
//
// Representation choices:
// - Every `double` is carried as its raw IEEE-754 bit pattern in a `bigint`
//   (`Float64Bits`), never as a JS number: the Prometheus stale marker is a NaN
//   with the specific bits 0x7ff0000000000002 that must survive bit for bit, and it
//   is a *signalling* NaN (quiet bit clear), which V8 silently turns into the quiet
//   0x7ff8000000000002 as soon as the number is stored in a plain JS array (double
//   elements), e.g. `[n]` or `arr.push(n)`. Use bitsToNumber/numberToBits at the
//   edges (display, arithmetic), knowing numberToBits(NaN) cannot recover a payload
//   that was lost.
// - 64-bit integers (int64 timestamps, uint64 counts, sint64 deltas) are `bigint`:
//   timestamps are legal over the whole int64 range and counts over uint64, beyond
//   Number.MAX_SAFE_INTEGER, and a lossless codec cannot round them.
// - 32-bit integers (enums, sint32 schema, span offsets/lengths) are numbers.
// - proto3 oneofs are optional discriminated unions: absent means "not set", which
//   is distinct on the wire from "set to zero".

/** Raw IEEE-754 binary64 bit pattern of a protobuf `double` (0n ≤ bits < 2^64). */
export type Float64Bits = bigint;

/** Prometheus stale marker: a NaN with this exact payload (value.StaleNaN). */
export const staleMarkerBits: Float64Bits = 0x7ff0000000000002n;

/** Prometheus's "normal" NaN, used for e.g. empty summary quantiles (value.NormalNaN). */
export const normalNaNBits: Float64Bits = 0x7ff8000000000001n;

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** The number with these bits. A NaN payload may not survive the conversion. */
export function bitsToNumber(bits: Float64Bits): number {
  u64[0] = BigInt.asUintN(64, bits);
  return f64[0];
}

/** The bits of a number. For NaN the payload is whatever the engine holds. */
export function numberToBits(n: number): Float64Bits {
  f64[0] = n;
  return u64[0];
}

/** True if these bits are the Prometheus stale marker. */
export function isStaleMarker(bits: Float64Bits): boolean {
  return bits === staleMarkerBits;
}

/** True if these bits encode any NaN (exponent all ones, mantissa non-zero). */
export function isNaNBits(bits: Float64Bits): boolean {
  return (bits & 0x7ff0000000000000n) === 0x7ff0000000000000n && (bits & 0x000fffffffffffffn) !== 0n;
}

export interface Label {
  name: string;
  value: string;
}

export interface Sample {
  value: Float64Bits;
  /** int64 milliseconds since the epoch */
  timestamp: bigint;
}

export interface Exemplar {
  labels: Label[];
  value: Float64Bits;
  /** int64 milliseconds since the epoch */
  timestamp: bigint;
}

export interface BucketSpan {
  /** sint32: gap to the previous span, or the starting index for the first */
  offset: number;
  /** uint32: number of consecutive buckets */
  length: number;
}

/** A oneof over uint64 (integer histogram) and double (float histogram). */
export type HistogramCount = { kind: 'int'; value: bigint } | { kind: 'float'; bits: Float64Bits };

export const ResetHint = {
  UNKNOWN: 0,
  YES: 1,
  NO: 2,
  GAUGE: 3,
} as const;

export interface Histogram {
  /** oneof count { uint64 count_int = 1; double count_float = 2; }; absent: not set */
  count?: HistogramCount;
  sum: Float64Bits;
  /** sint32 */
  schema: number;
  zeroThreshold: Float64Bits;
  /** oneof zero_count { uint64 zero_count_int = 6; double zero_count_float = 7; }; absent: not set */
  zeroCount?: HistogramCount;
  negativeSpans: BucketSpan[];
  /** sint64, integer histograms: delta-encoded bucket counts */
  negativeDeltas: bigint[];
  /** double, float histograms: absolute bucket counts */
  negativeCounts: Float64Bits[];
  positiveSpans: BucketSpan[];
  positiveDeltas: bigint[];
  positiveCounts: Float64Bits[];
  /** Histogram.ResetHint enum */
  resetHint: number;
  /** int64 milliseconds since the epoch */
  timestamp: bigint;
}

export interface TimeSeries {
  labels: Label[];
  samples: Sample[];
  exemplars: Exemplar[];
  histograms: Histogram[];
}

export const MetricType = {
  UNKNOWN: 0,
  COUNTER: 1,
  GAUGE: 2,
  HISTOGRAM: 3,
  GAUGEHISTOGRAM: 4,
  SUMMARY: 5,
  INFO: 6,
  STATESET: 7,
} as const;

export interface MetricMetadata {
  /** MetricMetadata.MetricType enum */
  type: number;
  metricFamilyName: string;
  help: string;
  unit: string;
}

export interface WriteRequest {
  timeseries: TimeSeries[];
  metadata: MetricMetadata[];
}
