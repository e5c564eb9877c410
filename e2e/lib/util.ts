// Small helpers of the end-to-end test: HTTP with timeouts, number formats. Waits and free
// ports are in dev/kit/.

/** fetch with a deadline; the body is read as text. */
export async function http(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const { timeoutMs = 15_000, ...rest } = init;
  const res = await fetch(url, { ...rest, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

export async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await http(url, { timeoutMs: 2000 });
    return r.status >= 200 && r.status < 300;
  } catch {
    return false;
  }
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
