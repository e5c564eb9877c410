// How many calls a lane keeps in flight ("shards", as Prometheus's queue manager calls
// them). Like Prometheus: the time calls take per sample they carry, times the rate the lane
// must send at — the intake, plus the backlog spread over CATCHUP_SECONDS — with 30 %
// headroom, clamped to [min, max]. A backlog against a distant endpoint gets many calls; the
// same backlog against a near one (calls of a few ms) stays on one shard, which forwards the
// senders' own bytes. Up at once (a backlog is racing Azure's 20-minute window); down only
// after the lower figure has held for a while, since each change waits for the calls in
// flight (series move between shards, and a series' samples must never overtake each
// other). Never up while failing: more calls against a failing endpoint only multiply the
// retries. Nor while the event loop is busy: then calls take long because their answers
// wait for the CPU, not for the network, and more shards would only add the work of
// splitting requests by series. Pure: no timers, no I/O.

export interface ScalerOptions {
  min: number;
  max: number;
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
  /** share of the last interval the event loop was busy (0…1); undefined: not known */
  busy?: number;
  /**
   * samples/s appended over a span the lane measured itself (since its reader got data, at
   * its first settle): counts when above the average, which a quiet spell before the data
   * came would dilute, so that the first growth is the right one
   */
  recentInRate?: number;
}

export const DEFAULT_DOWN_HOLD_MS = 30_000;
const HEADROOM = 1.3;
/** above this event-loop utilisation the lane is CPU-bound: no more shards */
export const BUSY_LIMIT = 0.85;
/** a backlog is to be sent within about this long (Prometheus catches up 5 % a second, 20 s) */
export const CATCHUP_SECONDS = 5;
/** weight of the newest interval in the moving averages */
const EWMA = 0.3;

export class ShardScaler {
  private current: number;
  private last: ScalerInput | undefined;
  private inRate = 0;
  private seeded = false;
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
      // the first interval seeds the average: a backlog must not wait for it to climb from 0
      const inRate = (x.appendedSamples - prev.appendedSamples) / dt;
      this.inRate = this.seeded ? ewma(this.inRate, inRate) : inRate;
      this.seeded = true;
      const sent = x.sentSamples - prev.sentSamples;
      if (sent > 0) this.timePerSample = ewma(this.timePerSample || (x.sendSeconds - prev.sendSeconds) / sent, (x.sendSeconds - prev.sendSeconds) / sent);
    }
    const want = this.wanted(x.pendingSamples, x.recentInRate ?? 0);
    if (want > this.current) {
      this.lowerSince = undefined;
      if (!x.failing && !((x.busy ?? 0) >= BUSY_LIMIT)) this.current = want;
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

  private wanted(pending: number, recentInRate: number): number {
    const { min, max } = this.opts;
    const rate = Math.max(this.inRate, recentInRate) + pending / CATCHUP_SECONDS;
    const want = Math.ceil(this.timePerSample * rate * HEADROOM);
    return Math.max(min, Math.min(max, Math.max(1, want)));
  }
}

function ewma(avg: number, sample: number): number {
  return Number.isFinite(sample) ? avg + EWMA * (sample - avg) : avg;
}
