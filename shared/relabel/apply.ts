// Relabels a decompressed WriteRequest: each series' labels go through the rules; a
// dropped series is left out, a changed one gets new (sorted) label fields ahead of its
// other fields copied as raw bytes, an unchanged one is copied whole. Samples,
// histograms, exemplars, metadata and unknown fields are never decoded, so values leave
// bit for bit as they came. When nothing changed the input buffer itself is returned.

import { HttpError } from '../errors';
import { formatSeries } from '../remote-write/format';
import { encodeLabelField } from '../remote-write/rewrite';
import { isUtf8Range } from '../remote-write/utf8';
import { type SeriesEdit, editSeries } from '../remote-write/edit-series';
import { type Cursor, readLenEnd, readTag, skipField, varintSize, writeVarint } from '../remote-write/wire';
import { KEEP, type RelabelCounters, VERDICT_CACHE_ENTRIES, type Verdict, type VerdictCache } from './counters';
import { hashLabels } from '../remote-write/partition';
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

const LABEL_TAG = 0x0a; // TimeSeries.labels (and WriteRequest.timeseries): field 1, length-delimited
const SAMPLE_TAG = 0x12; // TimeSeries.samples
const HISTOGRAM_TAG = 0x22; // TimeSeries.histograms

/**
 * Applies the counters' rules to every series of `raw`, adding dropped samples to the
 * counters. Throws HttpError(400) on malformed protobuf, label bytes that are not UTF-8,
 * or a label name given twice (the rules would see only one of them).
 */
export function relabelWriteRequest(raw: Buffer, counters: RelabelCounters): RelabelOutcome {
  const { rules, drops, cache } = counters;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  let series = 0;
  let droppedSeries = 0;
  let droppedSamples = 0;
  const out = editSeries(raw, (buf, bodyStart, tsEnd): SeriesEdit => {
    // one pass for where the labels are and how many samples follow; nothing decoded yet
    const c: Cursor = { pos: bodyStart };
    let samples = 0;
    let labelsStart = -1;
    let labelsEnd = -1;
    let contiguous = true;
    while (c.pos < tsEnd) {
      const start = c.pos;
      const t = readTag(buf, c, tsEnd);
      skipField(buf, c, tsEnd, t & 7);
      if (t === LABEL_TAG) {
        if (labelsStart < 0) labelsStart = start;
        else if (labelsEnd !== start) contiguous = false;
        labelsEnd = c.pos;
      } else if (t === SAMPLE_TAG || t === HISTOGRAM_TAG) {
        samples++;
      }
    }
    // Senders repeat the same series scrape after scrape: the verdict for a label set is
    // remembered by its exact bytes (found by their hash, then compared), so a known
    // series costs a hash and a memcmp, not the rules.
    const cacheable = contiguous && labelsStart >= 0;
    const hash = cacheable ? hashLabels(buf, dv, labelsStart, labelsEnd) : 0;
    let verdict = cacheable ? lookup(cache, hash, buf, labelsStart, labelsEnd) : undefined;
    if (verdict === undefined) {
      verdict = judge(buf, bodyStart, tsEnd, rules);
      if (cacheable) remember(cache, hash, Buffer.from(buf.subarray(labelsStart, labelsEnd)), verdict);
    }
    if (typeof verdict === 'number') {
      drops[verdict] += samples;
      droppedSeries++;
      droppedSamples += samples;
      return null;
    }
    series++;
    if (verdict === KEEP) return undefined;
    return contiguous
      ? withLabels(verdict, [buf.subarray(bodyStart, labelsStart), buf.subarray(labelsEnd, tsEnd)])
      : withLabels(verdict, nonLabelFields(buf, bodyStart, tsEnd));
  });
  return { raw: out, series, droppedSeries, droppedSamples };
}

function lookup(cache: VerdictCache, hash: number, buf: Buffer, s: number, e: number): Verdict | undefined {
  const entries = cache.get(hash);
  if (entries === undefined) return undefined;
  for (const entry of entries) if (entry.labels.length === e - s && entry.labels.compare(buf, s, e) === 0) return entry.verdict;
  return undefined;
}

function remember(cache: VerdictCache, hash: number, labels: Buffer, verdict: Verdict): void {
  if (cache.size >= VERDICT_CACHE_ENTRIES) cache.clear();
  const entries = cache.get(hash);
  if (entries) entries.push({ labels, verdict });
  else cache.set(hash, [{ labels, verdict }]);
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

function readLabel(raw: Buffer, c: Cursor, lEnd: number, tsStart: number, tsEnd: number): [string, string] {
  let ns = 0;
  let ne = 0;
  let vs = 0;
  let ve = 0;
  while (c.pos < lEnd) {
    const t = readTag(raw, c, lEnd);
    if (t === 0x0a || t === 0x12) {
      const e = readLenEnd(raw, c, lEnd);
      if (t === 0x0a) { ns = c.pos; ne = e; } else { vs = c.pos; ve = e; }
      c.pos = e;
    } else {
      skipField(raw, c, lEnd, t & 7);
    }
  }
  if (!isUtf8Range(raw, ns, ne) || !isUtf8Range(raw, vs, ve)) {
    throw new HttpError(400, 'invalid_utf8', `a label name or value is not valid UTF-8 in series ${formatSeries(raw, tsStart, tsEnd)}`);
  }
  return [raw.toString('utf8', ns, ne), raw.toString('utf8', vs, ve)];
}

function sameLabels(before: readonly (readonly [string, string])[], after: LabelMap): boolean {
  for (const [name, value] of before) if (after.get(name) !== value) return false;
  return true;
}

/** Every non-label field of a series, in order, as raw bytes. */
function nonLabelFields(buf: Buffer, bodyStart: number, tsEnd: number): Buffer[] {
  const fields: Buffer[] = [];
  const c: Cursor = { pos: bodyStart };
  while (c.pos < tsEnd) {
    const start = c.pos;
    const t = readTag(buf, c, tsEnd);
    skipField(buf, c, tsEnd, t & 7);
    if (t !== LABEL_TAG) fields.push(buf.subarray(start, c.pos));
  }
  return fields;
}

/** A TimeSeries field: the new label fields, then the series' other fields as they came. */
function withLabels(labelFields: Buffer, rest: Buffer[]): Buffer {
  let length = labelFields.length;
  for (const r of rest) length += r.length;
  const out = Buffer.allocUnsafe(1 + varintSize(length) + length);
  out[0] = LABEL_TAG;
  let o = writeVarint(out, 1, length);
  o += labelFields.copy(out, o);
  for (const r of rest) o += r.copy(out, o);
  return out;
}
