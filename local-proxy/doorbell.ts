// A wake-up for async loops: wait() resolves at the next ring(), after ms, or on abort,
// whichever comes first. The spool rings it on new data; a lane's reader and shards ring
// each other on queued shares and settled calls.

export class Doorbell {
  private waiters = new Set<() => void>();
  /**
   * Signals already wired to ring(): one listener per signal, however many loops wait on it
   * (one per listener would pass Node's limit of 10 with MAX_SHARDS shards and warn).
   */
  private readonly watched = new WeakSet<AbortSignal>();

  ring(): void {
    for (const w of [...this.waiters]) w();
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal && !this.watched.has(signal)) {
      this.watched.add(signal);
      signal.addEventListener('abort', () => this.ring(), { once: true });
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      this.waiters.add(done);
      if (signal?.aborted) done();
    });
  }
}
