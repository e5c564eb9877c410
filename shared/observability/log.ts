// logfmt lines on stdout (`time=… level=… msg=… key=value`), the side car's format,
// so one log query covers the per-minute line and everything else.

import { logfmt } from './publish-log';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, string | number>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** a preformatted line (the per-minute publish line) */
  line(text: string): void;
}

export function createLogger(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Logger {
  const emit = (level: Level, msg: string, fields?: Fields): void => {
    const time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    write(`time="${time}" level=${level} msg=${JSON.stringify(msg)}${fields ? ` ${logfmt(fields)}` : ''}`);
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    line: write,
  };
}

/** Logs the first occurrence of a key per window and counts the rest, so a bad sender cannot flood the log. */
export function throttled(logger: Logger, windowMs = 60_000): (key: string, level: 'warn' | 'error', msg: string, fields?: Fields) => void {
  const seen = new Map<string, { until: number; suppressed: number }>();
  return (key, level, msg, fields) => {
    const now = Date.now();
    const s = seen.get(key);
    if (s && now < s.until) {
      s.suppressed++;
      return;
    }
    const suppressed = s?.suppressed ?? 0;
    seen.set(key, { until: now + windowMs, suppressed: 0 });
    logger[level](msg, suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields);
  };
}
