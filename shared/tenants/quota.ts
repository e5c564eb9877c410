// Per-tenant token bucket in samples. A request is refused (429) only while the bucket
// is empty, before it is even decompressed, so a flooding tenant costs the relay little;
// an admitted request takes its samples afterwards and may leave the bucket in debt.
// Alone a bucket holds per instance; with shared state (shared-quota.ts) each instance's
// bucket is resized to its share of the tenant's rate, so the rate holds for the whole app.

export interface Bucket {
  /** 0 if a request may start now, else seconds until it may */
  waitSeconds(): number;
  take(samples: number): void;
  /** a new rate and size (the instance's share); tokens in hand stay, up to the new size */
  resize(ratePerSecond: number, burst: number): void;
  /** samples taken, requests admitted and requests refused since the last call (demand) */
  usage(): BucketUsage;
}

export interface BucketUsage {
  samples: number;
  requests: number;
  refused: number;
}

export function createBucket(ratePerSecond: number, burst: number, now: () => number = Date.now): Bucket {
  let tokens = burst;
  let last = now();
  const used: BucketUsage = { samples: 0, requests: 0, refused: 0 };
  const refill = (): void => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * ratePerSecond);
    last = t;
  };
  return {
    waitSeconds() {
      refill();
      if (tokens > 0) return 0;
      used.refused++;
      return Math.max(1, Math.ceil(-tokens / ratePerSecond));
    },
    take(samples) {
      refill();
      tokens -= samples;
      used.samples += samples;
      used.requests++;
    },
    resize(rate, size) {
      refill();
      ratePerSecond = rate;
      burst = size;
      tokens = Math.min(tokens, burst);
    },
    usage() {
      const out = { ...used };
      used.samples = used.requests = used.refused = 0;
      return out;
    },
  };
}
