// The rules' verdicts on label sets already seen. Senders repeat the same series scrape
// after scrape, so a label set is remembered by its exact label-field bytes: found by
// their hash, then compared byte for byte (a hash collision can never return another
// series' verdict). Bounded in entries and bytes; when either bound is reached the cache
// starts over (a few misses, then steady state again).

/** The rules' verdict on a label set: the index of the drop slot, KEEP (unchanged), or its new label fields. */
export type Verdict = number | typeof KEEP | Buffer;
export const KEEP = null;

/** Label sets remembered at most. */
export const VERDICT_CACHE_ENTRIES = 100_000;
/** Bytes of label fields (seen and rewritten) remembered at most: with the entries' overhead ~50 MB. */
export const VERDICT_CACHE_BYTES = 32 * 1024 * 1024;

interface Entry {
  labels: Buffer;
  /** a view on `labels` for comparing four bytes at a time */
  view: DataView;
  verdict: Verdict;
  /** the next entry whose hash has the same key */
  next: Entry | undefined;
}

export interface VerdictCache {
  /** hash (cut to a small integer, so V8 keys the Map without boxing) → entries */
  map: Map<number, Entry>;
  maxEntries: number;
  maxBytes: number;
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

export function createVerdictCache(maxEntries = VERDICT_CACHE_ENTRIES, maxBytes = VERDICT_CACHE_BYTES): VerdictCache {
  return { map: new Map(), maxEntries, maxBytes, entries: 0, bytes: 0, hits: 0, misses: 0 };
}

/** The verdict remembered for the label fields buf[s, e) with this hash, or undefined. */
export function lookupVerdict(cache: VerdictCache, hash: number, buf: Buffer, dv: DataView, s: number, e: number): Verdict | undefined {
  for (let entry = cache.map.get(hash & 0x3fffffff); entry !== undefined; entry = entry.next) {
    if (sameBytes(entry, buf, dv, s, e)) {
      cache.hits++;
      return entry.verdict;
    }
  }
  cache.misses++;
  return undefined;
}

/** Remembers the verdict on the label fields buf[s, e) (copied). */
export function rememberVerdict(cache: VerdictCache, hash: number, buf: Buffer, s: number, e: number, verdict: Verdict): void {
  const size = e - s + (verdict instanceof Buffer ? verdict.length : 0);
  if (size > cache.maxBytes) return;
  if (cache.entries >= cache.maxEntries || cache.bytes + size > cache.maxBytes) {
    cache.map.clear();
    cache.entries = 0;
    cache.bytes = 0;
  }
  const labels = Buffer.from(buf.subarray(s, e));
  const key = hash & 0x3fffffff;
  const view = new DataView(labels.buffer, labels.byteOffset, labels.length);
  cache.map.set(key, { labels, view, verdict, next: cache.map.get(key) });
  cache.entries++;
  cache.bytes += size;
}

function sameBytes(entry: Entry, buf: Buffer, dv: DataView, s: number, e: number): boolean {
  const n = e - s;
  const labels = entry.labels;
  if (labels.length !== n) return false;
  const view = entry.view;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    if (view.getInt32(i, true) !== dv.getInt32(s + i, true) || view.getInt32(i + 4, true) !== dv.getInt32(s + i + 4, true)) return false;
  }
  for (; i < n; i++) if (labels[i] !== buf[s + i]) return false;
  return true;
}
