// What a lane does with one spooled record before sending: its shares, one per shard.
//
//   every sample older than the cutoff   → nothing to send; all of it counted too old
//   one shard, nothing too old           → the record's own block, untouched (pass-through)
//   out-of-order allowed, nothing too old → the record's own block, to the shard given
//   series routed (series-owners.ts):
//     all free or owned by one shard      → the record's own block, to that shard
//     owned by several shards            → decompressed, split by owner, each share
//                                          compressed once
//     all one crowded shard's (spreading) → split by hash; the shares leaving that shard
//                                          wait for what it held (Plan.from)
//   otherwise (no owners table)          → decompressed, series hashed to shards
//   In every case a series' unsent samples are all in one shard, so they never travel in
//   two calls at once; samples older than the cutoff are removed on the way.
//
// Pure: no I/O, no clock (the cutoff is given).

import { partitionBySeries, seriesHashes } from '../shared/remote-write/partition';
import type { SeriesOwners } from './series-owners';
import { compress, decompress } from '../shared/remote-write/snappy';
import type { BatchRecord } from './batch';
import type { TimeRange } from './spool-record';

export interface Share extends TimeRange {
  shard: number;
  /** one snappy block */
  block: Buffer;
  /** uncompressed bytes */
  bytes: number;
  samples: number;
}

export interface Plan {
  shares: Share[];
  /** samples left out because they are older than the cutoff */
  tooOld: number;
  /** series moved away from this shard: shares on other shards wait until it has settled what it holds now */
  from?: number;
}

export interface PlanOptions {
  shards: number;
  /** samples older than this (ms since the epoch) are not sent; -Infinity: no window */
  cutoff: number;
  /** out-of-order allowed: the whole record goes to this shard instead of being split by series */
  wholeTo?: number;
  /** where the uncompressed parts are written (a reused buffer: they are compressed before planRecord returns) */
  alloc?: (length: number) => Buffer;
  /**
   * Which shard owns which series; without it series are placed by hash. Records go whole
   * (the sender's bytes) to their series' owner or, free, to `leastLoaded`. `crowded(shard)`:
   * that shard has more than it can send while most others wait: with `spread` (a CPU to
   * spare), a record wholly its own then moves its series to their hash's shards (Plan.from).
   */
  owners?: { table: SeriesOwners; leastLoaded: () => number; spread: boolean; crowded: (shard: number) => boolean };
}

export function planRecord(rec: BatchRecord & TimeRange, opts: PlanOptions): Plan {
  const { shards, cutoff } = opts;
  const known = !Number.isNaN(rec.minTime) && !Number.isNaN(rec.maxTime);
  // Wholly too old: dropped without decompressing (metadata in it goes too; senders resend it).
  if (known && rec.samples > 0 && rec.maxTime < cutoff) return { shares: [], tooOld: rec.samples };
  const inWindow = known ? rec.minTime >= cutoff : cutoff === -Infinity;
  if (inWindow && (shards === 1 || rec.samples === 0 || opts.wholeTo !== undefined)) {
    return {
      shares: [{ shard: opts.wholeTo ?? 0, block: rec.block, bytes: rec.bytes, samples: rec.samples, minTime: rec.minTime, maxTime: rec.maxTime }],
      tooOld: 0,
    };
  }
  let assign: Uint8Array | undefined;
  let from: number | undefined;
  let wholeTo = opts.wholeTo;
  if (opts.owners && wholeTo === undefined && shards > 1 && rec.samples > 0) {
    // stored with the record by the intake's scan; computed here (decompressing) for older records
    const hashes = rec.seriesHashes ?? seriesHashes(rec.block);
    if (hashes) {
      const route = opts.owners.table.route(hashes, shards, opts.owners.leastLoaded, opts.owners.spread, opts.owners.crowded);
      if ('whole' in route) {
        if (inWindow)
          return {
            shares: [{ shard: route.whole, block: rec.block, bytes: rec.bytes, samples: rec.samples, minTime: rec.minTime, maxTime: rec.maxTime }],
            tooOld: 0,
          };
        wholeTo = route.whole;
      } else {
        assign = route.assign;
        from = route.from;
      }
    }
  }
  const raw = decompress(rec.block);
  const split = { ...(cutoff === -Infinity ? {} : { minTime: cutoff }), ...(opts.alloc ? { alloc: opts.alloc } : {}), ...(assign ? { assign } : {}) };
  const p = partitionBySeries(raw, wholeTo !== undefined ? 1 : shards, split);
  const out: Share[] = [];
  for (let i = 0; i < p.parts.length; i++) {
    const part = p.parts[i];
    if (part.length === 0) continue;
    out.push({
      shard: wholeTo ?? i,
      block: part === raw && inWindow ? rec.block : compress(part),
      bytes: part.length,
      samples: p.samples[i],
      minTime: p.minTime[i],
      maxTime: p.maxTime[i],
    });
  }
  return from === undefined ? { shares: out, tooOld: p.droppedTooOld } : { shares: out, tooOld: p.droppedTooOld, from };
}

/**
 * A block about to be sent (again), re-checked against the cutoff: unchanged, trimmed of
 * its too-old samples, or nothing left. Units can wait long in retries.
 */
export function trimToWindow(
  unit: { block: Buffer; samples: number } & TimeRange,
  cutoff: number,
): { block: Buffer; bytes: number; samples: number; tooOld: number; minTime: number; maxTime: number } | undefined {
  // no window, or nothing older than it (an unknown, NaN, time fails this and is looked into)
  if (cutoff === -Infinity || unit.minTime >= cutoff) return undefined;
  if (unit.samples > 0 && unit.maxTime < cutoff)
    return { block: Buffer.alloc(0), bytes: 0, samples: 0, tooOld: unit.samples, minTime: Infinity, maxTime: -Infinity };
  const raw = decompress(unit.block);
  const p = partitionBySeries(raw, 1, { minTime: cutoff });
  if (p.droppedTooOld === 0) return undefined;
  const part = p.parts[0];
  return {
    block: part.length > 0 ? compress(part) : Buffer.alloc(0),
    bytes: part.length,
    samples: p.samples[0],
    tooOld: p.droppedTooOld,
    minTime: p.minTime[0],
    maxTime: p.maxTime[0],
  };
}
