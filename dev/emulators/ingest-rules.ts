// What Azure Monitor's ingestion endpoint does with each sample of a request it accepted
// ("Monitor metrics ingestion" docs, azure-monitor-workspace-monitor-ingest-limits): samples
// outside [now - 20 min, now + 20 min] are dropped (OldData, InvalidTimeRange), so are
// duplicates and samples older than the newest already ingested for their series
// (OutOfOrder, no tolerance window). All silently: the sender saw success.
// Plain data and functions, shared by the workspace emulator's memory and proxy modes.

export type DropReason = 'outOfOrder' | 'tooOld' | 'tooNew' | 'duplicate';

export const DROP_REASONS: readonly DropReason[] = ['outOfOrder', 'tooOld', 'tooNew', 'duplicate'];

export interface IngestWindow {
  /** samples older than now - maxAgeMs are dropped (Azure: 20 minutes) */
  maxAgeMs: number;
  /** samples newer than now + maxFutureMs are dropped (Azure: 20 minutes) */
  maxFutureMs: number;
}

export const AZURE_WINDOW: IngestWindow = { maxAgeMs: 20 * 60_000, maxFutureMs: 20 * 60_000 };

/**
 * The timestamps (epoch ms) ingested for one series, ascending. Only those still inside the
 * window matter (anything older is dropped as too old before duplicates are looked for), so
 * older ones are pruned; the newest is always kept. A few thousand series scraped every
 * few seconds stay at a few MiB.
 */
export interface Timeline {
  times: number[];
}

/** Why Azure would drop a sample at `ts` for this series, or undefined: it is ingested. */
export function judge(t: Timeline | undefined, ts: number, now: number, w: IngestWindow): DropReason | undefined {
  if (ts < now - w.maxAgeMs) return 'tooOld';
  if (ts > now + w.maxFutureMs) return 'tooNew';
  if (!t || t.times.length === 0) return undefined;
  const newest = t.times[t.times.length - 1];
  if (ts > newest) return undefined;
  return ts === newest || contains(t.times, ts) ? 'duplicate' : 'outOfOrder';
}

/** Records an ingested sample (judge() said undefined, so ts is the newest). */
export function ingest(t: Timeline, ts: number, now: number, w: IngestWindow): void {
  t.times.push(ts);
  // Prune in halves so each timestamp is moved a bounded number of times.
  const cutoff = now - w.maxAgeMs;
  if (t.times.length >= 16 && t.times[t.times.length >> 1] < cutoff) {
    t.times.splice(0, Math.min(firstAtOrAfter(t.times, cutoff), t.times.length - 1));
  }
}

function contains(sorted: readonly number[], x: number): boolean {
  const i = firstAtOrAfter(sorted, x);
  return i < sorted.length && sorted[i] === x;
}

function firstAtOrAfter(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Azure's per-DCE request limit as a sliding 60 s window over admitted requests. */
export interface RateWindow {
  limit: number;
  /** admission times (epoch ms), ascending; entries before `head` are expired */
  times: number[];
  head: number;
}

export function rateWindow(limit: number): RateWindow {
  return { limit, times: [], head: 0 };
}

/** True (and counted) if a request arriving now is within the limit; false: answer 429. */
export function admit(r: RateWindow, now: number): boolean {
  if (!Number.isFinite(r.limit)) return true;
  while (r.head < r.times.length && r.times[r.head] <= now - 60_000) r.head++;
  if (r.head > 1024 && r.head * 2 > r.times.length) {
    r.times = r.times.slice(r.head);
    r.head = 0;
  }
  if (r.times.length - r.head >= r.limit) return false;
  r.times.push(now);
  return true;
}
