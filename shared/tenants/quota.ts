// Per-tenant token bucket in samples. A request is refused (429) only while the bucket
// is empty, before it is even decompressed, so a flooding tenant costs the relay little;
// an admitted request takes its samples afterwards and may leave the bucket in debt.
// Buckets live per instance: with N Function instances a tenant gets up to N× the rate.

export interface Bucket {
  /** 0 if a request may start now, else seconds until it may */
  waitSeconds(): number;
  take(samples: number): void;
}

export function createBucket(ratePerSecond: number, burst: number, now: () => number = Date.now): Bucket {
  let tokens = burst;
  let last = now();
  const refill = (): void => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * ratePerSecond);
    last = t;
  };
  return {
    waitSeconds() {
      refill();
      return tokens > 0 ? 0 : Math.max(1, Math.ceil(-tokens / ratePerSecond));
    },
    take(samples) {
      refill();
      tokens -= samples;
    },
  };
}
