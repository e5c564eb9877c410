// Timing policy of the delivery lanes, kept free of I/O so it can be tested exactly:
// exponential backoff with jitter, Retry-After, and a token bucket for catch-up.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  /** Retry-After is honoured up to this (a misbehaving upstream cannot park a lane for hours) */
  maxRetryAfterMs?: number;
  random?: () => number;
}

export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Delay before retry number `attempt` (1 = first retry). Without Retry-After: the
 * exponential step min·2^(attempt-1), capped at max, with "equal jitter" (half fixed,
 * half random) so lanes that failed together do not retry in lockstep yet never retry
 * immediately. With Retry-After: that, plus up to 10 % jitter.
 */
export function retryDelayMs(attempt: number, opts: BackoffOptions, retryAfterSeconds?: number): number {
  const random = opts.random ?? Math.random;
  if (retryAfterSeconds !== undefined && retryAfterSeconds >= 0) {
    const ms = Math.min(retryAfterSeconds * 1000, opts.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS);
    return Math.round(ms + ms * 0.1 * random());
  }
  const step = Math.min(opts.maxMs, opts.minMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(step / 2 + (step / 2) * random());
}

/** Resolves after ms, or early (false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A token bucket in samples per second. take(n) waits while the bucket is in debt, then
 * spends n (possibly going into debt), so a batch larger than the bucket still passes and
 * the average rate holds. Capacity is one second of rate: a short burst after idling.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** total ms spent waiting (a metric: how much catch-up was slowed) */
  waitedMs = 0;

  constructor(
    readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = ratePerSecond;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
  }

  /** ms to wait before n may be spent; 0 when unlimited or in credit */
  delayMs(): number {
    if (this.ratePerSecond <= 0) return 0;
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
  }

  spend(n: number): void {
    if (this.ratePerSecond <= 0) return;
    this.refill();
    this.tokens -= n;
  }

  /** Waits until not in debt, then spends n. False if aborted while waiting. */
  async take(n: number, signal?: AbortSignal): Promise<boolean> {
    for (let d = this.delayMs(); d > 0; d = this.delayMs()) {
      this.waitedMs += d;
      if (!(await sleep(d, signal))) return false;
    }
    this.spend(n);
    return true;
  }
}
