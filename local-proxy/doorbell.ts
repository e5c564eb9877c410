// A wake-up for async loops: wait() resolves at the next ring(), after ms, or on abort,
// whichever comes first. The spool rings it on new data; a lane's reader and shards ring
// each other on queued shares and settled calls.

export class Doorbell {
  private waiters = new Set<() => void>();

  ring(): void {
    for (const w of [...this.waiters]) w();
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      if (signal?.aborted) done();
    });
  }
}
