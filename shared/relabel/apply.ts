// Relabels a decompressed WriteRequest: each series' labels go through the rules; a
// dropped series is left out, a changed one gets new (sorted) label fields ahead of its
// other fields copied as raw bytes, an unchanged one is copied whole. Samples,
// histograms, exemplars, metadata and unknown fields are never decoded, so values leave
// bit for bit as they came. When nothing changed the input buffer itself is returned.
// This runs per series on the write path (bench/README.md, relabel): no label strings
// for a series seen before, no Buffer per series, the output written into one buffer.

import { NAME_END, NAME_START, SUPERSEDED_BAD, VALUE_END, VALUE_START, labelSpan, readLabelFields } from '../remote-write/label';
import { HttpError } from '../errors';
import { formatSeries } from '../remote-write/format';
import { encodeLabelField } from '../remote-write/rewrite';
import { isUtf8Range } from '../remote-write/utf8';
import { type Cursor, WireError, readLenEnd, readTag, skipField, varintSize, writeVarint } from '../remote-write/wire';
import { KEEP, KEPT, REWRITTEN, type Verdict, findEntry, rememberVerdict } from './cache';
import type { RelabelCounters } from './counters';
import { type LabelMap, relabel } from './process';

export interface RelabelOutcome {
  /** the relabelled request (the input itself when nothing changed) */
  raw: Buffer;
  /** series left after relabelling */
  series: number;
  droppedSeries: number;
  /** samples + histogram samples of the dropped series */
  droppedSamples: number;
}

const SERIES_TAG = 0x0a; // WriteRequest.timeseries: field 1, length-delimited
const LABEL_TAG = 0x0a; // TimeSeries.labels: field 1 too
const SAMPLE_TAG = 0x12; // TimeSeries.samples
const HISTOGRAM_TAG = 0x22; // TimeSeries.histograms

/**
 * Applies the counters' rules to every series of `raw`, adding dropped samples to the
 * counters. Throws HttpError(400) on malformed protobuf, label bytes that are not UTF-8,
 * or a label name given twice (the rules would see only one of them). `inPlace`: `raw`
 * is the caller's to give away, and the result may be written over it (a fresh buffer
 * per request showed up as GC time); it is then a view on `raw`, never `raw` itself.
 */
export function relabelWriteRequest(raw: Buffer, counters: RelabelCounters, inPlace = false): RelabelOutcome {
  const { rules, drops, cache } = counters;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const out: Output = { buf: undefined, view: dv, inPlace, pos: 0, copiedFrom: 0 };
  let series = 0;
  let droppedSeries = 0;
  let droppedSamples = 0;
  const end = raw.length;
  try {
    let pos = 0;
    while (pos < end) {
      const fieldStart = pos;
      cursor.pos = pos;
      const tag = readTag(raw, cursor, end);
      if (tag !== SERIES_TAG) {
        skipField(raw, cursor, end, tag & 7);
        pos = cursor.pos;
        continue;
      }
      const tsEnd = readLenEnd(raw, cursor, end);
      const bodyStart = cursor.pos;
      pos = tsEnd;
      // one pass for where the labels are and how many samples follow; nothing decoded yet
      let samples = 0;
      let labelsStart = -1;
      let labelsEnd = -1;
      let contiguous = true;
      let p = bodyStart;
      while (p < tsEnd) {
        const t = raw[p];
        if (t === LABEL_TAG) {
          if (labelsStart < 0) labelsStart = p;
          else if (labelsEnd !== p) contiguous = false;
          p = lenEnd(raw, p + 1, tsEnd);
          labelsEnd = p;
        } else if (t === SAMPLE_TAG || t === HISTOGRAM_TAG) {
          samples++;
          p = lenEnd(raw, p + 1, tsEnd);
        } else {
          cursor.pos = p;
          skipField(raw, cursor, tsEnd, readTag(raw, cursor, tsEnd) & 7);
          p = cursor.pos;
        }
      }
      // a known series costs a compare (and mostly no hash), not the rules (cache.ts)
      const cacheable = contiguous && labelsStart >= 0;
      let entry = cacheable ? findEntry(cache, raw, dv, labelsStart, labelsEnd) : -1;
      let judged: Verdict = KEEP;
      if (entry < 0) {
        judged = judge(raw, bodyStart, tsEnd, rules);
        if (cacheable) entry = rememberVerdict(cache, raw, dv, labelsStart, labelsEnd, judged);
      }
      const kind = entry >= 0 ? cache.kind[entry] : kindOf(judged);
      if (kind >= 0) {
        drops[kind] += samples;
        droppedSeries++;
        droppedSamples += samples;
        skipTo(out, raw, dv, fieldStart, tsEnd);
        continue;
      }
      series++;
      if (kind === KEPT) continue;
      skipTo(out, raw, dv, fieldStart, tsEnd);
      // the new label fields: in the cache's buffer, or (not cached) the judged Buffer
      if (entry >= 0) {
        newLabels.buf = cache.arena;
        newLabels.view = cache.view;
        newLabels.start = cache.start[entry] + cache.length[entry];
        newLabels.end = newLabels.start + cache.rewritten[entry];
      } else {
        const b = judged as Buffer;
        newLabels.buf = b;
        newLabels.view = new DataView(b.buffer, b.byteOffset, b.length);
        newLabels.start = 0;
        newLabels.end = b.length;
      }
      if (contiguous) writeSeries(out, newLabels, raw, dv, bodyStart, labelsStart, labelsEnd, tsEnd);
      else writeSeriesFields(out, newLabels, raw, dv, bodyStart, tsEnd);
    }
  } catch (err) {
    if (err instanceof WireError) throw new HttpError(400, 'bad_protobuf', `malformed protobuf WriteRequest: ${err.message}`);
    throw err;
  }
  if (out.buf === undefined) return { raw, series, droppedSeries, droppedSamples };
  copyPending(out, raw, dv, end);
  return { raw: out.buf.subarray(0, out.pos), series, droppedSeries, droppedSamples };
}

// ---- reading ----

const cursor: Cursor = { pos: 0 };

/** The end of the length-delimited payload whose length varint starts at p. */
function lenEnd(buf: Buffer, p: number, end: number): number {
  const b = p < end ? buf[p] : 0x80;
  let e: number;
  if (b < 0x80) {
    e = p + 1 + b;
    if (e > end) throw new WireError('length-delimited field runs past its message');
  } else {
    cursor.pos = p;
    e = readLenEnd(buf, cursor, end);
  }
  return e;
}

// ---- writing: the output is built only once a series changes, in one buffer ----

interface Output {
  /** undefined until the first series is dropped or rewritten; the input itself while written in place */
  buf: Buffer | undefined;
  /** a view on `buf`, for copying eight bytes a step */
  view: DataView;
  inPlace: boolean;
  pos: number;
  /** input bytes before this are in the output (or left out); in place, never before `pos` */
  copiedFrom: number;
}

/** A range of bytes, with a view on its buffer. */
interface Bytes {
  buf: Buffer;
  view: DataView;
  start: number;
  end: number;
}

const NO_BYTES = Buffer.alloc(0);
/** where the series being written gets its label fields from (one object, refilled per series) */
const newLabels: Bytes = { buf: NO_BYTES, view: new DataView(NO_BYTES.buffer), start: 0, end: 0 };

function kindOf(v: Verdict): number {
  return v === KEEP ? KEPT : typeof v === 'number' ? v : REWRITTEN;
}

/** Room for n more bytes in a buffer of the output's own (leaving the input, if written in place). */
function reserve(out: Output, raw: Buffer, n: number): Buffer {
  let buf = out.buf;
  if (buf === undefined || buf === raw) {
    // rules mostly shrink labels: the input's size is room enough
    const own = Buffer.allocUnsafe(Math.max(raw.length, out.pos + n));
    if (buf === raw) raw.copy(own, 0, 0, out.pos);
    setOutput(out, own);
    return own;
  }
  if (out.pos + n > buf.length) {
    const grown = Buffer.allocUnsafe(Math.max(2 * buf.length, out.pos + n));
    buf.copy(grown, 0, 0, out.pos);
    setOutput(out, grown);
    buf = grown;
  }
  return buf;
}

function setOutput(out: Output, buf: Buffer): void {
  out.buf = buf;
  out.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
}

/** Copies the input not yet in the output up to `until`. */
function copyPending(out: Output, raw: Buffer, dv: DataView, until: number): void {
  const n = until - out.copiedFrom;
  if (out.buf === undefined && out.inPlace) {
    out.buf = raw;
    out.view = dv;
  }
  if (out.buf === raw) {
    if (n > 0 && out.pos !== out.copiedFrom) raw.copyWithin(out.pos, out.copiedFrom, until);
    out.pos += n;
  } else {
    const buf = reserve(out, raw, n);
    if (n > 0) out.pos += raw.copy(buf, out.pos, out.copiedFrom, until);
  }
  out.copiedFrom = until;
}

/** Everything before `from` goes to the output; [from, to) is left out (a series dropped or replaced). */
function skipTo(out: Output, raw: Buffer, dv: DataView, from: number, to: number): void {
  copyPending(out, raw, dv, from);
  out.copiedFrom = to;
}

/** A TimeSeries field: the new label fields in place of raw[labelsStart, labelsEnd), the other fields as they came. */
function writeSeries(out: Output, labels: Bytes, raw: Buffer, dv: DataView, bodyStart: number, labelsStart: number, labelsEnd: number, tsEnd: number): void {
  const labelsLength = labels.end - labels.start;
  const length = labelsLength + (labelsStart - bodyStart) + (tsEnd - labelsEnd);
  const size = 1 + varintSize(length) + length;
  let o: number;
  if (out.buf === raw && labelsStart === bodyStart && out.pos + size <= tsEnd) {
    // in place, labels first (as encoders write them) and no longer than the series was:
    // its other fields move left (or stay), then the header and labels go in front of them
    copyBytes(raw, dv, labelsEnd, tsEnd, raw, dv, out.pos + size - (tsEnd - labelsEnd));
    o = writeVarint(raw, out.pos + 1, length);
  } else {
    const buf = reserve(out, raw, size);
    o = writeVarint(buf, out.pos + 1, length);
    o = copyBytes(raw, dv, bodyStart, labelsStart, buf, out.view, o);
    copyBytes(raw, dv, labelsEnd, tsEnd, buf, out.view, o + labelsLength);
  }
  const buf = out.buf as Buffer;
  buf[out.pos] = SERIES_TAG;
  copyBytes(labels.buf, labels.view, labels.start, labels.end, buf, out.view, o);
  out.pos += size;
}

/** As writeSeries, for a series whose label fields are not all in one run. */
function writeSeriesFields(out: Output, labels: Bytes, raw: Buffer, dv: DataView, bodyStart: number, tsEnd: number): void {
  const fields: [number, number][] = [];
  let length = labels.end - labels.start;
  cursor.pos = bodyStart;
  while (cursor.pos < tsEnd) {
    const start = cursor.pos;
    const t = readTag(raw, cursor, tsEnd);
    skipField(raw, cursor, tsEnd, t & 7);
    if (t !== LABEL_TAG) {
      fields.push([start, cursor.pos]);
      length += cursor.pos - start;
    }
  }
  const buf = reserve(out, raw, 1 + varintSize(length) + length);
  buf[out.pos] = SERIES_TAG;
  let o = writeVarint(buf, out.pos + 1, length);
  o = copyBytes(labels.buf, labels.view, labels.start, labels.end, buf, out.view, o);
  for (const [s, e] of fields) o = copyBytes(raw, dv, s, e, buf, out.view, o);
  out.pos = o;
}

/**
 * Copies src[s, e) to dst at o (o <= s when they share memory: each step reads before it
 * writes over what it read); the end in dst. Short runs (labels, a sample) go eight bytes
 * a step through the views, as integers (a double could lose a NaN's payload): Buffer#copy
 * costs 55-100 ns a call whatever the length, the loop less below ~200 bytes.
 */
function copyBytes(src: Buffer, sv: DataView, s: number, e: number, dst: Buffer, dv: DataView, o: number): number {
  if (e - s >= 192) return o + src.copy(dst, o, s, e);
  let i = s;
  for (; i + 8 <= e; i += 8, o += 8) {
    dv.setInt32(o, sv.getInt32(i, true), true);
    dv.setInt32(o + 4, sv.getInt32(i + 4, true), true);
  }
  for (; i < e; i++) dst[o++] = src[i];
  return o;
}

/** The rules' verdict on one series: the index of the rule that dropped it, KEEP, or its new label fields. */
function judge(buf: Buffer, bodyStart: number, tsEnd: number, rules: RelabelCounters['rules']): Verdict {
  const c: Cursor = { pos: bodyStart };
  const labels: LabelMap = new Map();
  while (c.pos < tsEnd) {
    const t = readTag(buf, c, tsEnd);
    if (t !== LABEL_TAG) {
      skipField(buf, c, tsEnd, t & 7);
      continue;
    }
    const lEnd = readLenEnd(buf, c, tsEnd);
    const [name, value] = readLabel(buf, c, lEnd, bodyStart, tsEnd);
    if (labels.has(name)) throw new HttpError(400, 'duplicate_label_name', `duplicate label name "${name}" in series ${formatSeries(buf, bodyStart, tsEnd)}`);
    if (value !== '') labels.set(name, value);
  }
  const before = [...labels];
  const by = relabel(labels, rules);
  if (by >= 0) return by;
  if (labels.size === 0 || !labels.has('__name__')) return rules.length;
  if (labels.size === before.length && sameLabels(before, labels)) return KEEP;
  // UTF-16 order is Prometheus's byte order for every name validation lets through
  const names = [...labels.keys()].sort();
  return Buffer.concat(names.map((name) => encodeLabelField(name, labels.get(name) as string)));
}

/** One label's name and value as strings, read by the shared Label reader (label.ts); invalid UTF-8 is a 400 naming the series. */
function readLabel(raw: Buffer, c: Cursor, lEnd: number, tsStart: number, tsEnd: number): [string, string] {
  readLabelFields(raw, c.pos, lEnd, span);
  c.pos = lEnd;
  const [ns, ne, vs, ve] = [span[NAME_START], span[NAME_END], span[VALUE_START], span[VALUE_END]];
  if (span[SUPERSEDED_BAD] === 1 || !isUtf8Range(raw, ns, ne) || !isUtf8Range(raw, vs, ve)) {
    throw new HttpError(400, 'invalid_utf8', `a label name or value is not valid UTF-8 in series ${formatSeries(raw, tsStart, tsEnd)}`);
  }
  return [raw.toString('utf8', ns, ne), raw.toString('utf8', vs, ve)];
}

const span = labelSpan();

function sameLabels(before: readonly (readonly [string, string])[], after: LabelMap): boolean {
  for (const [name, value] of before) if (after.get(name) !== value) return false;
  return true;
}
