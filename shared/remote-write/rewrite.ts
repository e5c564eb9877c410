// Rewrites the label sets of a validated WriteRequest: sorts labels that arrived out
// of order and inserts `cluster="<value>"` where it is missing. Everything else is
// copied as raw bytes (samples, exemplars, histograms, metadata, unknown fields), so
// sample values — stale-marker NaN payloads included — leave bit for bit as they came.

import { compareRanges, equalsBytes } from './bytes';
import { type Cursor, WIRE_LEN, readLenEnd, readTag, skipField, varintSize, writeVarint } from './wire';

const CLUSTER = Buffer.from('cluster');

export interface RewriteOptions {
  /** value for the `cluster` label on series that lack one */
  cluster?: string;
}

// Per-series scratch, reused: label field [start,end) and name [start,end).
let fieldStart = new Int32Array(128);
let fieldEnd = new Int32Array(128);
let nameStart = new Int32Array(128);
let nameEnd = new Int32Array(128);
let order = new Int32Array(128);
let valueEmpty = new Uint8Array(128);

/**
 * Returns a new WriteRequest with sorted label sets and the cluster label added.
 * The input must already have passed validateWriteRequest.
 */
export function rewriteLabels(buf: Buffer, opts: RewriteOptions): Buffer {
  const clusterField = opts.cluster === undefined ? undefined : encodeLabelField('cluster', opts.cluster);
  const extra = (clusterField?.length ?? 0) + 5;
  // Upper bound: every series grows by one label field and a longer length prefix.
  const out = Buffer.allocUnsafe(buf.length + countSeriesUpperBound(buf) * extra);
  let o = 0;
  const c: Cursor = { pos: 0 };
  const end = buf.length;
  while (c.pos < end) {
    const fieldBegin = c.pos;
    const tag = readTag(buf, c, end);
    if (tag !== ((1 << 3) | WIRE_LEN)) {
      skipField(buf, c, end, tag & 7);
      o += buf.copy(out, o, fieldBegin, c.pos);
      continue;
    }
    const tsEnd = readLenEnd(buf, c, end);
    o = writeSeries(buf, c.pos, tsEnd, clusterField, out, o, fieldBegin);
    c.pos = tsEnd;
  }
  return out.subarray(0, o);
}

function writeSeries(buf: Buffer, start: number, end: number, clusterField: Buffer | undefined, out: Buffer, o: number, fieldBegin: number): number {
  const n = collectLabels(buf, start, end);
  let sorted = true;
  let hasCluster = false;
  // An empty value means "no label" in Prometheus: such a cluster label is replaced.
  let emptyCluster = -1;
  for (let i = 0; i < n; i++) {
    if (i > 0 && compareRanges(buf, nameStart[i], nameEnd[i], buf, nameStart[i - 1], nameEnd[i - 1]) < 0) sorted = false;
    if (equalsBytes(buf, nameStart[i], nameEnd[i], CLUSTER)) {
      if (valueEmpty[i]) emptyCluster = i;
      else hasCluster = true;
    }
  }
  const insert = clusterField !== undefined && !hasCluster;
  const dropped = insert && emptyCluster >= 0 ? emptyCluster : -1;
  if (sorted && !insert) return o + buf.copy(out, o, fieldBegin, end); // unchanged series

  for (let i = 0; i < n; i++) order[i] = i;
  if (!sorted) insertionSortByName(buf, n);

  // New payload: labels in order (cluster spliced in), then every other field as is.
  const payloadLen = end - start + (insert ? clusterField.length : 0) - (dropped >= 0 ? fieldEnd[dropped] - fieldStart[dropped] : 0);
  out[o++] = 0x0a;
  o = writeVarint(out, o, payloadLen);
  let inserted = !insert;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (i === dropped) continue;
    // the cluster label goes before the first name above "cluster"
    if (!inserted && compareRanges(buf, nameStart[i], nameEnd[i], CLUSTER, 0, CLUSTER.length) > 0) {
      o += clusterField!.copy(out, o);
      inserted = true;
    }
    o += buf.copy(out, o, fieldStart[i], fieldEnd[i]);
  }
  if (!inserted) o += clusterField!.copy(out, o);
  // Non-label fields keep their relative order.
  const c: Cursor = { pos: start };
  while (c.pos < end) {
    const s = c.pos;
    const tag = readTag(buf, c, end);
    skipField(buf, c, end, tag & 7);
    if (tag !== 0x0a) o += buf.copy(out, o, s, c.pos);
  }
  return o;
}

/** Fills the scratch arrays with the series' label fields; returns their count. */
function collectLabels(buf: Buffer, start: number, end: number): number {
  const c: Cursor = { pos: start };
  let n = 0;
  while (c.pos < end) {
    const s = c.pos;
    const tag = readTag(buf, c, end);
    if (tag !== 0x0a) {
      skipField(buf, c, end, tag & 7);
      continue;
    }
    const labelEnd = readLenEnd(buf, c, end);
    if (n >= fieldStart.length) growScratch();
    fieldStart[n] = s;
    fieldEnd[n] = labelEnd;
    nameStart[n] = c.pos;
    nameEnd[n] = c.pos;
    valueEmpty[n] = 1;
    while (c.pos < labelEnd) {
      const t = readTag(buf, c, labelEnd);
      if (t === 0x0a) {
        const e = readLenEnd(buf, c, labelEnd);
        nameStart[n] = c.pos;
        nameEnd[n] = e;
        c.pos = e;
      } else if (t === 0x12) {
        const e = readLenEnd(buf, c, labelEnd);
        valueEmpty[n] = e > c.pos ? 0 : 1;
        c.pos = e;
      } else {
        skipField(buf, c, labelEnd, t & 7);
      }
    }
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
  const v = new Uint8Array(valueEmpty.length * 2);
  v.set(valueEmpty);
  valueEmpty = v;
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
