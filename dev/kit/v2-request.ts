// A remote-write 2.0 sender for tests, e2e and bench, built on the schema
// (prompb/io/prometheus/write/v2/types.proto): a symbol table with "" first, label
// references, samples and histograms with start timestamps, exemplars, metadata.
// Histograms share their field numbers 1-15 with 1.0, so their bytes come from the
// 1.0 encoder; everything else is written here.

import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import type { Exemplar, Float64Bits, Histogram, Label, Sample, WriteRequest } from '../../shared/remote-write/model/types';
import { type Cursor, readLenEnd } from '../../shared/remote-write/wire';
import { rawFixed64, rawLen, rawVarint, rawVarintField } from './random-write-request';

export interface V2Histogram extends Histogram {
  /** custom bucket bounds (schema -53), field 16 */
  customValues?: Float64Bits[];
  /** field 17 (rc.4) */
  startTimestamp?: bigint;
}

export interface V2Sample extends Sample {
  /** field 3 (rc.4) */
  startTimestamp?: bigint;
}

export interface V2Metadata {
  type: number;
  help: string;
  unit: string;
}

export interface V2Series {
  labels: Label[];
  samples: V2Sample[];
  histograms: V2Histogram[];
  exemplars: Exemplar[];
  metadata?: V2Metadata;
  /** TimeSeries.created_timestamp (6) of the drafts before rc.4 */
  createdTimestamp?: bigint;
}

export interface V2Options {
  /** symbols in this order first (e.g. to put something other than "" at 0) */
  symbols?: string[];
  /** labels_refs unpacked (one varint field each) instead of packed */
  unpackedRefs?: boolean;
}

/** The serialized io.prometheus.write.v2.Request (uncompressed). */
export function encodeV2Request(series: readonly V2Series[], opts: V2Options = {}): Buffer {
  const symbols = opts.symbols ? [...opts.symbols] : [''];
  const index = new Map<string, number>();
  symbols.forEach((s, i) => {
    if (!index.has(s)) index.set(s, i);
  });
  const ref = (s: string): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = symbols.push(s) - 1;
      index.set(s, i);
    }
    return i;
  };
  const refsField = (labels: readonly Label[]): Buffer => {
    const refs = labels.flatMap((l) => [ref(l.name), ref(l.value)]);
    if (refs.length === 0) return Buffer.alloc(0);
    if (opts.unpackedRefs) return Buffer.concat(refs.map((r) => rawVarintField(1, r)));
    return rawLen(1, Buffer.concat(refs.map((r) => rawVarint(r))));
  };
  const encoded = series.map((ts) => {
    const parts: Buffer[] = [refsField(ts.labels)];
    for (const s of ts.samples) {
      parts.push(
        rawLen(
          2,
          rawFixed64(1, s.value),
          rawVarintField(2, s.timestamp),
          s.startTimestamp !== undefined ? rawVarintField(3, s.startTimestamp) : Buffer.alloc(0),
        ),
      );
    }
    for (const h of ts.histograms) parts.push(rawLen(3, v2HistogramBytes(h)));
    for (const e of ts.exemplars) parts.push(rawLen(4, refsField(e.labels), rawFixed64(2, e.value), rawVarintField(3, e.timestamp)));
    if (ts.metadata)
      parts.push(rawLen(5, rawVarintField(1, ts.metadata.type), rawVarintField(3, ref(ts.metadata.help)), rawVarintField(4, ref(ts.metadata.unit))));
    if (ts.createdTimestamp !== undefined) parts.push(rawVarintField(6, ts.createdTimestamp));
    return rawLen(5, ...parts);
  });
  return Buffer.concat([...symbols.map((s) => rawLen(4, s)), ...encoded]);
}

export function v2HistogramBytes(h: V2Histogram): Buffer {
  const v1 = encodeWriteRequest({ timeseries: [{ labels: [], samples: [], exemplars: [], histograms: [h] }], metadata: [] });
  // WriteRequest.timeseries { histograms { … } }: the innermost payload is the Histogram
  const c: Cursor = { pos: 1 };
  readLenEnd(v1, c, v1.length);
  c.pos += 1;
  const end = readLenEnd(v1, c, v1.length);
  const parts = [v1.subarray(c.pos, end)];
  if (h.customValues && h.customValues.length > 0) {
    const packed = Buffer.alloc(8 * h.customValues.length);
    h.customValues.forEach((b, i) => packed.writeBigUInt64LE(b, 8 * i));
    parts.push(rawLen(16, packed));
  }
  if (h.startTimestamp !== undefined) parts.push(rawVarintField(17, h.startTimestamp));
  return Buffer.concat(parts);
}

/**
 * The 2.0 form of a 1.0 request, as a 2.0 sender would make it: a series with both
 * samples and histograms split in two, each series carrying its family's metadata
 * (by exact name, or for histograms and summaries by name less _bucket/_sum/_count).
 */
export function v2SeriesOf(req: WriteRequest, start?: bigint): V2Series[] {
  const meta = new Map(req.metadata.map((m) => [m.metricFamilyName, { type: m.type, help: m.help, unit: m.unit }]));
  const out: V2Series[] = [];
  for (const ts of req.timeseries) {
    const name = ts.labels.find((l) => l.name === '__name__')?.value ?? '';
    const m = meta.get(name) ?? meta.get(name.replace(/_(bucket|sum|count)$/, ''));
    const withMeta = m ? { metadata: m } : {};
    const samples = ts.samples.map((s) => (start === undefined ? s : { ...s, startTimestamp: start }));
    const histograms = ts.histograms.map((h) => (start === undefined ? h : { ...h, startTimestamp: start }));
    if (samples.length > 0 && histograms.length > 0) {
      out.push({ labels: ts.labels, samples, histograms: [], exemplars: ts.exemplars, ...withMeta });
      out.push({ labels: ts.labels, samples: [], histograms, exemplars: [], ...withMeta });
    } else {
      out.push({ labels: ts.labels, samples, histograms, exemplars: ts.exemplars, ...withMeta });
    }
  }
  return out;
}
