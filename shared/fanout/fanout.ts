// Sends one WriteRequest to several endpoints in parallel and turns the per-endpoint
// outcomes into one answer for the sender:
//   all delivered                → 204
//   any retryable failure        → 503 + the largest Retry-After + X-Relay-Failed-Endpoints
//   otherwise any rejected (400) → 400 with the endpoint's reason
// A sender that echoes X-Relay-Failed-Endpoints back as X-Relay-Only-Endpoints on its
// retry reaches only the endpoints that failed; X-Relay-Except-Endpoints leaves endpoints
// out, and X-Relay-Straggler-Timeout stops waiting for slow endpoints once another has
// delivered (docs/relay.md, "The targeted retry").

import { HttpError } from '../errors';
import { compress } from '../remote-write/snappy';
import { countSamples } from '../remote-write/count';
import type { Endpoint } from './endpoints';
import { type Body, type EndpointOutcome, type Part, sendToEndpoint } from './send';
import { splitBySize } from './split';
import type { WriteAnswer } from '../intake/admit';

export const FAILED_ENDPOINTS_HEADER = 'x-relay-failed-endpoints';
export const ONLY_ENDPOINTS_HEADER = 'x-relay-only-endpoints';
export const EXCEPT_ENDPOINTS_HEADER = 'x-relay-except-endpoints';
export const STRAGGLER_TIMEOUT_HEADER = 'x-relay-straggler-timeout';

export interface FanoutRequest {
  /** uncompressed WriteRequest, or how to get it: only splitting needs it when `original` is given */
  raw: Buffer | (() => Buffer);
  /** its length, when raw is given as a function */
  rawLength?: number;
  /** the sender's compressed bytes when raw is unchanged: forwarded as they came (in pieces, as a merged batch may be) */
  original?: Body;
  samples: number;
}

export interface FanoutOptions {
  maxUpstreamBytes: number;
  timeoutMs: number;
  userAgent: string;
  /** bearer token, or undefined to send none (IDENTITY_TYPE=none) */
  token?: string;
  /**
   * Once one endpoint has delivered, how long the others still in flight get before their
   * sends are cut off as retryable failures (X-Relay-Straggler-Timeout); undefined: no limit
   * but timeoutMs.
   */
  stragglerTimeoutMs?: number;
}

export function makePart(raw: Buffer | (() => Buffer), samples?: number, original?: Body): Part {
  let bytes = typeof raw === 'function' ? undefined : raw;
  // decompressed only if an endpoint's 413 makes the part split (the fast path keeps no copy)
  const rawOf = (): Buffer => (bytes ??= (raw as () => Buffer)());
  let compressed: Body | undefined = original;
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
  const straggler = opts.stragglerTimeoutMs;
  if (straggler === undefined || endpoints.length < 2) return Promise.all(endpoints.map((e) => sendToEndpoint(e, parts, sendOpts)));
  // The first delivery starts the clock for the rest. A cut-off send settles only once its
  // request is destroyed and closed, so Promise.all still means "no socket reads the body".
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onDelivered = (o: EndpointOutcome): EndpointOutcome => {
    if (o.kind === 'delivered' && timer === undefined) {
      timer = setTimeout(() => stop.abort(new Error(`no answer within ${straggler} ms after the other endpoints delivered`)), straggler);
    }
    return o;
  };
  try {
    return await Promise.all(endpoints.map((e) => sendToEndpoint(e, parts, { ...sendOpts, signal: stop.signal }).then(onDelivered)));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * X-Relay-Straggler-Timeout in ms, capped at maxMs; undefined when absent. Anything but a
 * positive integer is the caller's mistake: 400, naming the header.
 */
export function parseStragglerTimeout(value: string | null | undefined, maxMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  const ms = /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
  if (!(ms > 0)) {
    throw new HttpError(400, 'bad_header', `X-Relay-Straggler-Timeout "${v.slice(0, 40)}" is not a positive integer of milliseconds`);
  }
  return Math.min(ms, maxMs);
}

export function answerFor(outcomes: readonly EndpointOutcome[]): WriteAnswer {
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

/**
 * Endpoints named by X-Relay-Only-Endpoints (all of them when absent or none match), less
 * those named by X-Relay-Except-Endpoints. May be empty: the caller sends nowhere.
 */
export function selectEndpoints(all: readonly Endpoint[], only: string | null | undefined, except?: string | null): readonly Endpoint[] {
  let chosen = all;
  if (only) {
    const ids = idSet(only);
    const named = all.filter((e) => ids.has(e.id));
    // Unknown ids (configuration changed between attempts): deliver everywhere rather
    // than nowhere; endpoints that already have the data answer 422, counted as delivered.
    if (named.length > 0) chosen = named;
  }
  if (except) {
    // the sender delivers to these another way (a forwarder's parked lane); unknown ids mean nothing
    const ids = idSet(except);
    chosen = chosen.filter((e) => !ids.has(e.id));
  }
  return chosen;
}

function idSet(header: string): Set<string> {
  return new Set(
    header
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}
