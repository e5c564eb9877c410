// Series limits against cardinality explosions, with vmagent's -remoteWrite.maxHourlySeries
// / maxDailySeries semantics: within a window (an hour, a day, counted from start-up and
// then back to back) at most N distinct series pass; samples of series first seen after
// the N-th are dropped and counted, series already seen keep flowing. Memory is fixed by N
// whatever is sent: a Bloom filter of 16 bits per allowed series (2 bytes; 1 M series →
// 2 MiB) remembers which series passed. Its false positives let a new series through as if
// known; at the limit that is under 0.3 % of new series (k = 4 hashes), and like vmagent we
// accept it rather than keep every series.

import { type SeriesEdit, editSeries } from '../remote-write/edit-series';
import { hashLabels } from '../remote-write/partition';
import { type Cursor, readTag, skipField } from '../remote-write/wire';

const BITS_PER_SERIES = 16;
/** Largest limit accepted: 100 M series, 256 MiB of filter. */
export const MAX_SERIES_LIMIT = 100_000_000;
const HASHES = 4;

export interface SeriesLimiter {
  /** 'hourly' or 'daily': how counters and messages name it */
  readonly window: string;
  readonly maxSeries: number;
  /** series admitted in the current window */
  current(): number;
  /** samples dropped over the limit since start */
  droppedSamples: number;
  /** true if the series (its label hash) may pass; remembers it when new and under the limit */
  admit(hash: number, nowMs: number): boolean;
}

export function createSeriesLimiter(window: string, maxSeries: number, windowMs: number, startMs: number): SeriesLimiter {
  // a power of two, so a hash picks a bit with a mask
  const bits = 2 ** Math.ceil(Math.log2(Math.max(64, maxSeries * BITS_PER_SERIES)));
  const words = new Uint32Array(bits / 32);
  const mask = bits - 1;
  let count = 0;
  let windowEnd = startMs + windowMs;
  return {
    window,
    maxSeries,
    current: () => count,
    droppedSamples: 0,
    admit(hash, nowMs) {
      if (nowMs >= windowEnd) {
        words.fill(0);
        count = 0;
        windowEnd += Math.ceil((nowMs - windowEnd + 1) / windowMs) * windowMs;
      }
      // double hashing: k bit positions from two hashes of one 32-bit value
      const h2 = (Math.imul(hash ^ (hash >>> 16), 0x85ebca6b) | 1) >>> 0;
      let seen = true;
      for (let i = 0; i < HASHES; i++) {
        const bit = (hash + Math.imul(i, h2)) & mask;
        if ((words[bit >>> 5] & (1 << (bit & 31))) === 0) {
          seen = false;
          break;
        }
      }
      if (seen) return true;
      if (count >= maxSeries) return false;
      for (let i = 0; i < HASHES; i++) {
        const bit = (hash + Math.imul(i, h2)) & mask;
        words[bit >>> 5] |= 1 << (bit & 31);
      }
      count++;
      return true;
    },
  };
}

const HOUR_MS = 3_600_000;

/** Limiters for vmagent's maxHourlySeries / maxDailySeries (0 or absent: no limit), hourly first. */
export function seriesLimiters(limits: { maxHourlySeries?: number; maxDailySeries?: number }, nowMs: number): SeriesLimiter[] {
  const out: SeriesLimiter[] = [];
  if (limits.maxHourlySeries) out.push(createSeriesLimiter('hourly', limits.maxHourlySeries, HOUR_MS, nowMs));
  if (limits.maxDailySeries) out.push(createSeriesLimiter('daily', limits.maxDailySeries, 24 * HOUR_MS, nowMs));
  return out;
}

export interface LimitOutcome {
  /** the request without the dropped series (the input itself when none was dropped) */
  raw: Buffer;
  series: number;
  droppedSeries: number;
}

const LABEL_TAG = 0x0a; // TimeSeries.labels: field 1, length-delimited
const SAMPLE_TAG = 0x12;
const HISTOGRAM_TAG = 0x22;

/**
 * Drops the series of `raw` the limiters do not admit (hourly first, then daily, as vmagent
 * checks them), adding their samples to that limiter's droppedSamples. A series is known
 * by the bytes of its label fields, so it must come with its labels in one order (senders
 * sort them; the relay and forwarder limit after relabelling, before the cluster label).
 */
export function limitSeries(raw: Buffer, limiters: readonly SeriesLimiter[], nowMs: number): LimitOutcome {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  let series = 0;
  let droppedSeries = 0;
  const out = editSeries(raw, (buf, bodyStart, tsEnd): SeriesEdit => {
    const c: Cursor = { pos: bodyStart };
    let hash = 0x9747b28c;
    let samples = 0;
    while (c.pos < tsEnd) {
      const start = c.pos;
      const t = readTag(buf, c, tsEnd);
      skipField(buf, c, tsEnd, t & 7);
      if (t === LABEL_TAG) hash = Math.imul(hash ^ hashLabels(buf, dv, start, c.pos), 0x01000193) >>> 0;
      else if (t === SAMPLE_TAG || t === HISTOGRAM_TAG) samples++;
    }
    const refusedBy = limiters.find((l) => !l.admit(hash, nowMs));
    if (refusedBy === undefined) {
      series++;
      return undefined;
    }
    refusedBy.droppedSamples += samples;
    droppedSeries++;
    return null;
  });
  return { raw: out, series, droppedSeries };
}
