// How many calls a lane keeps in flight ("shards", as Prometheus's queue manager calls
// them): enough to carry the intake at the observed latency with 30 % headroom, and while
// there is a backlog, enough to send all of it in one round — so a catch-up runs at full
// concurrency until it is nearly done instead of tailing off. Clamped to [min, max]. Up at
// once (a backlog is racing Azure's 20-minute window); down only after the lower figure has
// held for a while, since each change waits for the calls in flight (series move between
// shards, and a series' samples must never overtake each other). Never up while failing:
// more calls against a failing endpoint only multiply the retries. Pure: no timers, no I/O.

export interface ScalerOptions {
  min: number;
  max: number;
  /** samples per call (BATCH_MAX_SAMPLES) */
  batchSamples: number;
  /** how long a lower figure must hold before scaling down */
  downHoldMs?: number;
}

export interface ScalerInput {
  now: number;
  /** samples appended to the spool so far (monotonic) */
  appendedSamples: number;
  /** samples waiting for this lane (its backlog) */
  pendingSamples: number;
  /** seconds spent in successful calls so far and the samples they carried (monotonic) */
  sendSeconds: number;
  sentSamples: number;
  /** the lane is retrying a failure */
  failing: boolean;
}

export const DEFAULT_DOWN_HOLD_MS = 30_000;
const HEADROOM = 1.3;
/** weight of the newest interval in the moving averages */
const EWMA = 0.3;

export class ShardScaler {
  private current: number;
  private last: ScalerInput | undefined;
  private inRate = 0;
  private timePerSample = 0;
  /** when the wanted figure first fell below the current one */
  private lowerSince: number | undefined;
  private lowerMax = 0;

  constructor(private readonly opts: ScalerOptions) {
    this.current = opts.min;
  }

  get shards(): number {
    return this.current;
  }

  /** What the lane should run with now (call it about once a second). */
  update(x: ScalerInput): number {
    const prev = this.last;
    this.last = x;
    if (prev && x.now > prev.now) {
      const dt = (x.now - prev.now) / 1000;
      this.inRate = ewma(this.inRate, (x.appendedSamples - prev.appendedSamples) / dt);
      const sent = x.sentSamples - prev.sentSamples;
      if (sent > 0) this.timePerSample = ewma(this.timePerSample || (x.sendSeconds - prev.sendSeconds) / sent, (x.sendSeconds - prev.sendSeconds) / sent);
    }
    const want = this.wanted(x.pendingSamples);
    if (want > this.current) {
      this.lowerSince = undefined;
      if (!x.failing) this.current = want;
    } else if (want < this.current) {
      if (this.lowerSince === undefined) {
        this.lowerSince = x.now;
        this.lowerMax = want;
      }
      this.lowerMax = Math.max(this.lowerMax, want);
      if (x.now - this.lowerSince >= (this.opts.downHoldMs ?? DEFAULT_DOWN_HOLD_MS)) {
        this.current = this.lowerMax;
        this.lowerSince = undefined;
      }
    } else {
      this.lowerSince = undefined;
    }
    return this.current;
  }

  private wanted(pending: number): number {
    const { min, max, batchSamples } = this.opts;
    const forIntake = Math.ceil(this.timePerSample * this.inRate * HEADROOM);
    // a backlog beyond what one call per shard carries: one call per batch of it
    const forBacklog = pending > this.current * batchSamples ? Math.ceil(pending / batchSamples) : 0;
    return Math.max(min, Math.min(max, Math.max(1, forIntake, forBacklog)));
  }
}

function ewma(avg: number, sample: number): number {
  return Number.isFinite(sample) ? avg + EWMA * (sample - avg) : avg;
}
