// The rules' verdicts on label sets already seen. Senders repeat the same series scrape
// after scrape, so a label set is remembered by its exact label-field bytes: found by
// their hash, then compared byte for byte (a hash collision can never return another
// series' verdict). Bounded in entries and bytes; when either bound is reached the cache
// starts over (a few misses, then steady state again).
//
// The remembered bytes (and the rewritten labels) sit one after another in one buffer, in
// the order they were first seen, and a lookup first tries the entry after the one the previous lookup found: a
// sender's series come in much the same order every time, so most lookups are one
// compare over memory read in sequence, without hashing (profiles of the relabel bench
// showed the compare against entries scattered over the heap costing three times the hash).

import { grownInt32 } from '../buffers/grow';
import { hashLabels } from '../remote-write/partition';

/** The rules' verdict on a label set: the index of the drop slot, KEEP (unchanged), or its new label fields. */
export type Verdict = number | typeof KEEP | Buffer;
export const KEEP = null;

/** An entry's kind (`kind[entry]`): a drop slot (>= 0), or one of these. */
export const KEPT = -1;
export const REWRITTEN = -2;

/** Label sets remembered at most. */
export const VERDICT_CACHE_ENTRIES = 100_000;
/** Bytes of label fields (seen and rewritten) remembered at most; with the per-entry arrays (20 bytes each) ~34 MB. */
export const VERDICT_CACHE_BYTES = 32 * 1024 * 1024;

const FIRST_ENTRIES = 1024;
const FIRST_ARENA = 64 * 1024;

export interface VerdictCache {
  maxEntries: number;
  maxBytes: number;
  /** hash (cut to a small integer, so V8 keys the Map without boxing) → the newest entry with it */
  map: Map<number, number>;
  /** per entry: where its label bytes are in `arena`, how many, and the older entry with the same hash key (-1: none) */
  start: Int32Array;
  length: Int32Array;
  next: Int32Array;
  /** per entry: its verdict, a drop slot, KEPT or REWRITTEN; for REWRITTEN, the new label fields are arena[start + length, + rewritten) */
  kind: Int32Array;
  rewritten: Int32Array;
  arena: Buffer;
  view: DataView;
  entries: number;
  /** label bytes remembered, seen and rewritten: the bytes of `arena` in use (what maxBytes bounds) */
  bytes: number;
  /** the entry the last lookup found (-1: none) */
  last: number;
  hits: number;
  misses: number;
  /** label sets forgotten when the cache started over (full) */
  evictions: number;
}

/** What /metrics shows of a cache: running totals and its size now. */
export type VerdictCacheStats = Pick<VerdictCache, 'hits' | 'misses' | 'evictions' | 'entries' | 'bytes'>;

export function createVerdictCache(maxEntries = VERDICT_CACHE_ENTRIES, maxBytes = VERDICT_CACHE_BYTES): VerdictCache {
  const arena = Buffer.allocUnsafe(Math.min(FIRST_ARENA, maxBytes));
  const n = Math.min(FIRST_ENTRIES, maxEntries);
  return {
    maxEntries,
    maxBytes,
    map: new Map(),
    start: new Int32Array(n),
    length: new Int32Array(n),
    next: new Int32Array(n),
    kind: new Int32Array(n),
    rewritten: new Int32Array(n),
    arena,
    view: new DataView(arena.buffer, arena.byteOffset, arena.length),
    entries: 0,
    bytes: 0,
    last: -1,
    hits: 0,
    misses: 0,
    evictions: 0,
  };
}

/** The entry remembered for the label fields buf[s, e) (`dv` a view on all of `buf`), or -1. */
export function findEntry(cache: VerdictCache, buf: Buffer, dv: DataView, s: number, e: number): number {
  let entry = cache.last + 1;
  if (entry <= 0 || entry >= cache.entries || !sameBytes(cache, entry, dv, buf, s, e)) {
    entry = cache.map.get(hashLabels(buf, dv, s, e) & 0x3fffffff) ?? -1;
    while (entry >= 0 && !sameBytes(cache, entry, dv, buf, s, e)) entry = cache.next[entry];
  }
  cache.last = entry;
  if (entry < 0) cache.misses++;
  else cache.hits++;
  return entry;
}

/** Remembers the verdict on the label fields buf[s, e) (copied); its entry, or -1 when it is too big to keep. */
export function rememberVerdict(cache: VerdictCache, buf: Buffer, dv: DataView, s: number, e: number, verdict: Verdict): number {
  const n = e - s;
  const rewritten = verdict instanceof Buffer ? verdict.length : 0;
  const size = n + rewritten;
  if (size > cache.maxBytes) return -1;
  if (cache.entries >= cache.maxEntries || cache.bytes + size > cache.maxBytes) clear(cache);
  const entry = cache.entries;
  if (entry === cache.start.length) growEntries(cache);
  if (cache.bytes + size > cache.arena.length) growArena(cache, cache.bytes + size);
  buf.copy(cache.arena, cache.bytes, s, e);
  if (verdict instanceof Buffer) verdict.copy(cache.arena, cache.bytes + n);
  const key = hashLabels(buf, dv, s, e) & 0x3fffffff;
  cache.start[entry] = cache.bytes;
  cache.length[entry] = n;
  cache.next[entry] = cache.map.get(key) ?? -1;
  cache.kind[entry] = verdict === KEEP ? KEPT : typeof verdict === 'number' ? verdict : REWRITTEN;
  cache.rewritten[entry] = rewritten;
  cache.map.set(key, entry);
  cache.entries++;
  cache.bytes += size;
  cache.last = entry;
  return entry;
}

function clear(cache: VerdictCache): void {
  cache.evictions += cache.entries;
  cache.map.clear();
  cache.entries = 0;
  cache.bytes = 0;
  cache.last = -1;
}

function growEntries(cache: VerdictCache): void {
  const n = Math.min(cache.maxEntries, 2 * cache.start.length);
  const grow = (a: Int32Array): Int32Array => grownInt32(a, n);
  cache.start = grow(cache.start);
  cache.length = grow(cache.length);
  cache.next = grow(cache.next);
  cache.kind = grow(cache.kind);
  cache.rewritten = grow(cache.rewritten);
}

function growArena(cache: VerdictCache, need: number): void {
  const arena = Buffer.allocUnsafe(Math.min(cache.maxBytes, Math.max(need, 2 * cache.arena.length)));
  cache.arena.copy(arena, 0, 0, cache.bytes);
  cache.arena = arena;
  cache.view = new DataView(arena.buffer, arena.byteOffset, arena.length);
}

/** Whether entry's bytes are buf[s, e): eight bytes a step, as integers. */
function sameBytes(cache: VerdictCache, entry: number, dv: DataView, buf: Buffer, s: number, e: number): boolean {
  const n = e - s;
  if (cache.length[entry] !== n) return false;
  const view = cache.view;
  const a = cache.start[entry];
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    if (view.getInt32(a + i, true) !== dv.getInt32(s + i, true) || view.getInt32(a + i + 4, true) !== dv.getInt32(s + i + 4, true)) return false;
  }
  const arena = cache.arena;
  for (; i < n; i++) if (arena[a + i] !== buf[s + i]) return false;
  return true;
}
