// Cluster-wide tenant quotas without a storage round-trip per write. Time is cut into
// wall-clock epochs of QUOTA_SYNC_INTERVAL. Early in each epoch every instance writes, per
// tenant, its demand over the epoch just ended (samples admitted plus refused requests at
// the mean request size, smoothed) to the shared table; at the epoch's middle it reads the
// rows of that same epoch and resizes its own bucket to its share of the tenant's rate: its
// demand over the sum. All instances divide the same numbers, so the shares add up to one
// and the app as a whole admits the tenant's rate, whichever instances the load balancer
// favours. An idle instance keeps a small floor so that its first requests are not refused
// before the next epoch.
// Storage down: the last shares stay (their sum is still the rate while the instances stay
// the same); an instance that never synced keeps the whole rate (fail open).

import { randomUUID } from 'node:crypto';
import type { Entity, StateTable } from '../state/table';
import { tableKey } from '../state/table';
import type { Bucket } from './quota';

export interface QuotaTenant {
  name: string;
  samplesPerSecond: number;
  burstSamples: number;
  bucket: Bucket;
}

export interface SharedQuotas {
  /** the two phases of a round for the epoch just ended, driven by hand (tests; `manual`) */
  publish(): Promise<void>;
  apply(): Promise<void>;
  /** this instance's share per tenant (health) */
  shares(): Record<string, number>;
  stop(): void;
}

export interface SharedQuotaOptions {
  table: StateTable;
  tenants: readonly QuotaTenant[];
  intervalMs: number;
  instanceId?: string;
  now?: () => number;
  onError?: (err: Error) => void;
  /** no timers: the caller runs publish() and apply() (tests with their own clock) */
  manual?: boolean;
}

/** an instance whose row is older than this many intervals is gone */
const LIVE_INTERVALS = 3;
/** what an idle instance keeps, as a fraction of an even split */
const IDLE_FLOOR = 0.05;
/** weight of the last interval in the smoothed demand */
const SMOOTHING = 0.5;
/** rows of instances gone this long are deleted by whoever sees them */
const FORGET_MS = 10 * 60_000;

export function startSharedQuotas(opts: SharedQuotaOptions): SharedQuotas {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs;
  const instance = opts.instanceId ?? randomUUID();
  const share = new Map(opts.tenants.map((t) => [t.name, 1]));
  // a refused request's size is unknown (refused before decoding): the mean admitted one's
  const meanRequest = new Map<string, number>();
  const smoothed = new Map<string, number>();
  let last = now();
  let first = true;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // unref'd: the quota rounds never keep a process alive
  const sleep = (ms: number): Promise<void> =>
    new Promise((r) => {
      timer = setTimeout(r, ms);
      timer.unref();
    });
  const pk = (t: QuotaTenant): string => `quota-${tableKey(t.name)}`;
  const live = (rows: Entity[], at: number): Entity[] => rows.filter((r) => at - Number(r.at) < LIVE_INTERVALS * interval);

  /** Writes this instance's demand over the epoch just ended. */
  async function publish(t: QuotaTenant, epoch: number, seconds: number): Promise<void> {
    const u = t.bucket.usage();
    if (u.requests > 0) meanRequest.set(t.name, u.samples / u.requests);
    const measured = (u.samples + u.refused * (meanRequest.get(t.name) ?? 0)) / seconds;
    // smoothed over epochs: a few requests more or less must not swing the shares
    let demand = SMOOTHING * measured + (1 - SMOOTHING) * (smoothed.get(t.name) ?? measured);
    if (first) {
      // nothing measured yet: take the others' mean demand, i.e. an even split, rather
      // than a zero that would refuse this new instance's first epoch
      const others = live(await opts.table.list(pk(t)), now()).filter((r) => r.rowKey !== instance);
      demand = others.length > 0 ? others.reduce((sum, r) => sum + Number(r.demand), 0) / others.length : 0;
    }
    smoothed.set(t.name, demand);
    await opts.table.upsert({ partitionKey: pk(t), rowKey: instance, demand, epoch, at: now() });
  }

  /**
   * Takes this instance's share from the rows of one epoch only: every instance divides
   * the same numbers, so the shares add up to one (from each instance's latest row they
   * would not: the others' rows are older than its own by up to an interval).
   */
  async function apply(t: QuotaTenant, epoch: number): Promise<void> {
    const at = now();
    const rows = await opts.table.list(pk(t));
    const same = live(rows, at).filter((r) => Number(r.epoch) === epoch);
    const mine = same.find((r) => r.rowKey === instance);
    if (!mine) return;
    const total = same.reduce((sum, r) => sum + Number(r.demand), 0);
    const floor = (total > 0 ? total : 1) * (IDLE_FLOOR / same.length);
    const weight = (d: number): number => Math.max(d, floor);
    const fraction = weight(Number(mine.demand)) / same.reduce((sum, r) => sum + weight(Number(r.demand)), 0);
    share.set(t.name, fraction);
    t.bucket.resize(t.samplesPerSecond * fraction, t.burstSamples * fraction);
    for (const r of rows) if (at - Number(r.at) > FORGET_MS) await opts.table.remove(pk(t), r.rowKey);
  }

  /** Runs one phase for every tenant; storage down: the shares stay as they were. */
  async function each(phase: (t: QuotaTenant) => Promise<void>): Promise<boolean> {
    try {
      for (const t of opts.tenants) await phase(t);
      return true;
    } catch (err) {
      opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  async function publishAll(epoch: number): Promise<void> {
    const t = now();
    const seconds = Math.max(0.001, (t - last) / 1000);
    last = t;
    if (await each((x) => publish(x, epoch, seconds))) first = false;
  }

  async function round(epoch: number, applyAt: number): Promise<void> {
    await publishAll(epoch);
    const wait = applyAt - now();
    if (wait > 0) await sleep(wait);
    if (!stopped) await each((x) => apply(x, epoch));
  }

  // Epochs are wall-clock intervals, the same on every instance: each publishes its demand
  // for the epoch just ended early in the next (jittered over its first 10 %) and applies
  // the shares at its middle, when every instance's row is in.
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const t = now();
      const next = (Math.floor(t / interval) + 1) * interval;
      await sleep(next - t + Math.random() * interval * 0.1);
      if (stopped) return;
      const epoch = Math.floor(now() / interval) - 1;
      await round(epoch, (epoch + 1) * interval + interval / 2);
    }
  };
  // a new instance takes its share at once, from the others' rows of the last epoch
  const ended = (): number => Math.floor(now() / interval) - 1;
  if (!opts.manual) void round(ended(), 0).then(loop);

  return {
    publish: () => publishAll(ended()),
    apply: async () => {
      await each((x) => apply(x, ended()));
    },
    shares: () => Object.fromEntries(share),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
