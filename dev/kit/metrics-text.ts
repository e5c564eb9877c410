// Reading what a /metrics endpoint serves (Prometheus text exposition format), enough of it
// for counters and gauges: the relay's and forwarder's own metrics, node-exporter, vmagent.

export type Labels = Record<string, string>;

export interface MetricRow {
  name: string;
  labels: Labels;
  value: number;
}

export function parseMetricsText(text: string): MetricRow[] {
  const rows: MetricRow[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    rows.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return rows;
}

/** Sum of a metric's rows whose labels include `where`; undefined when there is no such row. */
export function sumMetric(rows: readonly MetricRow[], name: string, where: Labels = {}): number | undefined {
  let found = false;
  let sum = 0;
  for (const r of rows) {
    if (r.name !== name) continue;
    if (!Object.entries(where).every(([k, v]) => r.labels[k] === v)) continue;
    found = true;
    sum += r.value;
  }
  return found ? sum : undefined;
}

/** Sum of a metric's samples in `text` whose labels include `where`; 0 when there is none. */
export function metricValue(text: string, name: string, where: Labels = {}): number {
  return sumMetric(parseMetricsText(text), name, where) ?? 0;
}
