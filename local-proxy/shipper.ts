// Delivery lanes. A lane reads its spool cursor in order and keeps several calls in flight
// without ever letting a series' samples overtake each other:
//
//   reader ──record──▶ plan (plan.ts) ──shares──▶ shard 0 … shard n-1 ──one call at a time each──▶ upstream
//            │  series hashed to shards: a series lives in one shard, and a shard sends
//            │  its next call only once the previous one is settled (Prometheus's design)
//            └─ cursor committed past a record once all its shares are settled (commit-tracker.ts)
//
// With one shard (the steady state at low latency) a record's share is the sender's own
// snappy block, and batches merge those blocks without decompressing. More shards cost a
// decompress, hash and compress per record; the count follows backlog and latency
// (shard-scaler.ts), and changing it first lets every call in flight settle.
//
// Azure drops samples older than its window (20 minutes) after answering 2xx. Every share is
// checked against the window when planned and again before each attempt; what is too old
// is not sent but counted (`too_old`).
//
//   retryable (network, timeout, 5xx, 429, 401/403, 404 …)  the whole lane backs off (jitter, Retry-After honoured)
//   400                                                      bisect the batch by share, drop only what is refused
//   413                                                      split and resend the parts
//   503 + X-Relay-Failed-Endpoints (relay)                   park on those endpoints' lanes, move on
//
// Relay mode keeps order per workspace too: while a workspace's lane holds data, the main
// lane hands each batch to that lane and sends it to the others only
// (X-Relay-Except-Endpoints), so the workspace gets its data in order through its lane.

import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import type { Fields, Logger } from '../shared/observability/log';
import type { PublishLog } from '../shared/observability/publish-log';
import { countSamples } from '../shared/remote-write/count';
import { compress, decompress, snappyBlockParts } from '../shared/remote-write/snappy';
import { splitInHalf } from '../shared/fanout/split';
import { type BatchLimits, type BatchRecord, type OnUnreadable, asBatchRecord, batchDueIn, batchSize } from './batch';
import { CommitTracker, type Tracked } from './commit-tracker';
import { Doorbell } from './doorbell';
import type { ForwarderMetrics, LaneStats } from './metrics';
import { type BackoffOptions, type TokenBucket, retryDelayMs, sleep } from './pacing';
import { type Plan, type Share, planRecord, trimToWindow } from './plan';
import { SeriesOwners } from './series-owners';
import { scratchBuffer } from '../shared/buffers/scratch';
import { ShardScaler } from './shard-scaler';
import type { SpoolReader, TimeRange } from './spool';
import type { Upstream, UpstreamOutcome } from './upstream';

export interface LaneHints {
  /** what to check when upstream refuses the credentials (401/403, no token) */
  auth: string;
  /** what to check when upstream answers a 4xx that is not about the data (404, 415 …) */
  config: string;
}

/** A batch handed to an endpoint's lane (relay mode). */
export interface ParkedBatch extends TimeRange {
  block: Buffer;
  samples: number;
}

export interface LaneSpec {
  /** metrics/log label: "relay", "lane:<endpoint id>", "direct:<endpoint id>" */
  name: string;
  reader: SpoolReader;
  upstream: Upstream;
  /** CATCHUP_MAX_RATE, samples per second */
  limiter: TokenBucket;
  /** MAX_REQUESTS_PER_MINUTE of the upstream host, as calls per second (shared by lanes to one host) */
  requests?: TokenBucket;
  hints: LaneHints;
  /** relay lanes: the endpoint this lane retries (sent as X-Relay-Only-Endpoints) */
  endpointId?: string;
  /** relay mode: queue a batch for endpoints (their own durable lanes) */
  park?: (endpointIds: string[], batch: ParkedBatch) => Promise<void>;
  /** relay main lane: endpoints whose lanes still hold data (they get every batch through their lane) */
  parked?: () => readonly string[];
  /** relay main lane: X-Relay-Straggler-Timeout, ms (0: off) */
  stragglerTimeoutMs?: number;
}

export interface LaneDeps {
  metrics: ForwarderMetrics;
  log: Logger;
  /** throttled logging: one line per key per minute */
  warnOnce: (key: string, level: 'warn' | 'error', msg: string, fields?: Fields) => void;
  publishLog: PublishLog;
  batch: BatchLimits;
  backoff: BackoffOptions;
  onUnreadable?: OnUnreadable;
  /** calls in flight (MIN_SHARDS / MAX_SHARDS); default 1 / 1 */
  shards?: { min: number; max: number };
  /** MAX_SAMPLE_AGE: older samples are not sent (Azure drops them); 0 or unset: no window */
  maxSampleAgeMs?: number;
  /** data must arrive inside the window: this much before its edge counts as too old (UPSTREAM_TIMEOUT) */
  windowMarginMs?: number;
  /** ALLOW_OUT_OF_ORDER: whole records spread over the shards, no per-series order */
  allowOutOfOrder?: boolean;
  /** samples left out as too old (for the per-minute line) */
  onTooOld?: (samples: number) => void;
  now?: () => number;
  /** event-loop utilisation since the last call (tests); default the process's own */
  busy?: () => number;
}

/** One record's share for one shard, waiting or in flight. */
interface Queued extends Share {
  tracked: Tracked;
  readAt: number;
  /** its series moved here from that shard: not sent before that shard has settled its first `seq` shares */
  after?: { shard: number; seq: number };
}

/** A shard's queue, with running totals (batch.ts QueueTotals). */
class ShardQueue {
  items: Queued[] = [];
  samples = 0;
  bytes = 0;
  /** a call of this shard is in flight */
  sending = false;
  /** shares ever queued, and settled (in queue order: one call at a time), since the last clear */
  enqueued = 0;
  settled = 0;
  /** the first `due` shares go without waiting for a fuller batch: a backlog's tail (Lane.run) */
  due = 0;
  get count(): number {
    return this.items.length;
  }
  get firstReadAt(): number {
    return this.items[0]?.readAt ?? 0;
  }
  push(s: Queued): void {
    this.enqueued++;
    this.items.push(s);
    this.samples += s.samples;
    this.bytes += s.bytes;
  }
  /** the first n shares */
  take(n: number): Queued[] {
    const out = this.items.splice(0, n);
    this.due = Math.max(0, this.due - n);
    for (const s of out) {
      this.samples -= s.samples;
      this.bytes -= s.bytes;
    }
    return out;
  }
  /** shares back at the front, in order */
  putBack(shares: Queued[]): void {
    this.items.unshift(...shares);
    this.due += shares.length; // they were on their way already
    for (const s of shares) {
      this.samples += s.samples;
      this.bytes += s.bytes;
    }
  }
  clear(): void {
    this.items = [];
    this.due = 0;
    this.enqueued = 0;
    this.settled = 0;
    this.samples = 0;
    this.bytes = 0;
  }
}

/** What one call carries: shares (whole), or a slice of one after a 413. */
interface Unit extends TimeRange {
  shares: Queued[];
  /**
   * One snappy block, as pieces whose concatenation it is (snappyBlockParts): the shares'
   * blocks are kept until the call settles anyway, so the call writes them out as they are
   * instead of a merged copy.
   */
  parts: readonly Buffer[];
  /** uncompressed bytes */
  bytes: number;
  samples: number;
}

type Settled = Exclude<UpstreamOutcome, { kind: 'retry' }> | { kind: 'too_old' } | 'stopped';

/** After aborting a send at the end of the grace period, how long to wait for it to unwind. */
const ABANDON_AFTER_ABORT_MS = 200;
/** How often the shard count is reconsidered. */
const SCALE_TICK_MS = 1000;
/** Largest parts buffer a lane keeps between records. */
const PARTS_SCRATCH_MAX = 8 * 1024 * 1024;
/** Event-loop utilisation under which unowned series are spread by hash, and over which records go whole. */
const SPREAD_BELOW_BUSY = 0.7;
const ROUTE_ABOVE_BUSY = 0.85;
/** Compressed bytes a lane may hold read ahead and in flight. */
const LANE_MEMORY_BYTES = 24 * 1024 * 1024;

export class Lane {
  private readonly stopController = new AbortController();
  private readonly sendController = new AbortController();
  private running: Promise<void> | undefined;
  private readonly workers = new Set<Promise<void>>();
  /** shard indexes with a running worker */
  private readonly active = new Set<number>();
  private readonly bell = new Doorbell();
  private readonly tracker: CommitTracker;
  private readonly scaler: ShardScaler;
  /** which shard holds which series (unless out-of-order data is allowed: then any shard takes any record) */
  private readonly owners: SeriesOwners | undefined;
  private readonly route: { table: SeriesOwners; leastLoaded: () => number; spread: boolean; crowded: (shard: number) => boolean } | undefined;
  private queues: ShardQueue[] = [];
  private shardCount: number;
  /** compressed bytes of the shares waiting or in flight */
  private heldBytes = 0;
  private inflight = 0;
  /** send partial batches now: the reader waits for room, or the shard count is changing */
  private flushNow = false;
  /** failures since the last delivery (for the "recovered" log line, and no scaling up meanwhile) */
  private failureStreak = 0;
  /** the whole lane waits until then before its next attempt (backoff, Retry-After) */
  private pauseUntil = 0;
  /** while failing, one shard's attempt is in flight as the probe */
  private probing = false;
  /** the reader has read everything appended so far */
  private caughtUp = false;
  /** samples read since the reader was last caught up */
  private readBehind = 0;
  private sendSeconds = 0;
  /** The uncompressed parts of the record being planned: compressed before planRecord returns, so one buffer serves every record. */
  private readonly partsBuffer = scratchBuffer(PARTS_SCRATCH_MAX);
  private sentSamples = 0;
  /** the lane's first call just settled: its latency is known, rescale now rather than at the next tick */
  private firstSettled = false;
  /** when the reader first got a record, and the samples appended by then: the intake rate at the first rescale */
  private firstRead: { at: number; appended: number } | undefined;
  /** shards take no new batch: the shard count is changing */
  private holding = false;
  private readonly now: () => number;

  constructor(
    readonly spec: LaneSpec,
    private readonly deps: LaneDeps,
  ) {
    this.now = deps.now ?? Date.now;
    const shards = deps.shards ?? { min: 1, max: 1 };
    this.scaler = new ShardScaler({ min: shards.min, max: shards.max });
    this.shardCount = this.scaler.shards;
    this.tracker = new CommitTracker((end) => spec.reader.commit(end));
    if (!deps.allowOutOfOrder) {
      this.owners = new SeriesOwners(undefined, Math.max(1, shards.max));
      this.route = { table: this.owners, leastLoaded: () => this.leastBusy(), spread: false, crowded: (i) => this.crowded(i) };
    }
  }

  get name(): string {
    return this.spec.name;
  }

  stats(): LaneStats {
    const oldest = this.tracker.oldestPendingTime();
    return {
      name: this.name,
      shards: this.shardCount,
      inflight: this.inflight,
      pendingSamples: this.spec.reader.pendingSamples(),
      lagSeconds: Number.isFinite(oldest) ? Math.max(0, (this.now() - oldest) / 1000) : 0,
    };
  }

  start(): void {
    this.running ??= this.run();
  }

  /**
   * Stops taking new batches and cuts backoff waits. Sends in flight may finish within
   * graceMs; after that they are aborted (or, if the client cannot abort, abandoned: their
   * batches stay uncommitted and are sent again after the restart).
   */
  async stop(graceMs: number): Promise<void> {
    this.stopController.abort();
    this.bell.ring();
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.sendController.abort();
        setTimeout(resolve, ABANDON_AFTER_ABORT_MS);
      }, graceMs);
    });
    try {
      await Promise.race([this.running, gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  private cutoff(): number {
    const age = this.deps.maxSampleAgeMs ?? 0;
    return age > 0 ? this.now() - age + (this.deps.windowMarginMs ?? 0) : -Infinity;
  }

  // ---- the reader: records in spool order → shares on shard queues ----

  private async run(): Promise<void> {
    const { reader } = this.spec;
    const signal = this.stopController.signal;
    this.startWorkers();
    let nextTick = this.now();
    while (!this.stopping) {
      try {
        if (this.now() >= nextTick || this.firstSettled) {
          const first = this.firstSettled;
          this.firstSettled = false;
          nextTick = this.now() + SCALE_TICK_MS;
          await this.rescale(first);
          this.bell.ring(); // shards held for it look again
          continue;
        }
        if (this.readAheadFull()) {
          this.bell.ring(); // shards send what they have: nothing more comes until a call settles
          await this.bell.wait(nextTick - this.now(), signal);
          continue;
        }
        const rec = await reader.next();
        if (!rec) {
          if (!this.caughtUp) {
            this.caughtUp = true;
            // What was read behind a backlog (a batch's worth or more in a row) is late
            // already: its last partial batches go now instead of waiting out
            // BATCH_MAX_WAIT for fresh data. Records read one by one as they arrive still
            // wait, so at low load small writes are still merged.
            if (this.readBehind >= this.deps.batch.maxSamples) for (const q of this.queues) q.due = q.count;
            this.readBehind = 0;
            this.bell.ring();
          }
          await reader.waitForData(Math.min(nextTick - this.now(), this.deps.batch.maxWaitMs), signal);
          this.bell.ring(); // shards waiting out BATCH_MAX_WAIT look again
          continue;
        }
        this.caughtUp = false;
        this.readBehind += rec.samples;
        this.firstRead ??= { at: this.now(), appended: this.spec.reader.spool.appendedSamples };
        const r = asBatchRecord(rec);
        if (r instanceof Error) {
          this.deps.onUnreadable?.(rec, r);
          this.tracker.add(rec.end, 0); // skipped, and committed past with what comes before it
          continue;
        }
        const plan = this.plan(r, rec);
        if (plan.tooOld > 0) this.tooOld(plan.tooOld);
        // The payload's memory is read into again once nothing uses it: at once when the
        // shares are copies (split, or nothing to send), else once they have all settled.
        const sendsPayload = plan.shares.some((s) => s.block === r.block);
        if (!sendsPayload) reader.release(rec);
        const tracked = this.tracker.add(rec.end, plan.shares.length, rec.minTime, sendsPayload ? () => reader.release(rec) : undefined);
        const readAt = this.now();
        // series that moved off a crowded shard wait for what it holds now (their earlier samples)
        const after = plan.from === undefined ? undefined : { shard: plan.from, seq: this.queues[plan.from].enqueued };
        for (const s of plan.shares) {
          this.queues[s.shard].push(after && s.shard !== after.shard ? { ...s, tracked, readAt, after } : { ...s, tracked, readAt });
          this.heldBytes += s.block.length;
        }
        this.deps.metrics.plannedRecords.inc({
          lane: this.name,
          how: plan.shares.length === 1 && plan.shares[0].block === r.block ? 'whole' : plan.shares.length === 0 ? 'none' : 'split',
        });
        if (plan.shares.length > 0) this.bell.ring();
      } catch (err) {
        // A spool read failure or a bug: say so, let what is in flight settle, read again from the cursor.
        this.deps.warnOnce(`lane-error:${this.name}`, 'error', 'delivery lane failed, retrying', { lane: this.name, error: (err as Error).message });
        await this.quiesce();
        this.resetQueues();
        if (!(await sleep(this.deps.backoff.maxMs, signal))) break;
      }
    }
    this.bell.ring();
    await Promise.all(this.workers);
    // Whatever was read but not settled is read again after a restart.
    this.resetQueues();
  }

  private plan(r: BatchRecord, rec: TimeRange): Plan {
    return planRecord(
      { ...r, minTime: rec.minTime, maxTime: rec.maxTime },
      {
        shards: this.shardCount,
        cutoff: this.cutoff(),
        wholeTo: this.deps.allowOutOfOrder ? this.leastBusy() : undefined,
        alloc: this.partsBuffer,
        owners: this.route,
      },
    );
  }

  /**
   * Shard i holds a full batch more than it is sending while most shards have nothing to do:
   * its streams are worth splitting (a decompress, split and compress per record) only when
   * the whole records of the other streams leave more than half the shards idle.
   */
  private crowded(i: number): boolean {
    if (this.queues[i].samples < this.deps.batch.maxSamples) return false;
    let idle = 0;
    for (let j = 0; j < this.shardCount; j++) if (this.queues[j].count === 0 && !this.queues[j].sending) idle++;
    return idle * 2 > this.shardCount;
  }

  /** Event-loop utilisation since the last call (one process, every lane shares it). */
  private busy(): number {
    if (this.deps.busy) return this.deps.busy();
    const now = performance.eventLoopUtilization();
    const d = this.elu ? performance.eventLoopUtilization(now, this.elu) : now;
    this.elu = now;
    return d.utilization;
  }

  private elu: EventLoopUtilization | undefined;

  /** The shard count the scaler wants; changing it first lets every call settle (series move between shards). */
  private async rescale(firstSettled = false): Promise<void> {
    const busy = this.busy();
    const want = this.scaler.update({
      recentInRate: firstSettled ? this.rateSinceFirstRead() : undefined,
      now: this.now(),
      appendedSamples: this.spec.reader.spool.appendedSamples,
      pendingSamples: this.spec.reader.pendingSamples(),
      sendSeconds: this.sendSeconds,
      sentSamples: this.sentSamples,
      failing: this.failureStreak > 0,
      // a busy event loop slows calls for want of CPU, and more shards would split more
      // records: that holds only once the owners table is full (records whole otherwise)
      busy: this.owners?.homeMode ? busy : undefined,
    });
    // Let a crowded shard's streams move by hash (split records, more calls in flight) while
    // there is CPU to spare; else records go whole to the shard owning their series.
    if (this.route) {
      if (busy < SPREAD_BELOW_BUSY) this.route.spread = true;
      else if (busy > ROUTE_ABOVE_BUSY) this.route.spread = false;
    }
    if (want === this.shardCount || this.failureStreak > 0) return;
    // Everything settles first, and the owners table starts over: a shard busy with a
    // backlog never goes idle, so the streams it owns would never move to the new shards.
    const owners = this.owners;
    if (owners && this.shardCount === 1) await this.readQueuedAgain();
    else if (owners) {
      await this.quiesce();
      owners.reset();
    }
    if (this.stopping) return;
    this.deps.log.info('lane concurrency changed', { lane: this.name, shards: want, was: this.shardCount, pendingSamples: this.spec.reader.pendingSamples() });
    this.shardCount = want;
    this.startWorkers();
  }

  /** Samples per second appended since the reader got its first record (undefined: too short a span to tell). */
  private rateSinceFirstRead(): number | undefined {
    const f = this.firstRead;
    if (f === undefined) return undefined;
    const seconds = (this.now() - f.at) / 1000;
    return seconds >= 0.05 ? (this.spec.reader.spool.appendedSamples - f.appended) / seconds : undefined;
  }

  /**
   * One shard sends its queue in read order, so what it has settled is a prefix of what was
   * read. Once its call in flight settles, what is still queued is read again (the reader
   * rewinds to its committed cursor) and spread over the new shards, instead of going out
   * first one call at a time: a lane's first growth, latency just learnt, costs one call.
   */
  private async readQueuedAgain(): Promise<void> {
    this.holding = true;
    try {
      await this.waitWhile(() => this.queues.some((q) => q.sending));
    } finally {
      this.holding = false;
    }
    if (!this.stopping) this.resetQueues();
  }

  /** Sends what is queued at once and waits until nothing is queued or in flight: in the lane, or in shard i. */
  private async quiesce(i?: number): Promise<void> {
    const busy = (q: ShardQueue): boolean => q.count > 0 || q.sending;
    this.flushNow = true;
    this.bell.ring();
    await this.waitWhile(() => (i === undefined ? this.queues.some(busy) : busy(this.queues[i])));
    this.flushNow = false;
  }

  /** Until `cond` is false (looked at whenever a call settles, or every 100 ms) or the lane stops. */
  private async waitWhile(cond: () => boolean): Promise<void> {
    while (!this.stopping && cond()) await this.bell.wait(100, this.stopController.signal);
  }

  private resetQueues(): void {
    for (const q of this.queues) q.clear();
    this.owners?.reset();
    this.heldBytes = 0;
    this.tracker.clear();
    this.spec.reader.rewind();
  }

  private startWorkers(): void {
    while (this.queues.length < this.shardCount) this.queues.push(new ShardQueue());
    for (let i = 0; i < this.shardCount; i++) {
      if (this.active.has(i)) continue;
      this.active.add(i);
      const w = this.shardLoop(i).finally(() => {
        this.active.delete(i);
        this.workers.delete(w);
      });
      this.workers.add(w);
    }
  }

  /**
   * Read ahead about two batches per shard (so each sends full batches), within the memory
   * cap. Judged live, not latched: right after a call settles there is room again, and its
   * shard waits for the reader to fill a batch instead of sending a scrap.
   */
  private readAheadFull(): boolean {
    return this.queuedSamples() >= 2 * this.shardCount * this.deps.batch.maxSamples || this.heldBytes >= LANE_MEMORY_BYTES;
  }

  /** samples waiting in the shard queues */
  private queuedSamples(): number {
    let n = 0;
    for (const q of this.queues) n += q.samples;
    return n;
  }

  /** For a record none of whose series has an owner (or any record, out of order allowed): the shard with the least to send, one not sending first. */
  private leastBusy(): number {
    let best = 0;
    let least = Infinity;
    for (let i = 0; i < this.shardCount; i++) {
      const q = this.queues[i];
      const load = q.samples + (q.sending ? this.deps.batch.maxSamples : 0);
      if (load < least) {
        least = load;
        best = i;
      }
    }
    return best;
  }

  private tooOld(samples: number): void {
    this.deps.metrics.droppedSamples.inc({ reason: 'too_old' }, samples);
    this.deps.onTooOld?.(samples);
    const age = this.deps.maxSampleAgeMs ?? 0;
    this.deps.warnOnce(
      `too_old:${this.name}`,
      'warn',
      'samples older than MAX_SAMPLE_AGE were not sent (Azure Monitor drops them after accepting them); dropped and counted',
      {
        lane: this.name,
        upstream: this.spec.upstream.host,
        samples,
        maxSampleAge: `${Math.round(age / 1000)}s`,
      },
    );
  }

  // ---- a shard: one call at a time ----

  private async shardLoop(i: number): Promise<void> {
    const signal = this.stopController.signal;
    while (!this.stopping) {
      const q = this.queues[i];
      if (i >= this.shardCount && q.count === 0) return; // retired by a rescale
      const wait = this.batchWait(q);
      if (wait > 0) {
        await this.bell.wait(wait, signal);
        continue;
      }
      const unit = this.takeBatch(q);
      this.inflight++;
      q.sending = true;
      let done: boolean;
      try {
        this.deps.metrics.batchSamples.observe(unit.samples);
        this.deps.metrics.batchBytes.observe(unit.bytes);
        done = await this.deliver(unit);
      } catch (err) {
        this.deps.warnOnce(`lane-error:${this.name}`, 'error', 'delivery lane failed, retrying', { lane: this.name, error: (err as Error).message });
        // the shares go back to the front of the queue, in order
        q.putBack(unit.shares);
        await sleep(this.deps.backoff.maxMs, signal);
        continue;
      } finally {
        this.inflight--;
        q.sending = false;
      }
      if (!done) return; // stopped: nothing of this batch is committed
      q.settled += unit.shares.length;
      for (const s of unit.shares) {
        this.heldBytes -= s.block.length;
        this.tracker.settle(s.tracked);
      }
      // nothing of this shard's left unsent: its series may go to any shard from now on
      if (q.count === 0) this.owners?.idle(i);
      this.bell.ring();
    }
  }

  /** ms until the queue's batch should go (0: now). */
  private batchWait(q: ShardQueue): number {
    // A workspace's relay lane holds batches the main lane already made: once it has read all
    // of them, waiting for more only delays the moment it has caught up and rejoins the main lane.
    if (q.count > 0 && !this.ready(q.items[0])) return 60_000; // the settle it waits for rings the bell
    // the shard count is about to change (the reader rescales on the first settle, or now)
    if (this.holding || (this.firstSettled && !this.caughtUp)) return 60_000;
    const flush = q.due > 0 || this.flushNow || this.stopping || this.readAheadFull() || (this.caughtUp && this.spec.endpointId !== undefined);
    return batchDueIn(q, this.deps.batch, this.now(), flush) ?? 60_000;
  }

  /** The share may go: it waits for no other shard's settles, or they have happened. */
  private ready(s: Queued): boolean {
    return s.after === undefined || this.queues[s.after.shard].settled >= s.after.seq;
  }

  /** Shares from the front of the queue within the batch limits (a single larger one goes alone), up to one still waiting for another shard. */
  private takeBatch(q: ShardQueue): Unit {
    let n = batchSize(q.items, this.deps.batch);
    for (let k = 1; k < n; k++) {
      if (!this.ready(q.items[k])) {
        n = k;
        break;
      }
    }
    return unitOf(q.take(n));
  }

  /** Settles every part of the unit; false if stopped first (nothing is committed then). */
  private async deliver(first: Unit): Promise<boolean> {
    const work: Unit[] = [first];
    while (work.length > 0) {
      const unit = work[0];
      const o = await this.sendUntilSettled(unit);
      if (o === 'stopped') return false;
      if (o.kind === 'rejected' || o.kind === 'too_large') {
        const parts = this.split(unit, o.kind);
        if (parts.length > 1) {
          work.splice(0, 1, ...parts);
          continue;
        }
        this.drop(unit, o.kind === 'rejected' ? 'upstream_rejected' : 'too_large', o.status, o.reason);
      }
      work.shift();
    }
    return true;
  }

  /**
   * 400 → halves by share, to find the request(s) upstream refuses (validation at the
   * door makes this rare). 413 → halves by share, then by series within one.
   */
  private split(unit: Unit, why: 'rejected' | 'too_large'): Unit[] {
    if (unit.shares.length > 1) {
      const mid = Math.ceil(unit.shares.length / 2);
      return [unit.shares.slice(0, mid), unit.shares.slice(mid)].map((shares) => unitOf(shares));
    }
    if (why === 'rejected') return [unit];
    // One request too large for upstream (rare): decompressed and halved by series.
    const halves = splitInHalf(decompress(blockOf(unit)));
    return halves.length === 2
      ? halves.map((raw) => ({
          shares: [],
          parts: [compress(raw)],
          bytes: raw.length,
          samples: countSamples(raw),
          minTime: unit.minTime,
          maxTime: unit.maxTime,
        }))
      : [unit];
  }

  private drop(unit: Unit, reason: 'upstream_rejected' | 'too_large', status: number, detail: string): void {
    const m = this.deps.metrics;
    m.droppedSamples.inc({ reason }, unit.samples);
    m.droppedRecords.inc({ reason }, Math.max(1, unit.shares.length));
    this.deps.warnOnce(`drop:${this.name}:${reason}`, 'warn', 'upstream refused data that can never succeed; dropped', {
      lane: this.name,
      upstream: this.spec.upstream.host,
      status,
      reason,
      samples: unit.samples,
      detail,
    });
  }

  /**
   * Waits for the lane-wide backoff, the request rate and the catch-up limiter. While the
   * lane is failing only one shard at a time sends (a probe): more calls in flight must never
   * mean more calls against an endpoint that refuses them. 'probe' when this attempt is it.
   */
  private async admit(samples: number): Promise<'stopped' | 'probe' | 'go'> {
    const signal = this.stopController.signal;
    for (;;) {
      for (let d = this.pauseUntil - this.now(); d > 0; d = this.pauseUntil - this.now()) {
        if (!(await sleep(d, signal))) return 'stopped';
      }
      if (this.failureStreak === 0 || !this.probing) break;
      await this.bell.wait(250, signal);
      if (this.stopping) return 'stopped';
    }
    const probe = this.failureStreak > 0;
    if (probe) this.probing = true;
    const { limiter, requests } = this.spec;
    const release = (): 'stopped' => {
      if (probe) this.endProbe();
      return 'stopped';
    };
    if (requests && !(await requests.take(1, signal))) return release();
    const before = limiter.waitedMs;
    if (!(await limiter.take(samples, signal))) return release();
    if (limiter.waitedMs > before) this.deps.metrics.catchupWait.inc({ lane: this.name }, (limiter.waitedMs - before) / 1000);
    return probe ? 'probe' : 'go';
  }

  private endProbe(): void {
    this.probing = false;
    this.bell.ring();
  }

  /** Sends until the outcome is not retryable (parking on the way in relay mode); 'stopped' on shutdown. */
  private async sendUntilSettled(unit: Unit): Promise<Settled> {
    /** endpoints this unit was handed to through their lanes */
    const parked = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) return 'stopped';
      const admitted = await this.admit(unit.samples);
      if (admitted === 'stopped') return 'stopped';
      try {
        const o = await this.attempt(unit, attempt, parked);
        if (o !== 'retry') return o;
      } finally {
        if (admitted === 'probe') this.endProbe();
      }
    }
  }

  /** One attempt: the window check, parking (relay), the call; 'retry' after a failure (backoff set). */
  private async attempt(unit: Unit, attempt: number, parked: Set<string>): Promise<Settled | 'retry'> {
    const { upstream, endpointId } = this.spec;
    // Judged right before the call (after any wait): a batch may have aged in retries.
    const trimmed = trimToWindow(
      {
        get block() {
          return blockOf(unit);
        },
        samples: unit.samples,
        minTime: unit.minTime,
        maxTime: unit.maxTime,
      },
      this.cutoff(),
    );
    if (trimmed) {
      this.tooOld(trimmed.tooOld);
      if (trimmed.samples === 0 && trimmed.bytes === 0) return { kind: 'too_old' };
      Object.assign(unit, { parts: [trimmed.block], bytes: trimmed.bytes, samples: trimmed.samples, minTime: trimmed.minTime, maxTime: trimmed.maxTime });
    }

    let retryAfter: number | undefined;
    let reason: string;
    // Relay main lane: a workspace whose lane still holds data gets this batch through its lane, after the rest.
    const behind = (this.spec.parked?.() ?? []).filter((id) => !parked.has(id));
    if (behind.length > 0 && this.spec.park) {
      try {
        await this.spec.park(behind, parkable(unit));
        for (const id of behind) {
          parked.add(id);
          this.deps.metrics.parkedBatches.inc({ endpoint: id });
        }
      } catch (err) {
        this.deps.warnOnce(`park-failed:${this.name}`, 'error', 'cannot queue a batch on a workspace lane, retrying', {
          lane: this.name,
          error: (err as Error).message,
        });
        return (await this.backoff(attempt, undefined, 'park')) ? 'retry' : 'stopped';
      }
    }

    const started = process.hrtime.bigint();
    let o: UpstreamOutcome;
    try {
      o = await upstream.send(
        {
          get block() {
            return blockOf(unit);
          },
          parts: unit.parts,
          bytes: unit.bytes,
          samples: unit.samples,
          onlyEndpoints: endpointId,
          exceptEndpoints: parked.size > 0 ? [...parked].join(',') : undefined,
          stragglerTimeoutMs: this.spec.stragglerTimeoutMs || undefined,
        },
        this.sendController.signal,
      );
    } catch (err) {
      o = { kind: 'retry', reason: (err as Error).message, bytes: 0 };
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.record(o, unit, seconds);

    if (o.kind === 'partial') {
      const others = o.failed.filter((id) => id !== endpointId && !parked.has(id));
      if (others.length > 0 && this.spec.park) {
        try {
          await this.spec.park(others, parkable(unit));
          for (const id of others) {
            parked.add(id);
            this.deps.metrics.parkedBatches.inc({ endpoint: id });
          }
          this.deps.warnOnce(
            `park:${this.name}:${others.join(',')}`,
            'warn',
            'relay could not deliver to some workspace endpoints; their share is queued on their own lanes',
            { lane: this.name, endpoints: others.join(','), detail: o.reason },
          );
        } catch (err) {
          this.deps.warnOnce(`park-failed:${this.name}`, 'error', 'cannot queue a partially delivered batch on its lanes, retrying', {
            lane: this.name,
            error: (err as Error).message,
          });
        }
      }
      const ownFailed = endpointId !== undefined && o.failed.includes(endpointId);
      const unparked = o.failed.some((id) => id !== endpointId && !parked.has(id));
      if (!ownFailed && !unparked) return this.settled(o);
      // Our own endpoint failed, or a share could not be parked: send again (to all but the parked, or only ours).
      retryAfter = o.retryAfterSeconds;
      reason = 'partial';
    } else if (o.kind === 'retry') {
      retryAfter = o.retryAfterSeconds;
      reason = retryReason(o);
      this.report(o);
    } else {
      return this.settled(o);
    }
    return (await this.backoff(attempt, retryAfter, reason)) ? 'retry' : 'stopped';
  }

  /** A failed attempt: the whole lane waits (one endpoint, one backoff); false if stopped. */
  private async backoff(attempt: number, retryAfter: number | undefined, reason: string): Promise<boolean> {
    this.failureStreak++;
    this.deps.metrics.retries.inc({ lane: this.name, reason });
    if (this.stopping) return false;
    this.pauseUntil = Math.max(this.pauseUntil, this.now() + retryDelayMs(attempt, this.deps.backoff, retryAfter));
    return !this.stopping;
  }

  private settled(o: Exclude<UpstreamOutcome, { kind: 'retry' }>): Settled {
    if (this.failureStreak > 0) {
      this.deps.log.info('upstream accepting data again', { lane: this.name, upstream: this.spec.upstream.host, failedAttempts: this.failureStreak });
      this.failureStreak = 0;
    }
    return o;
  }

  private record(o: UpstreamOutcome, unit: Unit, seconds: number): void {
    const m = this.deps.metrics;
    m.upstreamDuration.observe({ lane: this.name, outcome: o.kind }, seconds);
    // A relay lane only ever targets its own endpoint: a partial failure naming it delivered nothing.
    const own = this.spec.endpointId;
    const some = o.kind === 'partial' && !(own !== undefined && o.failed.includes(own));
    if (o.kind === 'delivered' || some) {
      m.sentBatches.inc({ lane: this.name });
      m.sentSamples.inc({ lane: this.name }, unit.samples);
      m.sentBytes.inc({ lane: this.name }, o.bytes);
      if (this.sentSamples === 0) this.firstSettled = true;
      this.sendSeconds += seconds;
      this.sentSamples += unit.samples;
    }
    this.deps.publishLog.record(o.bytes, seconds, o.kind === 'delivered' ? 'all' : some ? 'some' : 'none');
  }

  private report(o: Extract<UpstreamOutcome, { kind: 'retry' }>): void {
    const fields: Fields = { lane: this.name, upstream: this.spec.upstream.host, reason: o.reason };
    if (o.status !== undefined) fields.status = o.status;
    if (o.hint === 'auth') {
      this.deps.warnOnce(
        `auth:${this.name}`,
        'error',
        `upstream refused the forwarder's credentials; retrying with backoff. Check: ${this.spec.hints.auth}`,
        fields,
      );
    } else if (o.hint === 'config') {
      this.deps.warnOnce(
        `config:${this.name}`,
        'error',
        `upstream refused the request for a reason that is not the data; retrying with backoff. Check: ${this.spec.hints.config}`,
        fields,
      );
    } else {
      this.deps.warnOnce(`retry:${this.name}`, 'warn', 'upstream failed, retrying with backoff', fields);
    }
  }
}

/** Shares merged into one call: their snappy blocks joined without decompressing (batch.ts). */
function unitOf(shares: Queued[]): Unit {
  let bytes = 0;
  let samples = 0;
  let minTime = Infinity;
  let maxTime = -Infinity;
  for (const s of shares) {
    bytes += s.bytes;
    samples += s.samples;
    // Math.min/max of a NaN (unknown) is NaN: the window check then looks inside
    minTime = Math.min(minTime, s.minTime);
    maxTime = Math.max(maxTime, s.maxTime);
  }
  return { shares, parts: snappyBlockParts(shares.map((s) => s.block)), bytes, samples, minTime, maxTime };
}

/** The unit's body as one buffer (joined once, for the paths that decode it or hand it on). */
function blockOf(unit: Unit): Buffer {
  if (unit.parts.length !== 1) unit.parts = [Buffer.concat(unit.parts)];
  return unit.parts[0];
}

/** A unit to hand to another lane's spool, which keeps what it appends: its own copy of the body (the shares' blocks may be views on larger buffers). */
function parkable(unit: Unit): ParkedBatch {
  return { block: Buffer.concat(unit.parts), samples: unit.samples, minTime: unit.minTime, maxTime: unit.maxTime };
}

function retryReason(o: Extract<UpstreamOutcome, { kind: 'retry' }>): string {
  if (o.status === undefined) return o.hint === 'auth' ? 'token' : 'network';
  if (o.status === 429) return 'http_429';
  if (o.status >= 500) return 'http_5xx';
  return `http_${o.status}`;
}
