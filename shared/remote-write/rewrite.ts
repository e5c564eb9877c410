// Rewrites the label sets of a validated WriteRequest: sorts labels that arrived out
// of order and inserts `cluster="<value>"` where it is missing. Everything else is
// copied as raw bytes (samples, exemplars, histograms, metadata, unknown fields), so
// sample values — stale-marker NaN payloads included — leave bit for bit as they came.

import { compareRanges, equalsBytes } from './bytes';
import { type Cursor, WIRE_LEN, readLenEnd, readTag, skipField, varintSize, writeVarint } from './wire';
import type { RewritePlan } from './validate';
import { NAME_END, NAME_START, VALUE_END, VALUE_START, labelSpan, readLabelFields } from './label';

/** The label being read (shared/remote-write/label.ts). */
const span = labelSpan();

const CLUSTER = Buffer.from('cluster');

export interface RewriteOptions {
  /** value for the `cluster` label on series that lack one */
  cluster?: string;
  /** also replace a cluster label with another value (tenant enforcement) */
  overwriteCluster?: boolean;
}

// Per-series scratch, reused: label field [start,end) and name [start,end).
let fieldStart = new Int32Array(128);
let fieldEnd = new Int32Array(128);
let nameStart = new Int32Array(128);
let nameEnd = new Int32Array(128);
let order = new Int32Array(128);
let valueStart = new Int32Array(128);
let valueEnd = new Int32Array(128);

/**
 * Returns a new WriteRequest with sorted label sets and the cluster label added.
 * The input must already have passed validation; with the plan validateForRewrite made
 * for it (and these options) the changing series are spliced without parsing a label again.
 */
export function rewriteLabels(buf: Buffer, opts: RewriteOptions, plan?: RewritePlan): Buffer {
  const clusterField = opts.cluster === undefined ? undefined : encodeLabelField('cluster', opts.cluster);
  const extra = (clusterField?.length ?? 0) + 5;
  const overwriteWith = opts.overwriteCluster && opts.cluster !== undefined ? Buffer.from(opts.cluster, 'utf8') : undefined;
  if (plan !== undefined && planFits(plan, buf, opts)) return applyPlan(buf, plan, clusterField, extra, overwriteWith);
  // Upper bound: every series grows by one label field and a longer length prefix.
  const out = Buffer.allocUnsafe(buf.length + countSeriesUpperBound(buf) * extra);
  inView = new DataView(buf.buffer, buf.byteOffset, buf.length);
  outView = new DataView(out.buffer, out.byteOffset, out.length);
  let o = 0;
  const c: Cursor = { pos: 0 };
  const end = buf.length;
  while (c.pos < end) {
    const fieldBegin = c.pos;
    const tag = readTag(buf, c, end);
    if (tag !== ((1 << 3) | WIRE_LEN)) {
      skipField(buf, c, end, tag & 7);
      o = copyRun(buf, fieldBegin, c.pos, out, o);
      continue;
    }
    const tsEnd = readLenEnd(buf, c, end);
    o = writeSeries(buf, c.pos, tsEnd, clusterField, out, o, fieldBegin, overwriteWith);
    c.pos = tsEnd;
  }
  return out.subarray(0, o);
}

/** Whether a plan was made for this buffer and these options (any other would splice wrongly). */
export function planFits(plan: RewritePlan, buf: Buffer, opts: RewriteOptions): boolean {
  return plan.buf === buf && plan.cluster === opts.cluster && plan.overwrite === (opts.overwriteCluster === true && opts.cluster !== undefined);
}

/**
 * The rewrite from validation's plan. A spliced series is its bytes up to the insertion
 * point, the cluster field and the rest, behind a new header; when the new header is as
 * long as the old one (nearly always) it is written over the old one's copy, so one copy
 * runs from after one insertion point to the next across series boundaries. Only series
 * that need more than a splice go through writeSeries.
 */
function applyPlan(buf: Buffer, plan: RewritePlan, clusterField: Buffer | undefined, extra: number, overwriteWith: Buffer | undefined): Buffer {
  const out = Buffer.allocUnsafe(buf.length + plan.count * extra);
  inView = new DataView(buf.buffer, buf.byteOffset, buf.length);
  outView = new DataView(out.buffer, out.byteOffset, out.length);
  const { begin, start, end, at, resume } = plan;
  const clusterLen = clusterField?.length ?? 0;
  let o = 0;
  let run = 0; // input offset from which bytes are still to be copied
  for (let k = 0; k < plan.count; k++) {
    const b = begin[k];
    const s = start[k];
    const e = end[k];
    const a = at[k];
    if (a < 0 || clusterField === undefined) {
      o = copyRun(buf, run, b, out, o);
      o = writeSeries(buf, s, e, clusterField, out, o, b, overwriteWith);
      run = e;
      continue;
    }
    const r = resume[k];
    const payloadLen = e - s + clusterLen - (r - a);
    if (s - b === 1 + varintSize(payloadLen)) {
      const header = o + (b - run);
      o = copyRun(buf, run, a, out, o);
      out[header] = 0x0a;
      writeVarint(out, header + 1, payloadLen);
    } else {
      o = copyRun(buf, run, b, out, o);
      out[o++] = 0x0a;
      o = writeVarint(out, o, payloadLen);
      o = copyRun(buf, s, a, out, o);
    }
    o = copySmall(clusterField, out, o);
    run = r;
  }
  o = copyRun(buf, run, buf.length, out, o);
  return out.subarray(0, o);
}

function writeSeries(
  buf: Buffer,
  start: number,
  end: number,
  clusterField: Buffer | undefined,
  out: Buffer,
  o: number,
  fieldBegin: number,
  overwriteWith?: Buffer,
): number {
  const n = collectLabels(buf, start, end);
  let sorted = true;
  let hasCluster = false;
  // An empty value means "no label" in Prometheus: such a cluster label is replaced.
  let emptyCluster = -1;
  // Label fields one after another from the start of the series, everything else after
  // them: what every sender writes (and what lets the fast path below copy runs).
  let contiguous = n > 0 && fieldStart[0] === start;
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      if (fieldStart[i] !== fieldEnd[i - 1]) contiguous = false;
      // names are never empty (validated): the first byte usually decides
      const d = buf[nameStart[i]] - buf[nameStart[i - 1]];
      if (d < 0 || (d === 0 && compareRanges(buf, nameStart[i], nameEnd[i], buf, nameStart[i - 1], nameEnd[i - 1]) < 0)) sorted = false;
    }
    if (nameEnd[i] - nameStart[i] === 7 && equalsBytes(buf, nameStart[i], nameEnd[i], CLUSTER)) {
      // An empty value, or under `overwrite` any other cluster's value, is replaced.
      const vs = valueStart[i];
      const ve = valueEnd[i];
      if (ve === vs || (overwriteWith !== undefined && !equalsBytes(buf, vs, ve, overwriteWith))) emptyCluster = i;
      else hasCluster = true;
    }
  }
  const insert = clusterField !== undefined && !hasCluster;
  const dropped = insert && emptyCluster >= 0 ? emptyCluster : -1;
  if (sorted && !insert) return copyRun(buf, fieldBegin, end, out, o); // unchanged series

  // New payload: labels in order (cluster spliced in), then every other field as is.
  const payloadLen = end - start + (insert ? clusterField.length : 0) - (dropped >= 0 ? fieldEnd[dropped] - fieldStart[dropped] : 0);
  out[o++] = 0x0a;
  o = writeVarint(out, o, payloadLen);

  if (sorted && contiguous) {
    // Sorted labels up front: the output is the series' bytes up to where `cluster`
    // belongs, the cluster field, and the rest, in three copies (an empty cluster label
    // sits exactly where the new one goes and is left out).
    let at: number;
    let resume: number;
    if (dropped >= 0) {
      at = fieldStart[dropped];
      resume = fieldEnd[dropped];
    } else {
      let k = 0;
      while (k < n && compareRanges(buf, nameStart[k], nameEnd[k], CLUSTER, 0, CLUSTER.length) < 0) k++;
      at = k < n ? fieldStart[k] : fieldEnd[n - 1];
      resume = at;
    }
    o = copyRun(buf, start, at, out, o);
    o = copySmall(clusterField!, out, o);
    return copyRun(buf, resume, end, out, o);
  }

  for (let i = 0; i < n; i++) order[i] = i;
  if (!sorted) insertionSortByName(buf, n);
  let inserted = !insert;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (i === dropped) continue;
    // the cluster label goes before the first name above "cluster"
    if (!inserted && compareRanges(buf, nameStart[i], nameEnd[i], CLUSTER, 0, CLUSTER.length) > 0) {
      o = copySmall(clusterField!, out, o);
      inserted = true;
    }
    o = copyRun(buf, fieldStart[i], fieldEnd[i], out, o);
  }
  if (!inserted) o = copySmall(clusterField!, out, o);
  // Non-label fields keep their relative order.
  const c = scratch;
  c.pos = start;
  while (c.pos < end) {
    const s = c.pos;
    const tag = readTag(buf, c, end);
    skipField(buf, c, end, tag & 7);
    if (tag !== 0x0a) o = copyRun(buf, s, c.pos, out, o);
  }
  return o;
}

/**
 * Copies buf[s,e) (the request being rewritten) to out at o and returns the new end.
 * Buffer#copy costs ~100 ns a call whatever the length (it builds a Uint8Array view
 * per call), so runs under 192 bytes, nearly all of them, go 8 bytes per step through
 * DataViews as integers (never as doubles, which could canonicalise NaN payloads).
 */
function copyRun(buf: Buffer, s: number, e: number, out: Buffer, o: number): number {
  const n = e - s;
  if (n >= 192) return o + buf.copy(out, o, s, e);
  const src = inView;
  const dst = outView;
  let i = s;
  for (; i + 8 <= e; i += 8, o += 8) {
    dst.setUint32(o, src.getUint32(i, true), true);
    dst.setUint32(o + 4, src.getUint32(i + 4, true), true);
  }
  for (; i < e; i++) out[o++] = buf[i];
  return o;
}

/** Copies a small buffer (the cluster label field) whole. */
function copySmall(src: Buffer, out: Buffer, o: number): number {
  for (let i = 0; i < src.length; i++) out[o++] = src[i];
  return o;
}

let inView: DataView = new DataView(new ArrayBuffer(0));
let outView: DataView = inView;

const scratch: Cursor = { pos: 0 };

/**
 * Fills the scratch arrays with the series' label fields; returns their count. The
 * input is validated, so one-byte tags and lengths (nearly all of them) are read
 * inline; anything else goes through the general readers.
 */
function collectLabels(buf: Buffer, start: number, end: number): number {
  const c = scratch;
  let pos = start;
  let n = 0;
  while (pos < end) {
    const s = pos;
    let tag = buf[pos];
    if (tag < 0x80) {
      pos++;
    } else {
      c.pos = pos;
      tag = readTag(buf, c, end);
      pos = c.pos;
    }
    if (tag !== 0x0a) {
      c.pos = pos;
      skipField(buf, c, end, tag & 7);
      pos = c.pos;
      continue;
    }
    let labelEnd: number;
    if (buf[pos] < 0x80) {
      labelEnd = pos + 1 + buf[pos];
      pos++;
    } else {
      c.pos = pos;
      labelEnd = readLenEnd(buf, c, end);
      pos = c.pos;
    }
    if (n >= fieldStart.length) growScratch();
    fieldStart[n] = s;
    fieldEnd[n] = labelEnd;
    // the canonical shape inline (shared/remote-write/label.ts says why), else the reader
    const nl = buf[pos + 1];
    const vl = buf[pos + 3 + nl];
    if (buf[pos] === 0x0a && nl < 0x80 && pos + 4 + nl <= labelEnd && buf[pos + 2 + nl] === 0x12 && vl < 0x80 && pos + 4 + nl + vl === labelEnd) {
      nameStart[n] = pos + 2;
      nameEnd[n] = pos + 2 + nl;
      valueStart[n] = pos + 4 + nl;
      valueEnd[n] = labelEnd;
    } else {
      readLabelFields(buf, pos, labelEnd, span); // validated: never SUPERSEDED_BAD
      nameStart[n] = span[NAME_START];
      nameEnd[n] = span[NAME_END];
      valueStart[n] = span[VALUE_START];
      valueEnd[n] = span[VALUE_END];
    }
    pos = labelEnd;
    n++;
  }
  return n;
}

function insertionSortByName(buf: Buffer, n: number): void {
  for (let i = 1; i < n; i++) {
    const x = order[i];
    let j = i - 1;
    while (j >= 0 && compareRanges(buf, nameStart[order[j]], nameEnd[order[j]], buf, nameStart[x], nameEnd[x]) > 0) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = x;
  }
}

function growScratch(): void {
  const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
    const b = new Int32Array(a.length * 2);
    b.set(a);
    return b;
  };
  fieldStart = grow(fieldStart);
  fieldEnd = grow(fieldEnd);
  nameStart = grow(nameStart);
  nameEnd = grow(nameEnd);
  order = grow(order);
  valueStart = grow(valueStart);
  valueEnd = grow(valueEnd);
}

/** Counts top-level fields: an upper bound on the number of series. */
function countSeriesUpperBound(buf: Buffer): number {
  const c: Cursor = { pos: 0 };
  let n = 0;
  while (c.pos < buf.length) {
    const tag = readTag(buf, c, buf.length);
    skipField(buf, c, buf.length, tag & 7);
    n++;
  }
  return n;
}

/** One `labels` field of a TimeSeries: tag, length, Label{name,value}. */
export function encodeLabelField(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const v = Buffer.from(value, 'utf8');
  const inner = 1 + varintSize(n.length) + n.length + 1 + varintSize(v.length) + v.length;
  const out = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  let o = 0;
  out[o++] = 0x0a;
  o = writeVarint(out, o, inner);
  out[o++] = 0x0a;
  o = writeVarint(out, o, n.length);
  o += n.copy(out, o);
  out[o++] = 0x12;
  o = writeVarint(out, o, v.length);
  o += v.copy(out, o);
  return out.subarray(0, o);
}
