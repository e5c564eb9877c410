// The two label walks HA dedup needs on a validated WriteRequest: the first series'
// cluster and replica label values (as Mimir, one request is taken to come from one
// Prometheus, so its first series speaks for it), and removing the replica label from
// every series. Everything else is copied as raw bytes.

import { type Cursor, WIRE_LEN, readLenEnd, readTag, skipField, writeVarint } from '../remote-write/wire';

const SERIES_TAG = (1 << 3) | WIRE_LEN; // WriteRequest.timeseries, TimeSeries.labels
const NAME_TAG = (1 << 3) | WIRE_LEN; // Label.name
const VALUE_TAG = (2 << 3) | WIRE_LEN; // Label.value

export interface HaLabels {
  cluster?: string;
  replica?: string;
}

/** The cluster and replica label values of the first series (undefined when absent or empty). */
export function firstSeriesHaLabels(buf: Buffer, clusterLabel: string, replicaLabel: string): HaLabels {
  const c: Cursor = { pos: 0 };
  while (c.pos < buf.length) {
    const tag = readTag(buf, c, buf.length);
    if (tag !== SERIES_TAG) {
      skipField(buf, c, buf.length, tag & 7);
      continue;
    }
    const end = readLenEnd(buf, c, buf.length);
    const out: HaLabels = {};
    forEachLabel(buf, c.pos, end, (ns, ne, vs, ve) => {
      if (ve === vs) return;
      if (equalsAscii(buf, ns, ne, replicaLabel)) out.replica = buf.toString('utf8', vs, ve);
      else if (equalsAscii(buf, ns, ne, clusterLabel)) out.cluster = buf.toString('utf8', vs, ve);
    });
    return out;
  }
  return {};
}

/** The request without any `name` label; the same buffer when no series has one. */
export function dropLabel(buf: Buffer, name: string): Buffer {
  if (buf.indexOf(name, 0, 'latin1') < 0) return buf;
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  let changed = false;
  const c: Cursor = { pos: 0 };
  while (c.pos < buf.length) {
    const begin = c.pos;
    const tag = readTag(buf, c, buf.length);
    if (tag !== SERIES_TAG) {
      skipField(buf, c, buf.length, tag & 7);
      o += buf.copy(out, o, begin, c.pos);
      continue;
    }
    const end = readLenEnd(buf, c, buf.length);
    const start = c.pos;
    // the series' fields but the dropped labels, as [from, to) runs
    const keep: number[] = [];
    let run = start;
    let len = 0;
    forEachLabel(buf, start, end, (ns, ne, _vs, _ve, fs, fe) => {
      if (!equalsAscii(buf, ns, ne, name)) return;
      keep.push(run, fs);
      len += fs - run;
      run = fe;
    });
    c.pos = end;
    if (keep.length === 0) {
      o += buf.copy(out, o, begin, end);
      continue;
    }
    changed = true;
    keep.push(run, end);
    len += end - run;
    out[o++] = SERIES_TAG;
    o = writeVarint(out, o, len);
    for (let i = 0; i < keep.length; i += 2) o += buf.copy(out, o, keep[i], keep[i + 1]);
  }
  return changed ? out.subarray(0, o) : buf;
}

/** Calls `f` with each label's name, value and whole-field ranges. */
function forEachLabel(buf: Buffer, start: number, end: number, f: (ns: number, ne: number, vs: number, ve: number, fs: number, fe: number) => void): void {
  const c: Cursor = { pos: start };
  while (c.pos < end) {
    const fs = c.pos;
    const tag = readTag(buf, c, end);
    if (tag !== SERIES_TAG) {
      skipField(buf, c, end, tag & 7);
      continue;
    }
    const fe = readLenEnd(buf, c, end);
    let ns = 0;
    let ne = 0;
    let vs = 0;
    let ve = 0;
    while (c.pos < fe) {
      const t = readTag(buf, c, fe);
      if (t === NAME_TAG || t === VALUE_TAG) {
        const e = readLenEnd(buf, c, fe);
        if (t === NAME_TAG) [ns, ne] = [c.pos, e];
        else [vs, ve] = [c.pos, e];
        c.pos = e;
      } else skipField(buf, c, fe, t & 7);
    }
    f(ns, ne, vs, ve, fs, fe);
  }
}

function equalsAscii(buf: Buffer, s: number, e: number, name: string): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[s + i] !== name.charCodeAt(i)) return false;
  return true;
}
