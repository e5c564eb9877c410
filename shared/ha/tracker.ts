// The HA tracker, after Mimir's (pkg/distributor/ha_tracker.go): per tenant and cluster one
// elected replica, stored in the shared table with its last-seen time `receivedAt`, and
// cached here so that writes do not wait on storage in the common case:
//  - cache younger than the update timeout (failover/2 ± failover/6 jitter per instance,
//    Mimir's 15 s ± 5 s for 30 s): answered from the cache;
//  - older, and the elected replica writes: accepted now, the stored time refreshed in the
//    background (compare-and-swap on the row's ETag, so instances never overwrite each
//    other's election); another replica writes: dropped now, the row re-read in the
//    background (it may have been refreshed by another instance);
//  - unknown cluster, or the elected replica silent for the failover timeout: the write
//    waits for the election in storage (once per cluster and failover).
// Storage down or slow (STATE_TIMEOUT): the cache keeps deciding; what it cannot decide is
// accepted (fail open: a duplicate sample is better than a lost one) and for 10 s nothing
// waits on storage.

import type { Entity, StateTable } from '../state/table';
import { tableKey } from '../state/table';

export type Verdict = 'accept' | 'drop';

export interface HaTrackerStats {
  elections: number;
  failovers: number;
  storageErrors: number;
  /** decisions taken without storage because it was down (fail open) */
  acceptedWithoutStorage: number;
}

export interface HaTracker {
  /** a verdict now when the cache decides, a promise when the write must wait for storage */
  check(tenant: string, cluster: string, replica: string): Verdict | Promise<Verdict>;
  /** the replica this instance believes elected (health, tests) */
  elected(tenant: string, cluster: string): string | undefined;
  stats(): HaTrackerStats;
  /** resolves when the storage rounds under way have ended (shutdown, tests) */
  settled(): Promise<void>;
}

export interface HaTrackerOptions {
  table: StateTable;
  failoverTimeoutMs: number;
  now?: () => number;
  random?: () => number;
  /** how long after a storage failure nothing waits on storage */
  storageBackoffMs?: number;
  onStorageError?: (err: Error) => void;
  onFailover?: (tenant: string, cluster: string, from: string, to: string) => void;
}

interface Entry {
  replica: string;
  receivedAt: number;
  etag: string;
}

export function createHaTracker(opts: HaTrackerOptions): HaTracker {
  const now = opts.now ?? Date.now;
  const failover = opts.failoverTimeoutMs;
  const jitterMax = failover / 6;
  // per instance, as Mimir, so that instances spread their refreshes
  const updateTimeout = failover / 2 + ((opts.random ?? Math.random)() * 2 - 1) * jitterMax;
  const backoff = opts.storageBackoffMs ?? 10_000;
  const cache = new Map<string, Entry>();
  const pending = new Map<string, Promise<Verdict>>();
  const stats: HaTrackerStats = { elections: 0, failovers: 0, storageErrors: 0, acceptedWithoutStorage: 0 };
  let downUntil = 0;

  const keyOf = (tenant: string, cluster: string): string => `${tenant}\u0000${cluster}`;

  /** The compare-and-swap loop: reads the row, elects or refreshes `replica` when it may. */
  async function elect(key: string, tenant: string, cluster: string, replica: string): Promise<Verdict> {
    const pk = `ha-${tableKey(tenant)}`;
    const rk = `c-${tableKey(cluster)}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const t = now();
      const stored = await opts.table.get(pk, rk);
      const row = (r: string): Entity => ({ partitionKey: pk, rowKey: rk, replica: r, receivedAt: t, tenant, cluster });
      if (!stored) {
        const etag = await opts.table.insert(row(replica));
        if (etag === 'conflict') continue;
        stats.elections++;
        cache.set(key, { replica, receivedAt: t, etag });
        return 'accept';
      }
      const current: Entry = { replica: String(stored.entity.replica), receivedAt: Number(stored.entity.receivedAt), etag: stored.etag };
      const age = t - current.receivedAt;
      if (current.replica === replica && age < updateTimeout) {
        cache.set(key, current);
        return 'accept';
      }
      if (current.replica !== replica && age < failover) {
        cache.set(key, current);
        return 'drop';
      }
      const etag = await opts.table.replace(row(replica), current.etag);
      if (etag === 'conflict') continue;
      if (current.replica !== replica) {
        stats.elections++;
        stats.failovers++;
        opts.onFailover?.(tenant, cluster, current.replica, replica);
      }
      cache.set(key, { replica, receivedAt: t, etag });
      return 'accept';
    }
    // five lost races in a row: someone else is busy electing; take their word next time
    return cache.get(key)?.replica === replica ? 'accept' : 'drop';
  }

  /** One storage round per key at a time; failures mark storage down. */
  function consult(key: string, tenant: string, cluster: string, replica: string): Promise<Verdict> {
    let p = pending.get(key);
    if (!p) {
      p = elect(key, tenant, cluster, replica)
        .catch((err: unknown) => {
          stats.storageErrors++;
          downUntil = now() + backoff;
          opts.onStorageError?.(err instanceof Error ? err : new Error(String(err)));
          return failOpen(key, replica);
        })
        .finally(() => pending.delete(key));
      pending.set(key, p);
    }
    return p;
  }

  /** Without storage: the cache's answer while its elected replica is alive, else accept. */
  function failOpen(key: string, replica: string): Verdict {
    const e = cache.get(key);
    if (e && e.replica !== replica && now() - e.receivedAt < failover) return 'drop';
    stats.acceptedWithoutStorage++;
    return 'accept';
  }

  return {
    check(tenant, cluster, replica) {
      const key = keyOf(tenant, cluster);
      const e = cache.get(key);
      const t = now();
      const age = e ? t - e.receivedAt : Infinity;
      if (e && age < updateTimeout) return e.replica === replica ? 'accept' : 'drop';
      const storageUp = t >= downUntil;
      // Past the failover timeout the cache cannot tell (our own replica, unseen here that
      // long, may have lost the election elsewhere): that one write waits for storage.
      if (e && age < failover) {
        // the cache decides; storage catches up behind the write
        if (storageUp && !pending.has(key)) void consult(key, tenant, cluster, replica);
        if (e.replica === replica && !storageUp) e.receivedAt = t; // keep our own election alive locally
        return e.replica === replica ? 'accept' : 'drop';
      }
      if (!storageUp) return failOpen(key, replica);
      const p = pending.get(key);
      // a round for another replica is under way: wait for it, then decide again from the cache
      if (p) return p.then(() => (pending.has(key) ? failOpen(key, replica) : this.check(tenant, cluster, replica)));
      return consult(key, tenant, cluster, replica);
    },
    elected: (tenant, cluster) => cache.get(keyOf(tenant, cluster))?.replica,
    stats: () => ({ ...stats }),
    settled: async () => {
      await Promise.all(pending.values());
    },
  };
}
