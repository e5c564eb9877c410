// Bounded waits shared by the tests, the bench, the e2e run and the dev tools: one polling
// loop, so a timeout always names what was awaited (and the probe's last error).

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Thrown by a probe to end a wait at once (e.g. the process being waited for exited). */
export class WaitAborted extends Error {}

/**
 * Polls `probe` until it returns true; resolves with the milliseconds it took. A probe that
 * throws is tried again (a server still starting refuses connections) unless it throws
 * WaitAborted; after timeoutMs this throws naming `what` and the last error.
 */
export async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 250): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    try {
      if (await probe()) return Date.now() - started;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      last = (err as Error).message;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await sleep(intervalMs);
  }
}
