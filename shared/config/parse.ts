// Parsers for setting values. Each returns the value or throws a ConfigProblem whose
// message says what is wrong; the loader collects them into one start-up error.

export class ConfigProblem extends Error {
  override readonly name = 'ConfigProblem';
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** Plain bytes or KiB/MiB/GiB: "33554432", "32MiB", "1.5GiB". */
export function parseSize(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigProblem(`"${raw}" is not a size: use bytes or a number with KiB, MiB or GiB (e.g. 32MiB)`);
  const bytes = Math.floor(Number(m[1]) * unit);
  // Every size setting is a limit: zero would refuse (or endlessly split) everything.
  if (bytes < 1) throw new ConfigProblem(`"${raw}" is less than one byte: use bytes or a number with KiB, MiB or GiB (e.g. 32MiB)`);
  return bytes;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Prometheus-style durations: "500ms", "30s", "2m", "1h30m" (and a bare "0"); returns milliseconds. */
export function parseDuration(raw: string): number {
  const s = raw.trim();
  if (s === '0') return 0;
  if (!/^(\d+(ms|s|m|h|d))+$/.test(s)) throw new ConfigProblem(`"${raw}" is not a duration: use e.g. 500ms, 30s, 2m, 1h30m`);
  let total = 0;
  for (const part of s.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(part[1]) * DURATION_UNITS[part[2]];
  return total;
}

/** parseDuration for intervals and timeouts, where zero is a mistake (a 0 ms timeout fails every request). */
export function parsePositiveDuration(raw: string): number {
  const ms = parseDuration(raw);
  if (ms <= 0) throw new ConfigProblem(`"${raw}" must be longer than zero: use e.g. 500ms, 30s, 2m, 1h30m`);
  return ms;
}

export function parsePositiveInt(raw: string): number {
  if (!/^\s*\d+\s*$/.test(raw) || Number(raw) <= 0) throw new ConfigProblem(`"${raw}" is not a positive whole number`);
  return Number(raw);
}

export function parseBool(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigProblem(`"${raw}" is not a boolean: use true or false`);
}

export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n}`;
}
