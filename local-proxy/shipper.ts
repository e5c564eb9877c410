// Delivery lanes. A lane reads batches from its spool cursor, sends them upstream one at a
// time (so samples of a series stay in order), and commits the cursor only once a batch
// is settled: delivered, deliberately dropped (400, or 413 on a single series), or — in
// relay mode — handed to the lanes of the endpoints the relay could not reach.
//
//   retryable (network, timeout, 5xx, 429, 401/403, 404 …)  backoff with jitter, Retry-After honoured
//   400                                                      bisect the batch by request, drop only what is refused
//   413 (relay)                                              split and resend the parts
//   503 + X-Relay-Failed-Endpoints (relay)                   park on those endpoints' lanes, move on
//
// Lanes are independent: a dead endpoint's lane backs off while the others keep flowing
// (vmagent #7826). Every send first passes the lane's catch-up limiter (vmagent #1035).

import type { Fields, Logger } from '../shared/observability/log';
import type { PublishLog } from '../shared/observability/publish-log';
import { countSamples } from '../shared/remote-write/count';
import { compress, decompress } from '../shared/remote-write/snappy';
import { splitInHalf } from '../shared/fanout/split';
import { type Batch, type BatchLimits, type BatchRecord, type OnUnreadable, collectBatch, mergeRecords } from './batch';
import type { ForwarderMetrics } from './metrics';
import { type BackoffOptions, type TokenBucket, retryDelayMs, sleep } from './pacing';
import type { SpoolReader } from './spool';
import type { Upstream, UpstreamOutcome } from './upstream';

export interface LaneHints {
  /** what to check when upstream refuses the credentials (401/403, no token) */
  auth: string;
  /** what to check when upstream answers a 4xx that is not about the data (404, 415 …) */
  config: string;
}

export interface LaneSpec {
  /** metrics/log label: "relay", "lane:<endpoint id>", "direct:<endpoint id>" */
  name: string;
  reader: SpoolReader;
  upstream: Upstream;
  limiter: TokenBucket;
  hints: LaneHints;
  /** relay lanes: the endpoint this lane retries (sent as X-Relay-Only-Endpoints) */
  endpointId?: string;
  /** relay mode: queue a batch (a snappy block) for endpoints the relay could not deliver it to */
  park?: (endpointIds: string[], block: Buffer, samples: number) => Promise<void>;
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
}

/** A piece of a batch: whole requests (records), or a slice of one request after a 413. */
interface Unit {
  records?: BatchRecord[];
  /** the WriteRequest as one snappy block */
  block: Buffer;
  /** uncompressed bytes */
  bytes: number;
  samples: number;
}

type Settled = Exclude<UpstreamOutcome, { kind: 'retry' }> | 'stopped';

/** Merged batches up to this size are written into the lane's reusable buffer. */
const SCRATCH_MAX_BYTES = 4 * 1024 * 1024;

/** After aborting a send at the end of the grace period, how long to wait for it to unwind. */
const ABANDON_AFTER_ABORT_MS = 200;

export class Lane {
  private readonly stopController = new AbortController();
  private readonly sendController = new AbortController();
  private running: Promise<void> | undefined;
  /** failures since the last delivery (for the "recovered" log line) */
  private failureStreak = 0;
  /**
   * Reused for each batch's merged block: a lane sends one batch at a time and is done with
   * it once the batch is settled, so this saves a large allocation (and the GC work it
   * drives) per batch. Anything that outlives the batch (parking) takes a copy.
   */
  private scratch: Buffer | undefined;
  private readonly scratchFor = (size: number): Buffer => {
    if (size > SCRATCH_MAX_BYTES) return Buffer.allocUnsafe(size);
    if (!this.scratch || this.scratch.length < size) this.scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX_BYTES, Math.max(size, 2 * (this.scratch?.length ?? 0))));
    return this.scratch;
  };

  constructor(
    readonly spec: LaneSpec,
    private readonly deps: LaneDeps,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  start(): void {
    this.running ??= this.run();
  }

  /**
   * Stops taking new batches and cuts backoff waits. A send in flight may finish within
   * graceMs; after that it is aborted (or, if the client cannot abort, abandoned: its batch
   * stays uncommitted and is sent again after the restart).
   */
  async stop(graceMs: number): Promise<void> {
    this.stopController.abort();
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

  private async run(): Promise<void> {
    const { reader, limiter } = this.spec;
    const signal = this.stopController.signal;
    while (!this.stopping) {
      try {
        const batch = await collectBatch(reader, this.deps.batch, signal, Date.now, this.deps.onUnreadable);
        if (!batch || this.stopping) break;
        const before = limiter.waitedMs;
        if (!(await limiter.take(batch.samples, signal))) break;
        if (limiter.waitedMs > before) this.deps.metrics.catchupWait.inc({ lane: this.name }, (limiter.waitedMs - before) / 1000);
        this.deps.metrics.batchSamples.observe(batch.samples);
        this.deps.metrics.batchBytes.observe(batch.bytes);
        if (!(await this.deliver(batch))) break;
        reader.commit(batch.end);
      } catch (err) {
        // A spool read failure or a bug: say so, back off, and read the batch again.
        this.deps.warnOnce(`lane-error:${this.name}`, 'error', 'delivery lane failed, retrying', { lane: this.name, error: (err as Error).message });
        reader.rewind();
        if (!(await sleep(this.deps.backoff.maxMs, signal))) break;
      }
    }
    // Whatever was read but not settled is read again after a restart.
    reader.rewind();
  }

  /** Settles every part of the batch; false if stopped first (nothing is committed then). */
  private async deliver(batch: Batch): Promise<boolean> {
    const work: Unit[] = [{ records: batch.records, block: mergeRecords(batch.records, this.scratchFor), bytes: batch.bytes, samples: batch.samples }];
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
   * 400 → halves by request, to find the request(s) upstream refuses (validation at the
   * door makes this rare). 413 → halves by request, then by series within one request.
   */
  private split(unit: Unit, why: 'rejected' | 'too_large'): Unit[] {
    const recs = unit.records;
    if (recs && recs.length > 1) {
      const mid = Math.ceil(recs.length / 2);
      return [recs.slice(0, mid), recs.slice(mid)].map((r) => ({
        records: r,
        block: mergeRecords(r),
        bytes: r.reduce((n, x) => n + x.bytes, 0),
        samples: r.reduce((n, x) => n + x.samples, 0),
      }));
    }
    if (why === 'rejected') return [unit];
    // One request too large for upstream (rare): the only place a lane decompresses.
    const halves = splitInHalf(decompress(unit.block));
    return halves.length === 2 ? halves.map((raw) => ({ block: compress(raw), bytes: raw.length, samples: countSamples(raw) })) : [unit];
  }

  private drop(unit: Unit, reason: 'upstream_rejected' | 'too_large', status: number, detail: string): void {
    const m = this.deps.metrics;
    m.droppedSamples.inc({ reason }, unit.samples);
    m.droppedRecords.inc({ reason }, unit.records?.length ?? 1);
    this.deps.warnOnce(`drop:${this.name}:${reason}`, 'warn', 'upstream refused data that can never succeed; dropped', {
      lane: this.name,
      upstream: this.spec.upstream.host,
      status,
      reason,
      samples: unit.samples,
      detail,
    });
  }

  /** Sends until the outcome is not retryable (parking partial failures on the way); 'stopped' on shutdown. */
  private async sendUntilSettled(unit: Unit): Promise<Settled> {
    const { upstream, endpointId } = this.spec;
    const parked = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      if (this.stopping) return 'stopped';
      const started = process.hrtime.bigint();
      let o: UpstreamOutcome;
      try {
        o = await upstream.send({ block: unit.block, bytes: unit.bytes, samples: unit.samples, onlyEndpoints: endpointId }, this.sendController.signal);
      } catch (err) {
        o = { kind: 'retry', reason: (err as Error).message, bytes: 0 };
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.record(o, unit, seconds);

      let retryAfter: number | undefined;
      let reason: string;
      if (o.kind === 'partial') {
        const others = o.failed.filter((id) => id !== endpointId && !parked.has(id));
        if (others.length > 0 && this.spec.park) {
          try {
            // a copy: the block may be this lane's scratch buffer, and the other spool keeps what it is given
            await this.spec.park(others, Buffer.from(unit.block), unit.samples);
            for (const id of others) {
              parked.add(id);
              this.deps.metrics.parkedBatches.inc({ endpoint: id });
            }
            this.deps.warnOnce(`park:${this.name}:${others.join(',')}`, 'warn', 'relay could not deliver to some workspace endpoints; their share is queued on their own lanes', { lane: this.name, endpoints: others.join(','), detail: o.reason });
          } catch (err) {
            this.deps.warnOnce(`park-failed:${this.name}`, 'error', 'cannot queue a partially delivered batch on its lanes, retrying', { lane: this.name, error: (err as Error).message });
          }
        }
        const ownFailed = endpointId !== undefined && o.failed.includes(endpointId);
        const unparked = o.failed.some((id) => id !== endpointId && !parked.has(id));
        if (!ownFailed && !unparked) return this.settled(o);
        // Our own endpoint failed, or a share could not be parked: send again (to all, or only ours).
        retryAfter = o.retryAfterSeconds;
        reason = 'partial';
      } else if (o.kind === 'retry') {
        retryAfter = o.retryAfterSeconds;
        reason = retryReason(o);
        this.report(o);
      } else {
        return this.settled(o);
      }

      this.failureStreak++;
      this.deps.metrics.retries.inc({ lane: this.name, reason });
      if (this.stopping) return 'stopped';
      const delay = retryDelayMs(attempt, this.deps.backoff, retryAfter);
      if (!(await sleep(delay, this.stopController.signal))) return 'stopped';
    }
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
    }
    this.deps.publishLog.record(o.bytes, seconds, o.kind === 'delivered' ? 'all' : some ? 'some' : 'none');
  }

  private report(o: Extract<UpstreamOutcome, { kind: 'retry' }>): void {
    const fields: Fields = { lane: this.name, upstream: this.spec.upstream.host, reason: o.reason };
    if (o.status !== undefined) fields.status = o.status;
    if (o.hint === 'auth') {
      this.deps.warnOnce(`auth:${this.name}`, 'error', `upstream refused the forwarder's credentials; retrying with backoff. Check: ${this.spec.hints.auth}`, fields);
    } else if (o.hint === 'config') {
      this.deps.warnOnce(`config:${this.name}`, 'error', `upstream refused the request for a reason that is not the data; retrying with backoff. Check: ${this.spec.hints.config}`, fields);
    } else {
      this.deps.warnOnce(`retry:${this.name}`, 'warn', 'upstream failed, retrying with backoff', fields);
    }
  }
}

function retryReason(o: Extract<UpstreamOutcome, { kind: 'retry' }>): string {
  if (o.status === undefined) return o.hint === 'auth' ? 'token' : 'network';
  if (o.status === 429) return 'http_429';
  if (o.status >= 500) return 'http_5xx';
  return `http_${o.status}`;
}
