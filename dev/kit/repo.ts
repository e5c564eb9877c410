// Where the repo and the fixtures are, resolved from the compiled file's location
// (dist/dev/kit → three levels up is the repo root). The captured traffic lives in the
// repo (test/fixtures/), so a lone clone runs every test.
// Also the reference codec (protobufjs over proto/remote.proto) and the canonical
// form the hand-written codec is compared in.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { type Float64Bits, type HistogramCount, type WriteRequest, bitsToNumber, isNaNBits, numberToBits } from '../../shared/remote-write/model/types';

export const repoRoot = path.resolve(__dirname, '../../..');

export const fixturesDir = path.resolve(repoRoot, 'test/fixtures/prometheus-2.42');

/** The reference schema the hand-written codec is checked against. */
export const remoteProtoPath = path.resolve(repoRoot, 'shared/remote-write/proto/remote.proto');

export interface Fixture {
  /** file name without extension, e.g. "req-0001" */
  name: string;
  /** the request body as sent: a snappy block-compressed WriteRequest */
  body: Buffer;
  /** HTTP request headers as captured (lower-case names) */
  headers: Record<string, string>;
}

interface CapturedHeaders {
  url?: string;
  headers: Record<string, string>;
}

/** All captured requests (req-*.bin with their req-*.headers.json), in name order. */
export function loadFixtures(): Fixture[] {
  const names = fs
    .readdirSync(fixturesDir)
    .filter((f) => /^req-\d+\.bin$/.test(f))
    .sort();
  if (names.length === 0) throw new Error(`no fixtures found in ${fixturesDir}`);
  return names.map((file) => {
    const name = file.slice(0, -'.bin'.length);
    const body = fs.readFileSync(path.join(fixturesDir, file));
    const headersPath = path.join(fixturesDir, `${name}.headers.json`);
    const captured = JSON.parse(fs.readFileSync(headersPath, 'utf8')) as CapturedHeaders;
    return { name, body, headers: captured.headers };
  });
}

// ---- the reference codec: protobufjs over proto/remote.proto ----
//
// Kept here (beside the schema's path) so every remote-write test compares against
// the same reference and the same canonical form.

/** protobufjs `toObject` output with {longs: String, enums: Number, defaults, arrays, oneofs}. */
export interface PbLabel {
  name: string;
  value: string;
}
export interface PbSample {
  value: number;
  timestamp: string;
}
export interface PbExemplar {
  labels: PbLabel[];
  value: number;
  timestamp: string;
}
export interface PbSpan {
  offset: number;
  length: number;
}
export interface PbHistogram {
  count?: 'countInt' | 'countFloat';
  countInt?: string;
  countFloat?: number;
  sum: number;
  schema: number;
  zeroThreshold: number;
  zeroCount?: 'zeroCountInt' | 'zeroCountFloat';
  zeroCountInt?: string;
  zeroCountFloat?: number;
  negativeSpans: PbSpan[];
  negativeDeltas: string[];
  negativeCounts: number[];
  positiveSpans: PbSpan[];
  positiveDeltas: string[];
  positiveCounts: number[];
  resetHint: number;
  timestamp: string;
}
export interface PbTimeSeries {
  labels: PbLabel[];
  samples: PbSample[];
  exemplars: PbExemplar[];
  histograms: PbHistogram[];
}
export interface PbMetadata {
  type: number;
  metricFamilyName: string;
  help: string;
  unit: string;
}
export interface PbWriteRequest {
  timeseries: PbTimeSeries[];
  metadata: PbMetadata[];
}

export interface ReferenceCodec {
  /** protobufjs decode, as a plain object (int64 as decimal strings, doubles as numbers) */
  decode(buf: Uint8Array): PbWriteRequest;
  /** protobufjs encode of our representation (doubles go through JS numbers) */
  encode(req: WriteRequest): Buffer;
}

let reference: ReferenceCodec | undefined;

export function referenceCodec(): ReferenceCodec {
  if (reference !== undefined) return reference;
  const type = protobuf.loadSync(remoteProtoPath).lookupType('prometheus.WriteRequest');
  reference = {
    decode(buf) {
      const obj: unknown = type.toObject(type.decode(buf), { longs: String, enums: Number, defaults: true, arrays: true, oneofs: true });
      return obj as PbWriteRequest;
    },
    encode(req) {
      const message = type.fromObject(toPbObject(req));
      const err = type.verify(message);
      if (err !== null) throw new Error(`protobufjs rejects the message: ${err}`);
      return Buffer.from(type.encode(message).finish());
    },
  };
  return reference;
}

function pbCount(c: HistogramCount | undefined, intKey: string, floatKey: string): Record<string, string | number> {
  if (c === undefined) return {};
  return c.kind === 'int' ? { [intKey]: c.value.toString() } : { [floatKey]: bitsToNumber(c.bits) };
}

/** Our representation as a protobufjs `fromObject` input (int64 as decimal strings). */
export function toPbObject(req: WriteRequest): Record<string, unknown> {
  return {
    timeseries: req.timeseries.map((ts) => ({
      labels: ts.labels.map((l) => ({ name: l.name, value: l.value })),
      samples: ts.samples.map((s) => ({ value: bitsToNumber(s.value), timestamp: s.timestamp.toString() })),
      exemplars: ts.exemplars.map((e) => ({
        labels: e.labels.map((l) => ({ name: l.name, value: l.value })),
        value: bitsToNumber(e.value),
        timestamp: e.timestamp.toString(),
      })),
      histograms: ts.histograms.map((h) => ({
        ...pbCount(h.count, 'countInt', 'countFloat'),
        sum: bitsToNumber(h.sum),
        schema: h.schema,
        zeroThreshold: bitsToNumber(h.zeroThreshold),
        ...pbCount(h.zeroCount, 'zeroCountInt', 'zeroCountFloat'),
        negativeSpans: h.negativeSpans.map((s) => ({ offset: s.offset, length: s.length })),
        negativeDeltas: h.negativeDeltas.map((d) => d.toString()),
        negativeCounts: h.negativeCounts.map(bitsToNumber),
        positiveSpans: h.positiveSpans.map((s) => ({ offset: s.offset, length: s.length })),
        positiveDeltas: h.positiveDeltas.map((d) => d.toString()),
        positiveCounts: h.positiveCounts.map(bitsToNumber),
        resetHint: h.resetHint,
        timestamp: h.timestamp.toString(),
      })),
    })),
    metadata: req.metadata.map((m) => ({ type: m.type, metricFamilyName: m.metricFamilyName, help: m.help, unit: m.unit })),
  };
}

// ---- canonical form: what both decoders must agree on ----
//
// Doubles become "0x<bits>" when not NaN (so -0 ≠ +0 and every finite value is
// compared exactly) and "NaN" when NaN: protobufjs hands doubles over as JS numbers,
// which cannot be trusted with NaN payloads. Integers become decimal strings.

export function doubleKey(bits: Float64Bits): string {
  return isNaNBits(bits) ? 'NaN' : `0x${bits.toString(16)}`;
}

export function numberKey(n: number): string {
  return Number.isNaN(n) ? 'NaN' : `0x${numberToBits(n).toString(16)}`;
}

export interface CanonHistogram {
  count: string | null;
  sum: string;
  schema: number;
  zeroThreshold: string;
  zeroCount: string | null;
  negativeSpans: string[];
  negativeDeltas: string[];
  negativeCounts: string[];
  positiveSpans: string[];
  positiveDeltas: string[];
  positiveCounts: string[];
  resetHint: number;
  timestamp: string;
}
export interface CanonTimeSeries {
  labels: string[];
  samples: string[];
  exemplars: string[];
  histograms: CanonHistogram[];
}
export interface CanonWriteRequest {
  timeseries: CanonTimeSeries[];
  metadata: string[];
}

const labelKey = (name: string, value: string): string => JSON.stringify([name, value]);

function countKey(c: HistogramCount | undefined): string | null {
  if (c === undefined) return null;
  return c.kind === 'int' ? `int:${c.value}` : `float:${doubleKey(c.bits)}`;
}

export function canonical(req: WriteRequest): CanonWriteRequest {
  return {
    timeseries: req.timeseries.map((ts) => ({
      labels: ts.labels.map((l) => labelKey(l.name, l.value)),
      samples: ts.samples.map((s) => `${doubleKey(s.value)}@${s.timestamp}`),
      exemplars: ts.exemplars.map((e) => `${e.labels.map((l) => labelKey(l.name, l.value)).join(',')} ${doubleKey(e.value)}@${e.timestamp}`),
      histograms: ts.histograms.map((h) => ({
        count: countKey(h.count),
        sum: doubleKey(h.sum),
        schema: h.schema,
        zeroThreshold: doubleKey(h.zeroThreshold),
        zeroCount: countKey(h.zeroCount),
        negativeSpans: h.negativeSpans.map((s) => `${s.offset}:${s.length}`),
        negativeDeltas: h.negativeDeltas.map((d) => d.toString()),
        negativeCounts: h.negativeCounts.map(doubleKey),
        positiveSpans: h.positiveSpans.map((s) => `${s.offset}:${s.length}`),
        positiveDeltas: h.positiveDeltas.map((d) => d.toString()),
        positiveCounts: h.positiveCounts.map(doubleKey),
        resetHint: h.resetHint,
        timestamp: h.timestamp.toString(),
      })),
    })),
    metadata: req.metadata.map((m) => JSON.stringify([m.type, m.metricFamilyName, m.help, m.unit])),
  };
}

function pbCountKey(kind: string | undefined, int: string | undefined, float: number | undefined, intName: string): string | null {
  if (kind === undefined) return null;
  return kind === intName ? `int:${int ?? '0'}` : `float:${numberKey(float ?? 0)}`;
}

export function canonicalPb(req: PbWriteRequest): CanonWriteRequest {
  return {
    timeseries: req.timeseries.map((ts) => ({
      labels: ts.labels.map((l) => labelKey(l.name, l.value)),
      samples: ts.samples.map((s) => `${numberKey(s.value)}@${s.timestamp}`),
      exemplars: ts.exemplars.map((e) => `${e.labels.map((l) => labelKey(l.name, l.value)).join(',')} ${numberKey(e.value)}@${e.timestamp}`),
      histograms: ts.histograms.map((h) => ({
        count: pbCountKey(h.count, h.countInt, h.countFloat, 'countInt'),
        sum: numberKey(h.sum),
        schema: h.schema,
        zeroThreshold: numberKey(h.zeroThreshold),
        zeroCount: pbCountKey(h.zeroCount, h.zeroCountInt, h.zeroCountFloat, 'zeroCountInt'),
        negativeSpans: h.negativeSpans.map((s) => `${s.offset}:${s.length}`),
        negativeDeltas: h.negativeDeltas,
        negativeCounts: h.negativeCounts.map(numberKey),
        positiveSpans: h.positiveSpans.map((s) => `${s.offset}:${s.length}`),
        positiveDeltas: h.positiveDeltas,
        positiveCounts: h.positiveCounts.map(numberKey),
        resetHint: h.resetHint,
        timestamp: h.timestamp,
      })),
    })),
    metadata: req.metadata.map((m) => JSON.stringify([m.type, m.metricFamilyName, m.help, m.unit])),
  };
}
