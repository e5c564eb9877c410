// Drain payloads: 2 000-series writes (the synthetic kube-prometheus series, with
// cluster) carrying CURRENT timestamps, made just before a repetition's push. The
// forwarder drops samples older than Azure's 20-minute window and must deliver every
// series in timestamp order, so fixed old timestamps would measure a drop, not a drain.
//
// The writes are split into shards as Prometheus splits its series: request i belongs
// to shard i % shards, each shard owns its own series, and the load generator sends
// each shard's requests one after another (`sendLoad({ partitioned: true })`). So the
// sender never has two writes of one series in flight, and any out-of-order sample the
// sink sees was reordered by the target, not by the bench.
//
// Cheap to make: each (shard, slice) is encoded once as a template whose timestamps are
// 6-byte varints (every millisecond time from 1971 to 2109 is), then per request the
// timestamps are patched in place and the template compressed.

import { type Cursor, readLenEnd, readTag, skipField } from '../../shared/remote-write/wire';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { compress } from '../../shared/remote-write/snappy';
import { type TimeSeries, numberToBits } from '../../shared/remote-write/model/types';
import { seriesLabels } from './payloads';

/** consecutive requests of one shard alternate between this many disjoint series slices */
const SLICES = 2;
/** per series, each request of its shard is this much newer than the previous one */
export const DRAIN_STEP_MS = 20;
/** series i of a request is stamped (i % SPREAD) ms later than the request's base, as scrape targets differ */
const SPREAD = 15;

interface Template {
  raw: Buffer;
  /** offsets of the 6-byte timestamp varints, one per series, in series order */
  tsOffsets: number[];
}

export interface DrainTemplates {
  shards: number;
  series: number;
  templates: Template[][]; // [shard][slice]
}

export interface DrainWrite {
  body: Buffer;
  samples: number;
}

const TS_MIN = 2 ** 35; // smallest value with a 6-byte varint (1971)
const TS_MAX = 2 ** 42; // first value with a 7-byte varint (2109)

/** Writes `v` (TS_MIN ≤ v < TS_MAX) as a 6-byte varint at `at`. */
function putVarint6(buf: Buffer, at: number, v: number): void {
  for (let k = 0; k < 5; k++) {
    buf[at + k] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at + 5] = v;
}

/** Offsets of each series' sample timestamp varint in an encoded WriteRequest (one sample per series). */
function timestampOffsets(raw: Buffer): number[] {
  const out: number[] = [];
  const c: Cursor = { pos: 0 };
  while (c.pos < raw.length) {
    const tag = readTag(raw, c, raw.length);
    if (tag !== 0x0a) {
      skipField(raw, c, raw.length, tag & 7);
      continue;
    }
    const seriesEnd = readLenEnd(raw, c, raw.length);
    while (c.pos < seriesEnd) {
      const t = readTag(raw, c, seriesEnd);
      const e = readLenEnd(raw, c, seriesEnd);
      if (t === 0x12) {
        // Sample: 0x09 + 8 bytes value (absent when 0), 0x10 + timestamp varint
        let p = c.pos;
        if (raw[p] === 0x09) p += 9;
        if (raw[p] !== 0x10 || e - (p + 1) !== 6) throw new Error('drain template: timestamp is not a 6-byte varint');
        out.push(p + 1);
      }
      c.pos = e;
    }
  }
  return out;
}

/** Encodes the templates once per run: `shards` × 2 slices of `series` distinct series each. */
export function drainTemplates(opts: { shards: number; series: number; seed?: number }): DrainTemplates {
  const all = seriesLabels(opts.shards * SLICES * opts.series, true, opts.seed ?? 11);
  const seen = new Set(all.map((ls) => ls.map((l) => `${l.name}=${l.value}`).join(',')));
  if (seen.size !== all.length) throw new Error('drain templates: two series with the same labels');
  const placeholder = BigInt(TS_MIN + 1);
  const templates: Template[][] = [];
  for (let s = 0; s < opts.shards; s++) {
    const row: Template[] = [];
    for (let j = 0; j < SLICES; j++) {
      const timeseries: TimeSeries[] = [];
      for (let i = 0; i < opts.series; i++) {
        const labels = all[(s * SLICES + j) * opts.series + i];
        const value = i % 4 === 0 ? (i * 7919) % 1_000_000 : ((i * 7919) % 100_000) / 100;
        timeseries.push({ labels, samples: [{ value: numberToBits(value), timestamp: placeholder }], exemplars: [], histograms: [] });
      }
      const raw = encodeWriteRequest({ timeseries, metadata: [] });
      const tsOffsets = timestampOffsets(raw);
      if (tsOffsets.length !== opts.series) throw new Error(`drain template: ${tsOffsets.length} timestamps for ${opts.series} series`);
      row.push({ raw, tsOffsets });
    }
    templates.push(row);
  }
  return { shards: opts.shards, series: opts.series, templates };
}

/**
 * `requests` writes stamped relative to `nowMs`: request i (shard i % shards, the q-th of
 * its shard) carries base + q·DRAIN_STEP_MS (+ up to 14 ms per series), base chosen so the
 * newest sample is `ageMs` old. Every series' timestamps rise strictly from request to
 * request of its shard.
 */
export function drainWrites(t: DrainTemplates, requests: number, nowMs: number, ageMs = 5_000): DrainWrite[] {
  const rounds = Math.ceil(requests / t.shards);
  const base = nowMs - ageMs - rounds * DRAIN_STEP_MS - SPREAD;
  if (base < TS_MIN || nowMs >= TS_MAX) throw new Error('drain writes: clock outside 1971–2109');
  const out: DrainWrite[] = [];
  for (let i = 0; i < requests; i++) {
    const q = Math.floor(i / t.shards);
    const tpl = t.templates[i % t.shards][q % SLICES];
    const ts = base + q * DRAIN_STEP_MS;
    for (let k = 0; k < tpl.tsOffsets.length; k++) putVarint6(tpl.raw, tpl.tsOffsets[k], ts + (k % SPREAD));
    out.push({ body: compress(tpl.raw), samples: t.series });
  }
  return out;
}
