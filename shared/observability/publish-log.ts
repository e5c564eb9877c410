// The side car's per-minute line, with its exact wording and field names, so existing
// dashboards and log queries keep working:
//   time="…" level=info msg="Metric packets published in last 1 minute" avgBytesPerRequest=19809
//   avgRequestDuration=0.1715 failedPublishingToAll=0 successfullyPublishedToAll=112 successfullyPublishedToSome=0
// Extra fields (e.g. spool depth) may follow.

export type PublishResult = 'all' | 'some' | 'none';

export interface PublishLog {
  /** one fanned-out request: bytes sent, seconds taken, how many endpoints took it */
  record(bytes: number, seconds: number, result: PublishResult): void;
  /** the line for the interval so far, and a reset */
  flush(): string;
  /** more fields for every line from now on (read, and reset by the provider, once per line) */
  addFields(fields: () => Record<string, number | string>): void;
  stop(): void;
}

export interface PublishLogOptions {
  intervalMs: number;
  write: (line: string) => void;
  extraFields?: () => Record<string, number | string>;
  now?: () => Date;
}

export function createPublishLog(opts: PublishLogOptions): PublishLog {
  let requests = 0;
  let bytes = 0;
  let seconds = 0;
  let all = 0;
  let some = 0;
  let none = 0;
  const now = opts.now ?? (() => new Date());
  const extra = opts.extraFields ? [opts.extraFields] : [];

  const flush = (): string => {
    const fields: Record<string, number | string> = {
      avgBytesPerRequest: requests ? Math.round(bytes / requests) : 0,
      avgRequestDuration: requests ? seconds / requests : 0,
      failedPublishingToAll: none,
      successfullyPublishedToAll: all,
      successfullyPublishedToSome: some,
    };
    for (const f of extra) Object.assign(fields, f());
    requests = bytes = seconds = all = some = none = 0;
    const time = now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    return `time="${time}" level=info msg="Metric packets published in last 1 minute" ${logfmt(fields)}`;
  };

  const timer = setInterval(() => opts.write(flush()), opts.intervalMs);
  timer.unref();

  return {
    record(b, s, result) {
      requests++;
      bytes += b;
      seconds += s;
      if (result === 'all') all++;
      else if (result === 'some') some++;
      else none++;
    },
    flush,
    addFields: (f) => {
      extra.push(f);
    },
    stop: () => clearInterval(timer),
  };
}

export function logfmt(fields: Record<string, number | string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'number' || /^[\w.:/-]+$/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
}
