// Small statistics and formatting helpers shared by the bench sections.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** min..max as a compact spread string */
export function spread(xs: readonly number[], digits = 2): string {
  if (xs.length === 0) return '';
  return `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;
}

export function fmt(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '—';
  return x.toFixed(digits);
}

/** 1234567 → "1.23 M" */
export function si(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(digits)} G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(digits)} M`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(digits)} k`;
  return x.toFixed(digits);
}

/** CPU seconds (user + system) this process used since `since`. */
export function cpuSecondsSince(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

export { sleep } from '../../dev/kit/wait';
