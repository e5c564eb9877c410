// Sends one payload to one ingestion endpoint and classifies the outcome, the way
// Prometheus's queue manager does: delivered, retryable (network, timeout, 5xx, 429,
// and 401/403/404 which are configuration that an operator can fix without data
// loss), or rejected (400: the data can never succeed). 422 (duplicate series, e.g.
// after a retry) counts as delivered. 413 splits the part and sends the halves.

import type { Endpoint } from './endpoints';
import { splitInHalf } from './split';

export type EndpointOutcome =
  | { kind: 'delivered'; endpoint: Endpoint; requests: number; bytes: number; samples: number; duplicates: number }
  | { kind: 'retryable'; endpoint: Endpoint; status?: number; reason: string; retryAfterSeconds?: number; authProblem: boolean; requests: number; bytes: number }
  | { kind: 'rejected'; endpoint: Endpoint; status: number; reason: string; requests: number; bytes: number };

/** One outbound WriteRequest: raw bytes, compressed once and shared by every endpoint. */
export interface Part {
  raw: Buffer;
  samples: number;
  compressed(): Buffer;
}

export interface SendOptions {
  timeoutMs: number;
  token?: string;
  userAgent: string;
  /** builds a Part for a sub-slice (used when an endpoint answers 413) */
  makePart(raw: Buffer): Part;
}

const MAX_REASON = 300;

export async function sendToEndpoint(endpoint: Endpoint, parts: readonly Part[], opts: SendOptions): Promise<EndpointOutcome> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const queue = [...parts];
  let requests = 0;
  let bytes = 0;
  let samples = 0;
  let duplicates = 0;
  // Parts go in order, one at a time, so samples of a series keep their order.
  while (queue.length > 0) {
    const part = queue.shift()!;
    const body = part.compressed();
    let res: Response;
    requests++;
    try {
      res = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'Content-Encoding': 'snappy',
          'Content-Type': 'application/x-protobuf',
          'X-Prometheus-Remote-Write-Version': '0.1.0',
          'User-Agent': opts.userAgent,
          ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
        },
        body,
        signal,
      });
    } catch (err) {
      const reason = signal.aborted ? `no answer within ${opts.timeoutMs} ms` : `network error: ${causeOf(err)}`;
      return { kind: 'retryable', endpoint, reason, authProblem: false, requests, bytes };
    }
    const text = await readReason(res);
    const status = res.status;
    if (status >= 200 && status < 300) {
      bytes += body.length;
      samples += part.samples;
      continue;
    }
    if (status === 422) {
      // Azure Monitor: duplicate time series — the endpoint already has this data.
      bytes += body.length;
      samples += part.samples;
      duplicates++;
      continue;
    }
    if (status === 413) {
      const halves = splitInHalf(part.raw);
      if (halves.length === 2) {
        queue.unshift(...halves.map((h) => opts.makePart(h)));
        continue;
      }
      return { kind: 'rejected', endpoint, status, reason: `a single series is too large for the endpoint (413)${text ? `: ${text}` : ''}`, requests, bytes };
    }
    if (status === 400) {
      return { kind: 'rejected', endpoint, status, reason: text || 'rejected as invalid (400)', requests, bytes };
    }
    const authProblem = status === 401 || status === 403;
    return {
      kind: 'retryable',
      endpoint,
      status,
      reason: `HTTP ${status}${text ? `: ${text}` : ''}`,
      retryAfterSeconds: parseRetryAfter(res.headers.get('retry-after')),
      authProblem,
      requests,
      bytes,
    };
  }
  return { kind: 'delivered', endpoint, requests, bytes, samples, duplicates };
}

async function readReason(res: Response): Promise<string> {
  try {
    const text = await res.text();
    return text.replace(/\s+/g, ' ').trim().slice(0, MAX_REASON);
  } catch {
    return '';
  }
}

/** Retry-After in seconds (delta-seconds or HTTP-date), undefined if absent or invalid. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function causeOf(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; message?: string };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
