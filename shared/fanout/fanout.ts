// Sends one WriteRequest to several endpoints in parallel and turns the per-endpoint
// outcomes into one answer for the sender:
//   all delivered                → 204
//   any retryable failure        → 503 + the largest Retry-After + X-Relay-Failed-Endpoints
//   otherwise any rejected (400) → 400 with the endpoint's reason
// A sender that echoes X-Relay-Failed-Endpoints back as X-Relay-Only-Endpoints on its
// retry reaches only the endpoints that failed (docs/partial-failure.md).

import { compress } from '../remote-write/snappy';
import { countSamples } from '../remote-write/count';
import type { Endpoint } from './endpoints';
import { type EndpointOutcome, type Part, sendToEndpoint } from './send';
import { splitBySize } from './split';

export const FAILED_ENDPOINTS_HEADER = 'x-relay-failed-endpoints';
export const ONLY_ENDPOINTS_HEADER = 'x-relay-only-endpoints';

export interface FanoutRequest {
  /** uncompressed WriteRequest, or how to get it: only splitting needs it when `original` is given */
  raw: Buffer | (() => Buffer);
  /** its length, when raw is given as a function */
  rawLength?: number;
  /** the sender's compressed bytes when raw is unchanged: forwarded as they came */
  original?: Buffer;
  samples: number;
}

export interface FanoutOptions {
  maxUpstreamBytes: number;
  timeoutMs: number;
  userAgent: string;
  /** bearer token, or undefined to send none (IDENTITY_TYPE=none) */
  token?: string;
}

export interface FanoutAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function makePart(raw: Buffer | (() => Buffer), samples?: number, original?: Buffer): Part {
  let bytes = typeof raw === 'function' ? undefined : raw;
  // decompressed only if an endpoint's 413 makes the part split (the fast path keeps no copy)
  const rawOf = (): Buffer => (bytes ??= (raw as () => Buffer)());
  let compressed = original;
  return {
    get raw() {
      return rawOf();
    },
    samples: samples ?? countSamples(rawOf()),
    compressed: () => (compressed ??= compress(rawOf())),
  };
}

/** Parts for one fan-out: the original bytes when possible, else one compression per part. */
export function planParts(req: FanoutRequest, maxUpstreamBytes: number): Part[] {
  const size = typeof req.raw === 'function' ? (req.rawLength ?? req.raw().length) : req.raw.length;
  if (size <= maxUpstreamBytes) return [makePart(req.raw, req.samples, req.original)];
  return splitBySize(typeof req.raw === 'function' ? req.raw() : req.raw, maxUpstreamBytes).map((p) => makePart(p));
}

export async function fanout(endpoints: readonly Endpoint[], req: FanoutRequest, opts: FanoutOptions): Promise<EndpointOutcome[]> {
  const parts = planParts(req, opts.maxUpstreamBytes);
  const sendOpts = { timeoutMs: opts.timeoutMs, token: opts.token, userAgent: opts.userAgent, makePart: (raw: Buffer) => makePart(raw) };
  return Promise.all(endpoints.map((e) => sendToEndpoint(e, parts, sendOpts)));
}

export function answerFor(outcomes: readonly EndpointOutcome[]): FanoutAnswer {
  const retryable = outcomes.filter((o) => o.kind === 'retryable');
  if (retryable.length > 0) {
    const retryAfter = Math.max(-1, ...retryable.map((o) => o.retryAfterSeconds ?? -1));
    const headers: Record<string, string> = { [FAILED_ENDPOINTS_HEADER]: retryable.map((o) => o.endpoint.id).join(',') };
    if (retryAfter >= 0) headers['retry-after'] = String(retryAfter);
    const delivered = outcomes.length - retryable.length;
    return {
      status: 503,
      headers,
      body: `${retryable.length} of ${outcomes.length} endpoints failed, retry (${delivered} delivered): ${retryable.map((o) => `${o.endpoint.host} ${o.reason}`).join('; ')}`,
    };
  }
  const rejected = outcomes.find((o) => o.kind === 'rejected');
  if (rejected) return { status: 400, headers: {}, body: `rejected by ${rejected.endpoint.host}: ${rejected.reason}` };
  return { status: 204, headers: {}, body: '' };
}

/** Endpoints named by X-Relay-Only-Endpoints; all of them when absent or none match. */
export function selectEndpoints(all: readonly Endpoint[], only: string | null | undefined): readonly Endpoint[] {
  if (!only) return all;
  const ids = new Set(only.split(',').map((s) => s.trim()).filter(Boolean));
  const chosen = all.filter((e) => ids.has(e.id));
  // Unknown ids (configuration changed between attempts): deliver everywhere rather
  // than nowhere; endpoints that already have the data answer 422, counted as delivered.
  return chosen.length > 0 ? chosen : all;
}
