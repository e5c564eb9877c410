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

const LABEL_TAG = 0x0a; // TimeSeries.labels, field 1, length-delimited
const SAMPLE_TAG = 0x12; // TimeSeries.samples
const HISTOGRAM_TAG = 0x22; // TimeSeries.histograms

/**
 * Applies the counters' rules to every series of `raw`, adding dropped samples to the
 * counters. Throws HttpError(400) on malformed protobuf, label bytes that are not UTF-8,
 * or a label name given twice (the rules would see only one of them).
 */
export function relabelWriteRequest(raw: Buffer, counters: RelabelCounters): RelabelOutcome {
  const { rules, drops } = counters;
  let series = 0;
  let droppedSeries = 0;
  let droppedSamples = 0;
  const out = editSeries(raw, (buf, bodyStart, tsEnd): SeriesEdit => {
    const c: Cursor = { pos: bodyStart };
    const labels: LabelMap = new Map();
    let samples = 0;
    while (c.pos < tsEnd) {
      const t = readTag(buf, c, tsEnd);
      if (t === LABEL_TAG) {
        const lEnd = readLenEnd(buf, c, tsEnd);
        const [name, value] = readLabel(buf, c, lEnd, bodyStart, tsEnd);
        if (labels.has(name)) throw new HttpError(400, 'duplicate_label_name', `duplicate label name "${name}" in series ${formatSeries(buf, bodyStart, tsEnd)}`);
        if (value !== '') labels.set(name, value);
        continue;
      }
      if (t === SAMPLE_TAG || t === HISTOGRAM_TAG) samples++;
      skipField(buf, c, tsEnd, t & 7);
    }
    const before = [...labels];
    const by = relabel(labels, rules);
    if (by >= 0 || labels.size === 0 || !labels.has('__name__')) {
      drops[by >= 0 ? by : rules.length] += samples;
      droppedSeries++;
      droppedSamples += samples;
      return null;
    }
    series++;
    if (labels.size === before.length && sameLabels(before, labels)) return undefined;
    return encodeSeries(buf, bodyStart, tsEnd, labels);
  });
  return { raw: out, series, droppedSeries, droppedSamples };
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

/** A TimeSeries field with `labels` (sorted by name) then every non-label field of the original. */
function encodeSeries(raw: Buffer, bodyStart: number, tsEnd: number, labels: LabelMap): Buffer {
  // UTF-16 order is Prometheus's byte order for every name validation lets through
  const names = [...labels.keys()].sort();
  const fields: Buffer[] = [];
  for (const name of names) fields.push(encodeLabelField(name, labels.get(name) as string));
  const c: Cursor = { pos: bodyStart };
  while (c.pos < tsEnd) {
    const start = c.pos;
    const t = readTag(raw, c, tsEnd);
    skipField(raw, c, tsEnd, t & 7);
    if (t !== LABEL_TAG) fields.push(raw.subarray(start, c.pos));
  }
  const body = Buffer.concat(fields);
  const head = Buffer.allocUnsafe(1 + varintSize(body.length));
  head[0] = LABEL_TAG;
  writeVarint(head, 1, body.length);
  return Buffer.concat([head, body]);
}
