// One zero-copy pass over a decompressed prometheus.WriteRequest: checks that it is
// well-formed protobuf and that every series obeys the label rules and limits,
// counts what it holds, and notes whether any series needs rewriting (unsorted
// labels, or a missing cluster label). Nothing is materialised: labels are compared
// and checked as byte ranges, sample values are never read as numbers.

import { HttpError, type RejectReason } from '../errors';
import {
  type Cursor,
  WIRE_LEN,
  WireError,
  readLenEnd,
  readTag,
  skipField,
  skipVarint,
} from './wire';
import { HISTOGRAM_SCHEMA, METADATA_SCHEMA, checkMessage } from './schema';
import { formatSeries } from './format';
import { countUtf8Chars, isUtf8Range } from './utf8';
import { compareRanges, equalsBytes } from './bytes';

export interface SeriesLimits {
  maxLabelsPerSeries: number;
  maxLabelNameLength: number;
  maxLabelValueLength: number;
  maxMetricNameLength: number;
}

/** Azure Monitor managed Prometheus's published per-series limits. */
export const AZURE_MONITOR_LIMITS: SeriesLimits = {
  maxLabelsPerSeries: 63,
  maxLabelNameLength: 511,
  maxLabelValueLength: 1023,
  maxMetricNameLength: 511,
};

export interface ScanResult {
  series: number;
  samples: number;
  histograms: number;
  exemplars: number;
  metadata: number;
  /** series whose labels arrived out of order (sorted on the way out) */
  unsorted: number;
  /** series that will get the cluster label */
  missingCluster: number;
}

export function emptyScanResult(): ScanResult {
  return { series: 0, samples: 0, histograms: 0, exemplars: 0, metadata: 0, unsorted: 0, missingCluster: 0 };
}

const NAME_LABEL = Buffer.from('__name__');
const CLUSTER_LABEL = Buffer.from('cluster');

// Label-name offsets of the series being scanned, reused across series (only read
// when a series turns out unsorted, to look for duplicates).
let nameStarts = new Int32Array(128);
let nameEnds = new Int32Array(128);

/**
 * Validates a decompressed WriteRequest. Throws HttpError(400) naming the rule and
 * the offending series; returns counts otherwise. `cluster` is the label value to
 * inject (undefined: no injection), used only to count series that lack it.
 */
export function validateWriteRequest(buf: Buffer, limits: SeriesLimits, cluster?: string): ScanResult {
  const result = emptyScanResult();
  const c: Cursor = { pos: 0 };
  const end = buf.length;
  try {
    while (c.pos < end) {
      const tag = readTag(buf, c, end);
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 1) {
        if (wire !== WIRE_LEN) throw new WireError('WriteRequest.timeseries has the wrong wire type');
        const tsEnd = readLenEnd(buf, c, end);
        scanTimeSeries(buf, c.pos, tsEnd, limits, cluster !== undefined, result);
        c.pos = tsEnd;
      } else if (field === 3) {
        if (wire !== WIRE_LEN) throw new WireError('WriteRequest.metadata has the wrong wire type');
        const mdEnd = readLenEnd(buf, c, end);
        checkMessage(buf, c.pos, mdEnd, METADATA_SCHEMA, 'metadata');
        result.metadata++;
        c.pos = mdEnd;
      } else {
        skipField(buf, c, end, wire); // unknown fields pass through
      }
    }
  } catch (err) {
    if (err instanceof WireError) throw new HttpError(400, 'bad_protobuf', `malformed protobuf WriteRequest: ${err.message}`);
    throw err;
  }
  return result;
}

function scanTimeSeries(buf: Buffer, start: number, end: number, limits: SeriesLimits, wantCluster: boolean, result: ScanResult): void {
  const c: Cursor = { pos: start };
  let labels = 0;
  let sorted = true;
  let hasName = false;
  let hasCluster = false;
  let emptyCluster = false;
  let prevStart = -1;
  let prevEnd = -1;
  while (c.pos < end) {
    const tag = readTag(buf, c, end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.labels has the wrong wire type');
      const labelEnd = readLenEnd(buf, c, end);
      // Label { string name = 1; string value = 2; }
      let ns = c.pos, ne = c.pos, vs = c.pos, ve = c.pos;
      while (c.pos < labelEnd) {
        const t = readTag(buf, c, labelEnd);
        if (t === 0x0a) {
          ne = readLenEnd(buf, c, labelEnd);
          ns = c.pos;
          c.pos = ne;
        } else if (t === 0x12) {
          ve = readLenEnd(buf, c, labelEnd);
          vs = c.pos;
          c.pos = ve;
        } else {
          if ((t >>> 3) <= 2) throw new WireError('Label field has the wrong wire type');
          skipField(buf, c, labelEnd, t & 7);
        }
      }
      if (labels >= nameStarts.length) growNameOffsets();
      nameStarts[labels] = ns;
      nameEnds[labels] = ne;
      labels++;

      const isName = equalsBytes(buf, ns, ne, NAME_LABEL);
      if (isName) {
        hasName = true;
        checkMetricName(buf, vs, ve, limits, start, end);
      } else {
        checkLabelName(buf, ns, ne, limits, start, end);
        if (equalsBytes(buf, ns, ne, CLUSTER_LABEL)) {
          // an empty value means "no label" in Prometheus: the rewrite replaces it
          if (ve > vs) hasCluster = true;
          else emptyCluster = true;
        }
      }
      checkLabelValue(buf, vs, ve, ns, ne, limits, start, end);

      if (prevStart >= 0) {
        const cmp = compareRanges(buf, ns, ne, buf, prevStart, prevEnd);
        if (cmp === 0) fail('duplicate_label_name', `duplicate label name "${buf.toString('latin1', ns, ne)}"`, buf, start, end);
        if (cmp < 0) sorted = false;
      }
      prevStart = ns;
      prevEnd = ne;
    } else if (field === 2) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.samples has the wrong wire type');
      const sEnd = readLenEnd(buf, c, end);
      scanSample(buf, c, sEnd);
      result.samples++;
    } else if (field === 3) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.exemplars has the wrong wire type');
      const eEnd = readLenEnd(buf, c, end);
      scanExemplar(buf, c, eEnd);
      result.exemplars++;
    } else if (field === 4) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.histograms has the wrong wire type');
      const hEnd = readLenEnd(buf, c, end);
      checkMessage(buf, c.pos, hEnd, HISTOGRAM_SCHEMA, 'histogram');
      c.pos = hEnd;
      result.histograms++;
    } else {
      skipField(buf, c, end, wire);
    }
  }

  if (!hasName) fail('missing_metric_name', 'series has no __name__ label', buf, start, end);
  const finalLabels = labels + (wantCluster && !hasCluster && !emptyCluster ? 1 : 0);
  if (finalLabels > limits.maxLabelsPerSeries) {
    fail('too_many_labels', `series has ${finalLabels} labels${finalLabels > labels ? ' (with the cluster label)' : ''}, the limit is ${limits.maxLabelsPerSeries}`, buf, start, end);
  }
  if (!sorted) {
    checkDuplicatesUnsorted(buf, labels, start, end);
    result.unsorted++;
  }
  if (wantCluster && !hasCluster) result.missingCluster++;
  result.series++;
}

function scanSample(buf: Buffer, c: Cursor, end: number): void {
  // Sample { double value = 1; int64 timestamp = 2; } — the value is never read.
  while (c.pos < end) {
    const t = readTag(buf, c, end);
    if (t === 0x09) {
      if (c.pos + 8 > end) throw new WireError('truncated sample value');
      c.pos += 8;
    } else if (t === 0x10) {
      skipVarint(buf, c, end);
    } else {
      if ((t >>> 3) <= 2) throw new WireError('Sample field has the wrong wire type');
      skipField(buf, c, end, t & 7);
    }
  }
}

function scanExemplar(buf: Buffer, c: Cursor, end: number): void {
  // Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
  while (c.pos < end) {
    const t = readTag(buf, c, end);
    if (t === 0x0a) {
      const labelEnd = readLenEnd(buf, c, end);
      while (c.pos < labelEnd) {
        const lt = readTag(buf, c, labelEnd);
        if (lt === 0x0a || lt === 0x12) {
          const se = readLenEnd(buf, c, labelEnd);
          if (!isUtf8Range(buf, c.pos, se)) throw new HttpError(400, 'invalid_utf8', 'exemplar label is not valid UTF-8');
          c.pos = se;
        } else {
          if ((lt >>> 3) <= 2) throw new WireError('exemplar Label field has the wrong wire type');
          skipField(buf, c, labelEnd, lt & 7);
        }
      }
    } else if (t === 0x11) {
      if (c.pos + 8 > end) throw new WireError('truncated exemplar value');
      c.pos += 8;
    } else if (t === 0x18) {
      skipVarint(buf, c, end);
    } else {
      if ((t >>> 3) <= 3) throw new WireError('Exemplar field has the wrong wire type');
      skipField(buf, c, end, t & 7);
    }
  }
}

function checkLabelName(buf: Buffer, s: number, e: number, limits: SeriesLimits, tsStart: number, tsEnd: number): void {
  if (e === s) fail('invalid_label_name', 'empty label name', buf, tsStart, tsEnd);
  let ok = isNameStart(buf[s]);
  for (let i = s + 1; ok && i < e; i++) ok = isNameChar(buf[i]);
  if (!ok) {
    fail('invalid_label_name', `label name ${JSON.stringify(buf.toString('utf8', s, Math.min(e, s + 64)))} does not match [a-zA-Z_][a-zA-Z0-9_]*`, buf, tsStart, tsEnd);
  }
  if (e - s > limits.maxLabelNameLength) {
    fail('label_name_too_long', `label name is ${e - s} characters, the limit is ${limits.maxLabelNameLength}`, buf, tsStart, tsEnd);
  }
}

function checkMetricName(buf: Buffer, s: number, e: number, limits: SeriesLimits, tsStart: number, tsEnd: number): void {
  if (e === s) fail('invalid_metric_name', 'empty metric name (__name__)', buf, tsStart, tsEnd);
  let ok = isNameStart(buf[s]) || buf[s] === 0x3a;
  for (let i = s + 1; ok && i < e; i++) ok = isNameChar(buf[i]) || buf[i] === 0x3a;
  if (!ok) {
    fail('invalid_metric_name', `metric name ${JSON.stringify(buf.toString('utf8', s, Math.min(e, s + 64)))} does not match [a-zA-Z_:][a-zA-Z0-9_:]*`, buf, tsStart, tsEnd);
  }
  if (e - s > limits.maxMetricNameLength) {
    fail('metric_name_too_long', `metric name is ${e - s} characters, the limit is ${limits.maxMetricNameLength}`, buf, tsStart, tsEnd);
  }
}

function checkLabelValue(buf: Buffer, s: number, e: number, ns: number, ne: number, limits: SeriesLimits, tsStart: number, tsEnd: number): void {
  if (!isUtf8Range(buf, s, e)) {
    fail('invalid_utf8', `value of label "${buf.toString('latin1', ns, Math.min(ne, ns + 64))}" is not valid UTF-8`, buf, tsStart, tsEnd);
  }
  // Limits are in characters: bytes bound them from above, so count only when needed.
  if (e - s > limits.maxLabelValueLength) {
    const chars = countUtf8Chars(buf, s, e);
    if (chars > limits.maxLabelValueLength) {
      fail('label_value_too_long', `value of label "${buf.toString('latin1', ns, Math.min(ne, ns + 64))}" is ${chars} characters, the limit is ${limits.maxLabelValueLength}`, buf, tsStart, tsEnd);
    }
  }
}

function checkDuplicatesUnsorted(buf: Buffer, labels: number, tsStart: number, tsEnd: number): void {
  for (let i = 1; i < labels; i++) {
    for (let j = 0; j < i; j++) {
      if (compareRanges(buf, nameStarts[i], nameEnds[i], buf, nameStarts[j], nameEnds[j]) === 0) {
        fail('duplicate_label_name', `duplicate label name "${buf.toString('latin1', nameStarts[i], nameEnds[i])}"`, buf, tsStart, tsEnd);
      }
    }
  }
}

function growNameOffsets(): void {
  const s = new Int32Array(nameStarts.length * 2);
  const e = new Int32Array(nameEnds.length * 2);
  s.set(nameStarts);
  e.set(nameEnds);
  nameStarts = s;
  nameEnds = e;
}

function fail(reason: RejectReason, what: string, buf: Buffer, tsStart: number, tsEnd: number): never {
  throw new HttpError(400, reason, `${what}: ${formatSeries(buf, tsStart, tsEnd)}`);
}

function isNameStart(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f;
}

function isNameChar(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || (b >= 0x30 && b <= 0x39);
}

