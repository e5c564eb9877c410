// The Prometheus HTTP query API as both stores (Prometheus, VictoriaMetrics) and the
// Prometheus sender serve it, and scraping /metrics pages.

import { type Labels, type MetricRow, parseMetricsText } from '../../dev/kit/metrics-text';
import { http } from './util';

export type { Labels };

export interface Sample {
  /** ms since epoch */
  t: number;
  /** as the API printed it ("1", "NaN", "1.5e+06" …) */
  v: string;
}

export interface RawSeries {
  labels: Labels;
  samples: Sample[];
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}

/** A native histogram as the query API prints it; each bucket is [boundary rule, lower, upper, count]. */
export interface ApiHistogram {
  count: string;
  sum: string;
  buckets?: [number, string, string, string][];
}

type QueryData =
  | { resultType: 'vector'; result: { metric: Labels; value?: [number, string]; histogram?: [number, ApiHistogram] }[] }
  | { resultType: 'matrix'; result: { metric: Labels; values?: [number, string][] }[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] };

/** Seconds with milliseconds, as the API takes them. */
export const apiTime = (ms: number): string => (ms / 1000).toFixed(3);

export class PromApi {
  constructor(
    readonly name: string,
    readonly base: string,
  ) {}

  /** POST by default; GET (parameters in the URL) for the endpoints that take only GET. */
  private async call<T>(path: string, params: Record<string, string | string[]>, timeoutMs = 60_000, method: 'GET' | 'POST' = 'POST'): Promise<T> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
    const res =
      method === 'GET'
        ? await http(`${this.base}${path}?${form.toString()}`, { timeoutMs })
        : await http(`${this.base}${path}`, { method, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), timeoutMs });
    let body: ApiAnswer<T>;
    try {
      body = JSON.parse(res.text) as ApiAnswer<T>;
    } catch {
      throw new Error(`${this.name} ${path}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
    }
    if (body.status !== 'success')
      throw new Error(`${this.name} ${path} ${JSON.stringify(params).slice(0, 200)}: ${body.errorType ?? ''} ${body.error ?? res.text.slice(0, 300)}`);
    return body.data;
  }

  /** Instant query → [labels, value] rows. */
  async vector(query: string, atMs: number): Promise<{ labels: Labels; value: number }[]> {
    const d = await this.call<QueryData>('/api/v1/query', { query, time: apiTime(atMs) });
    if (d.resultType !== 'vector') throw new Error(`${this.name}: ${query} gave ${d.resultType}, not a vector`);
    return d.result.map((r) => ({ labels: r.metric, value: Number(r.value?.[1]) }));
  }

  /**
   * Raw samples: an instant query of a range selector returns the stored samples themselves
   * (both Prometheus and VictoriaMetrics), never interpolated. Stale markers are not returned.
   */
  async raw(selector: string, windowSeconds: number, atMs: number): Promise<RawSeries[]> {
    const d = await this.call<QueryData>('/api/v1/query', { query: `${selector}[${Math.ceil(windowSeconds)}s]`, time: apiTime(atMs) }, 120_000);
    if (d.resultType !== 'matrix') throw new Error(`${this.name}: ${selector}[…] gave ${d.resultType}, not a matrix`);
    return d.result.map((r) => ({ labels: r.metric, samples: (r.values ?? []).map(([t, v]) => ({ t: Math.round(t * 1000), v })) }));
  }

  /**
   * The native histogram of each series at `atMs` (an instant query: Prometheus 2.42 prints
   * every point of a range selector's histograms as the last one read, so those cannot be used).
   */
  async histogramsAt(selector: string, atMs: number): Promise<{ labels: Labels; t: number; h: ApiHistogram }[]> {
    const d = await this.call<QueryData>('/api/v1/query', { query: selector, time: apiTime(atMs) });
    if (d.resultType !== 'vector') throw new Error(`${this.name}: ${selector} gave ${d.resultType}, not a vector`);
    return d.result.flatMap((r) => (r.histogram ? [{ labels: r.metric, t: Math.round(r.histogram[0] * 1000), h: r.histogram[1] }] : []));
  }

  /** Range query → series with their points (as Grafana renders a panel over [start, end]). */
  async matrix(query: string, startMs: number, endMs: number, stepS: number): Promise<{ labels: Labels; values: [number, string][] }[]> {
    const d = await this.call<QueryData>('/api/v1/query_range', { query, start: apiTime(startMs), end: apiTime(endMs), step: String(stepS) });
    if (d.resultType !== 'matrix') throw new Error(`${this.name}: ${query} over a range gave ${d.resultType}, not a matrix`);
    return d.result.map((r) => ({ labels: r.metric, values: r.values ?? [] }));
  }

  /** The values of one label over series matching `match` (Grafana's label_values()). */
  async labelValues(label: string, match: string, startMs: number, endMs: number): Promise<string[]> {
    return this.call<string[]>(
      `/api/v1/label/${encodeURIComponent(label)}/values`,
      { 'match[]': match, start: apiTime(startMs), end: apiTime(endMs) },
      30_000,
      'GET',
    );
  }

  async series(match: string, startMs: number, endMs: number): Promise<Labels[]> {
    return this.call<Labels[]>('/api/v1/series', { 'match[]': match, start: apiTime(startMs), end: apiTime(endMs) }, 60_000);
  }
}

export async function scrapeMetrics(url: string): Promise<MetricRow[]> {
  const res = await http(url, { timeoutMs: 5000 });
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return parseMetricsText(res.text);
}

/** Canonical key of a label set (order-independent). */
export function seriesKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}
