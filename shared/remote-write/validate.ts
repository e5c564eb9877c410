// One zero-copy pass over a decompressed prometheus.WriteRequest: checks that it is
// well-formed protobuf and that every series obeys the label rules and limits,
// counts what it holds, and notes whether any series needs rewriting (unsorted
// labels, or a missing cluster label). Nothing is materialised: labels are compared
// and checked as byte ranges, sample values are never read as numbers.

import { grownInt32 } from '../buffers/grow';
import { HttpError, type RejectReason } from '../errors';
import { type Cursor, WIRE_LEN, WireError, readInt64Number, readLenEnd, readTag, skipField, skipVarint } from './wire';
import { HISTOGRAM_SCHEMA, METADATA_SCHEMA, checkMessage } from './schema';
import { formatSeries } from './format';
import { countUtf8Chars, isUtf8Range } from './utf8';
import { compareRanges, equalsBytes } from './bytes';
import { fieldInt64 } from './count';
import { NAME_END, NAME_START, SUPERSEDED_BAD, VALUE_END, VALUE_START, labelSpan, readLabelFields } from './label';

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
  /** series claiming another cluster, to be overwritten (onForeignCluster: 'overwrite') */
  foreignCluster: number;
  /**
   * Oldest and newest timestamp (ms since the epoch) over every sample and histogram
   * (exemplars not counted); +Infinity / -Infinity when there are none. int64s beyond
   * 2^53 are rounded to the nearest double.
   */
  minTime: number;
  maxTime: number;
}

/**
 * A series whose cluster label names another cluster: `keep` it (single tenant: the label
 * is only added where missing), `reject` the request (403), or `overwrite` the value.
 */
export type ForeignClusterPolicy = 'keep' | 'reject' | 'overwrite';

export function emptyScanResult(): ScanResult {
  return {
    series: 0,
    samples: 0,
    histograms: 0,
    exemplars: 0,
    metadata: 0,
    unsorted: 0,
    missingCluster: 0,
    foreignCluster: 0,
    minTime: Infinity,
    maxTime: -Infinity,
  };
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
export function validateWriteRequest(buf: Buffer, limits: SeriesLimits, cluster?: string, onForeignCluster: ForeignClusterPolicy = 'keep'): ScanResult {
  return validate(buf, limits, cluster, onForeignCluster, false).scan;
}

/**
 * validateWriteRequest, and for a request that needs rewriting the plan rewriteLabels
 * follows (so it never parses a label a second time); no plan when nothing changes or
 * the request changes more series than a plan keeps.
 */
export function validateForRewrite(buf: Buffer, limits: SeriesLimits, cluster?: string, onForeignCluster: ForeignClusterPolicy = 'keep'): Validated {
  return validate(buf, limits, cluster, onForeignCluster, true);
}

export interface Validated {
  scan: ScanResult;
  plan: RewritePlan | undefined;
}

function validate(buf: Buffer, limits: SeriesLimits, cluster: string | undefined, onForeignCluster: ForeignClusterPolicy, wantPlan: boolean): Validated {
  const result = emptyScanResult();
  enforced = cluster !== undefined && onForeignCluster !== 'keep' ? Buffer.from(cluster, 'utf8') : undefined;
  rejectForeign = onForeignCluster === 'reject';
  view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  planning = wantPlan;
  scratch.count = 0;
  scratch.complete = true;
  times[0] = Infinity;
  times[1] = -Infinity;
  const c: Cursor = { pos: 0 };
  const end = buf.length;
  try {
    while (c.pos < end) {
      fieldBegin = c.pos;
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
  result.minTime = times[0];
  result.maxTime = times[1];
  return { scan: result, plan: wantPlan ? planOf(buf, cluster, cluster !== undefined && onForeignCluster === 'overwrite') : undefined };
}

/**
 * What validation learnt for the rewrite: the series of one validated request that
 * change (unsorted labels, or a cluster label to add), in order, and for each whether it
 * is a plain splice (sorted labels up front: copy up to `at`, insert the cluster field,
 * go on from `resume`) or needs the general rewrite. Valid for `buf` and this cluster
 * value only (rewriteLabels checks).
 */
export interface RewritePlan {
  buf: Buffer;
  cluster: string | undefined;
  /** made under onForeignCluster 'overwrite' */
  overwrite: boolean;
  count: number;
  /** offset of the series' field tag in the request */
  begin: Int32Array;
  /** its payload [start, end) */
  start: Int32Array;
  end: Int32Array;
  /** splice: cluster field goes at `at`, copying resumes at `resume` (> at: an empty cluster label dropped); -1: general rewrite */
  at: Int32Array;
  resume: Int32Array;
}

/** Most changing series a plan records (6 MiB of offsets); beyond, the rewrite parses. */
const PLAN_MAX = 262_144;

/**
 * The plan being recorded, reused across validations (it grows to the largest request
 * seen); each returned plan is a copy of its used part.
 */
const scratch = {
  complete: true,
  count: 0,
  begin: new Int32Array(256),
  start: new Int32Array(256),
  end: new Int32Array(256),
  at: new Int32Array(256),
  resume: new Int32Array(256),
};

/** Whether the validation under way records a plan. */
let planning = false;

function planOf(buf: Buffer, cluster: string | undefined, overwrite: boolean): RewritePlan | undefined {
  const n = scratch.count;
  if (n === 0 || !scratch.complete) return undefined;
  return {
    buf,
    cluster,
    overwrite,
    count: n,
    begin: scratch.begin.slice(0, n),
    start: scratch.start.slice(0, n),
    end: scratch.end.slice(0, n),
    at: scratch.at.slice(0, n),
    resume: scratch.resume.slice(0, n),
  };
}

function addToPlan(begin: number, start: number, end: number, at: number, resume: number): void {
  const plan = scratch;
  const k = plan.count;
  if (k >= plan.begin.length) {
    if (k >= PLAN_MAX) {
      plan.complete = false;
      return;
    }
    const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => grownInt32(a, a.length * 2);
    plan.begin = grow(plan.begin);
    plan.start = grow(plan.start);
    plan.end = grow(plan.end);
    plan.at = grow(plan.at);
    plan.resume = grow(plan.resume);
  }
  plan.begin[k] = begin;
  plan.start[k] = start;
  plan.end[k] = end;
  plan.at[k] = at;
  plan.resume[k] = resume;
  plan.count = k + 1;
}

/** The cluster value enforced on every series (reject/overwrite), for the request being validated. */
let enforced: Buffer | undefined;
let rejectForeign = false;

/** Where the current top-level field (a series) begins: its tag. */
let fieldBegin = 0;

// Scratch cursor for the slow paths (multi-byte varints, unknown fields): the hot
// loops below keep their position in a local variable and read one-byte tags and
// lengths inline, which is what nearly every tag and label length is.
const sc: Cursor = { pos: 0 };

const TRUNCATED_LEN = 'length-delimited field runs past its message';

/** The label being checked (shared/remote-write/label.ts). */
const span = labelSpan();

/**
 * Oldest and newest sample/histogram timestamp so far in the request being validated.
 * In a typed array: a double stored in a module-level variable is boxed, per sample.
 */
const times = new Float64Array(2);

/** A view of the request being validated, for reading label values a word at a time. */
let view: DataView = new DataView(new ArrayBuffer(0));

function scanTimeSeries(buf: Buffer, start: number, end: number, limits: SeriesLimits, wantCluster: boolean, result: ScanResult): void {
  let pos = start;
  let labels = 0;
  let sorted = true;
  let hasName = false;
  let hasCluster = false;
  let emptyCluster = false;
  let foreign = false;
  let prevStart = -1;
  let prevEnd = -1;
  // for the rewrite plan: label fields one after another from the start of the series?
  let contiguous = true;
  let nonLabelSeen = false;
  let insertAt = -1; // first label field whose name sorts after "cluster"
  let labelsEnd = start; // end of the last label field
  let emptyStart = -1;
  let emptyEnd = -1;
  const seriesBegin = fieldBegin;
  while (pos < end) {
    const fieldStart = pos;
    let tag = buf[pos];
    if (tag >= 8 && tag < 0x80) {
      pos++;
    } else {
      sc.pos = pos;
      tag = readTag(buf, sc, end);
      pos = sc.pos;
    }
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.labels has the wrong wire type');
      if (nonLabelSeen) contiguous = false;
      let labelEnd: number;
      if (pos < end && buf[pos] < 0x80) {
        labelEnd = pos + 1 + buf[pos];
        pos++;
        if (labelEnd > end) throw new WireError(TRUNCATED_LEN);
      } else {
        sc.pos = pos;
        labelEnd = readLenEnd(buf, sc, end);
        pos = sc.pos;
      }
      let ns: number, ne: number, vs: number, ve: number;
      // the canonical shape inline (shared/remote-write/label.ts says why), else the reader
      const nl = buf[pos + 1];
      const vl = buf[pos + 3 + nl];
      if (buf[pos] === 0x0a && nl < 0x80 && pos + 4 + nl <= labelEnd && buf[pos + 2 + nl] === 0x12 && vl < 0x80 && pos + 4 + nl + vl === labelEnd) {
        ns = pos + 2;
        ne = ns + nl;
        vs = ne + 2;
        ve = labelEnd;
      } else {
        readLabelFields(buf, pos, labelEnd, span);
        if (span[SUPERSEDED_BAD] !== 0) fail('invalid_utf8', 'a label name or value repeated within one Label is not valid UTF-8', buf, start, end);
        ns = span[NAME_START];
        ne = span[NAME_END];
        vs = span[VALUE_START];
        ve = span[VALUE_END];
      }
      pos = labelEnd;
      // Only a series within the label limit reaches checkDuplicatesUnsorted: offsets past
      // it are never read, and recording them would grow these module-level arrays (kept
      // for the process's life) to the size of the largest hostile series ever seen.
      if (labels < limits.maxLabelsPerSeries) {
        if (labels >= nameStarts.length) growNameOffsets();
        nameStarts[labels] = ns;
        nameEnds[labels] = ne;
      }
      labels++;

      const nameLen = ne - ns;
      if (nameLen === 8 && buf[ns] === 0x5f && equalsBytes(buf, ns, ne, NAME_LABEL)) {
        hasName = true;
        checkMetricName(buf, vs, ve, limits, start, end);
      } else {
        checkLabelName(buf, ns, ne, limits, start, end);
        if (nameLen === 7 && buf[ns] === 0x63 && equalsBytes(buf, ns, ne, CLUSTER_LABEL)) {
          // an empty value means "no label" in Prometheus: the rewrite replaces it,
          // and so it does with another cluster's value under 'overwrite'
          if (ve > vs && enforced !== undefined && !equalsBytes(buf, vs, ve, enforced)) {
            if (rejectForeign) {
              fail(
                'foreign_cluster',
                `series claims cluster ${JSON.stringify(buf.toString('utf8', vs, Math.min(ve, vs + 128)))} but the caller's cluster is "${enforced.toString('utf8')}"`,
                buf,
                start,
                end,
                403,
              );
            }
            emptyCluster = true;
            foreign = true;
            emptyStart = fieldStart;
            emptyEnd = labelEnd;
          } else if (ve > vs) {
            hasCluster = true;
          } else {
            emptyCluster = true;
            emptyStart = fieldStart;
            emptyEnd = labelEnd;
          }
        } else if (insertAt < 0 && wantCluster) {
          const d = buf[ns] - 0x63; // 'c'
          if (d > 0 || (d === 0 && compareRanges(buf, ns, ne, CLUSTER_LABEL, 0, CLUSTER_LABEL.length) > 0)) insertAt = fieldStart;
        }
      }
      labelsEnd = labelEnd;
      checkLabelValue(buf, vs, ve, ns, ne, limits, start, end);

      if (prevStart >= 0) {
        // names are never empty here (checked above): the first byte usually decides
        const d = buf[ns] - buf[prevStart];
        if (d < 0) {
          sorted = false;
        } else if (d === 0) {
          const cmp = compareRanges(buf, ns, ne, buf, prevStart, prevEnd);
          if (cmp === 0) fail('duplicate_label_name', `duplicate label name "${buf.toString('latin1', ns, ne)}"`, buf, start, end);
          if (cmp < 0) sorted = false;
        }
      }
      prevStart = ns;
      prevEnd = ne;
    } else if (field === 2) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.samples has the wrong wire type');
      nonLabelSeen = true;
      let sEnd: number;
      if (pos < end && buf[pos] < 0x80) {
        sEnd = pos + 1 + buf[pos];
        pos++;
        if (sEnd > end) throw new WireError(TRUNCATED_LEN);
      } else {
        sc.pos = pos;
        sEnd = readLenEnd(buf, sc, end);
        pos = sc.pos;
      }
      pos = scanSample(buf, pos, sEnd);
      result.samples++;
    } else if (field === 3) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.exemplars has the wrong wire type');
      nonLabelSeen = true;
      sc.pos = pos;
      const eEnd = readLenEnd(buf, sc, end);
      scanExemplar(buf, sc, eEnd);
      pos = sc.pos;
      result.exemplars++;
    } else if (field === 4) {
      if (wire !== WIRE_LEN) throw new WireError('TimeSeries.histograms has the wrong wire type');
      nonLabelSeen = true;
      sc.pos = pos;
      const hEnd = readLenEnd(buf, sc, end);
      checkMessage(buf, sc.pos, hEnd, HISTOGRAM_SCHEMA, 'histogram');
      const ts = fieldInt64(buf, sc.pos, hEnd, 0x78); // Histogram.timestamp (15)
      if (ts < times[0]) times[0] = ts;
      if (ts > times[1]) times[1] = ts;
      pos = hEnd;
      result.histograms++;
    } else {
      nonLabelSeen = true;
      sc.pos = pos;
      skipField(buf, sc, end, wire);
      pos = sc.pos;
    }
  }

  if (!hasName) fail('missing_metric_name', 'series has no __name__ label', buf, start, end);
  const finalLabels = labels + (wantCluster && !hasCluster && !emptyCluster ? 1 : 0);
  if (finalLabels > limits.maxLabelsPerSeries) {
    fail(
      'too_many_labels',
      `series has ${finalLabels} labels${finalLabels > labels ? ' (with the cluster label)' : ''}, the limit is ${limits.maxLabelsPerSeries}`,
      buf,
      start,
      end,
    );
  }
  if (!sorted) {
    checkDuplicatesUnsorted(buf, labels, start, end);
    result.unsorted++;
  }
  if (foreign) result.foreignCluster++;
  else if (wantCluster && !hasCluster) result.missingCluster++;
  result.series++;
  if (planning && (!sorted || (wantCluster && !hasCluster))) {
    if (!sorted || !contiguous) {
      addToPlan(seriesBegin, start, end, -1, -1);
    } else if (emptyCluster) {
      addToPlan(seriesBegin, start, end, emptyStart, emptyEnd);
    } else {
      const at = insertAt >= 0 ? insertAt : labelsEnd;
      addToPlan(seriesBegin, start, end, at, at);
    }
  }
}

/**
 * Sample { double value = 1; int64 timestamp = 2; } from pos to end; the value is never
 * read. Folds the timestamp (the last one if repeated, 0 if absent) into `times`.
 */
function scanSample(buf: Buffer, pos: number, end: number): number {
  let ts = 0;
  while (pos < end) {
    const t = buf[pos];
    if (t === 0x09) {
      if (pos + 9 > end) throw new WireError('truncated sample value');
      pos += 9;
    } else if (t === 0x10) {
      // Up to 7 bytes (49 bits: every millisecond timestamp until the year 19 800) decoded
      // from two 32-bit words without a loop (the stop byte found from the continuation bits;
      // bytes past `end` may be read, never used); longer varints, negatives among them
      // (10 bytes), and the request's last 7 bytes by the general reader.
      const from = ++pos;
      let v = -1;
      if (pos + 8 <= buf.length) {
        const dv = view;
        const a = dv.getUint32(pos, true);
        const stopA = ~a & 0x80808080;
        if (stopA !== 0) {
          const bit = 31 - Math.clz32(stopA & -stopA); // the stop byte's top bit: 7, 15, 23 or 31
          const x = bit === 31 ? a : a & ((1 << (bit + 1)) - 1);
          v = (x & 0x7f) | ((x >>> 1) & 0x3f80) | ((x >>> 2) & 0x1fc000) | ((x >>> 3) & 0xfe00000);
          pos += (bit + 1) >>> 3;
        } else {
          const c = dv.getUint32(pos + 4, true);
          const stopC = ~c & 0x808080;
          if (stopC !== 0) {
            const bit = 31 - Math.clz32(stopC & -stopC); // 7, 15 or 23
            const y = c & ((1 << (bit + 1)) - 1);
            const lo = (a & 0x7f) | ((a >>> 1) & 0x3f80) | ((a >>> 2) & 0x1fc000) | ((a >>> 3) & 0xfe00000);
            v = lo + ((y & 0x7f) | ((y >>> 1) & 0x3f80) | ((y >>> 2) & 0x1fc000)) * 0x10000000;
            pos += 4 + ((bit + 1) >>> 3);
          }
        }
        if (pos > end) throw new WireError('truncated varint');
      }
      if (v < 0) {
        sc.pos = from;
        v = readInt64Number(buf, sc, end);
        pos = sc.pos;
      }
      ts = v;
    } else {
      sc.pos = pos;
      const tag = readTag(buf, sc, end);
      if (tag === 0x09) {
        if (sc.pos + 8 > end) throw new WireError('truncated sample value');
        sc.pos += 8;
      } else if (tag === 0x10) {
        ts = readInt64Number(buf, sc, end);
      } else {
        if (tag >>> 3 <= 2) throw new WireError('Sample field has the wrong wire type');
        skipField(buf, sc, end, tag & 7);
      }
      pos = sc.pos;
    }
  }
  if (ts < times[0]) times[0] = ts;
  if (ts > times[1]) times[1] = ts;
  return pos;
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
          if (lt >>> 3 <= 2) throw new WireError('exemplar Label field has the wrong wire type');
          skipField(buf, c, labelEnd, lt & 7);
        }
      }
    } else if (t === 0x11) {
      if (c.pos + 8 > end) throw new WireError('truncated exemplar value');
      c.pos += 8;
    } else if (t === 0x18) {
      skipVarint(buf, c, end);
    } else {
      if (t >>> 3 <= 3) throw new WireError('Exemplar field has the wrong wire type');
      skipField(buf, c, end, t & 7);
    }
  }
}

function checkLabelName(buf: Buffer, s: number, e: number, limits: SeriesLimits, tsStart: number, tsEnd: number): void {
  if (e === s) fail('invalid_label_name', 'empty label name', buf, tsStart, tsEnd);
  let ok = FIRST_CLASS[buf[s]] & LABEL_NAME;
  for (let i = s + 1; i < e; i++) ok &= CHAR_CLASS[buf[i]];
  if (ok === 0) {
    fail(
      'invalid_label_name',
      `label name ${JSON.stringify(buf.toString('utf8', s, Math.min(e, s + 64)))} does not match [a-zA-Z_][a-zA-Z0-9_]*`,
      buf,
      tsStart,
      tsEnd,
    );
  }
  if (e - s > limits.maxLabelNameLength) {
    fail('label_name_too_long', `label name is ${e - s} characters, the limit is ${limits.maxLabelNameLength}`, buf, tsStart, tsEnd);
  }
}

function checkMetricName(buf: Buffer, s: number, e: number, limits: SeriesLimits, tsStart: number, tsEnd: number): void {
  if (e === s) fail('invalid_metric_name', 'empty metric name (__name__)', buf, tsStart, tsEnd);
  let ok = FIRST_CLASS[buf[s]] & METRIC_NAME;
  for (let i = s + 1; i < e; i++) ok &= CHAR_CLASS[buf[i]];
  if (ok === 0) {
    fail(
      'invalid_metric_name',
      `metric name ${JSON.stringify(buf.toString('utf8', s, Math.min(e, s + 64)))} does not match [a-zA-Z_:][a-zA-Z0-9_:]*`,
      buf,
      tsStart,
      tsEnd,
    );
  }
  if (e - s > limits.maxMetricNameLength) {
    fail('metric_name_too_long', `metric name is ${e - s} characters, the limit is ${limits.maxMetricNameLength}`, buf, tsStart, tsEnd);
  }
}

function checkLabelValue(buf: Buffer, s: number, e: number, ns: number, ne: number, limits: SeriesLimits, tsStart: number, tsEnd: number): void {
  // OR of every byte, four at a time through a DataView: one branch per value instead
  // of one per byte; only values with a byte ≥ 0x80 pay for the full UTF-8 check.
  const dv = view;
  let any = 0;
  let i = s;
  for (; i + 8 <= e; i += 8) any |= dv.getUint32(i, true) | dv.getUint32(i + 4, true);
  if (i + 4 <= e) {
    any |= dv.getUint32(i, true);
    i += 4;
  }
  for (; i < e; i++) any |= buf[i];
  if ((any & 0x80808080) !== 0 && !isUtf8Range(buf, s, e)) {
    fail('invalid_utf8', `value of label "${buf.toString('latin1', ns, Math.min(ne, ns + 64))}" is not valid UTF-8`, buf, tsStart, tsEnd);
  }
  // Limits are in characters: bytes bound them from above, so count only when needed.
  if (e - s > limits.maxLabelValueLength) {
    const chars = countUtf8Chars(buf, s, e);
    if (chars > limits.maxLabelValueLength) {
      fail(
        'label_value_too_long',
        `value of label "${buf.toString('latin1', ns, Math.min(ne, ns + 64))}" is ${chars} characters, the limit is ${limits.maxLabelValueLength}`,
        buf,
        tsStart,
        tsEnd,
      );
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

function fail(reason: RejectReason, what: string, buf: Buffer, tsStart: number, tsEnd: number, status = 400): never {
  throw new HttpError(status, reason, `${what}: ${formatSeries(buf, tsStart, tsEnd)}`);
}

// Character classes of label and metric names: one table lookup per byte, no branch.
// A name is valid when the AND of FIRST_CLASS[first byte] and CHAR_CLASS[every later
// byte] keeps its class bit.
const LABEL_NAME = 1; // [a-zA-Z_][a-zA-Z0-9_]*
const METRIC_NAME = 2; // [a-zA-Z_:][a-zA-Z0-9_:]*
const FIRST_CLASS = new Uint8Array(256);
const CHAR_CLASS = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const letter = (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f;
  const digit = b >= 0x30 && b <= 0x39;
  if (letter) FIRST_CLASS[b] = LABEL_NAME | METRIC_NAME;
  if (letter || digit) CHAR_CLASS[b] = LABEL_NAME | METRIC_NAME;
  if (b === 0x3a) FIRST_CLASS[b] = CHAR_CLASS[b] = METRIC_NAME;
}
