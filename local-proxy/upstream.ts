// Where a batch goes, behind one interface that returns a classified outcome:
// - relay mode: POST to the relay Function (x-functions-key and/or an Easy Auth bearer
//   token); its 503 + X-Relay-Failed-Endpoints becomes a 'partial' outcome, and a lane
//   retry carries X-Relay-Only-Endpoints.
// - direct mode: one ingestion endpoint, through the relay's own sendToEndpoint (same
//   classification, 413 splitting and 422-as-delivered) with a shared token source.
// The lanes (shipper.ts) decide what to do with each outcome; nothing here retries.

import {
  EXCEPT_ENDPOINTS_HEADER,
  FAILED_ENDPOINTS_HEADER,
  ONLY_ENDPOINTS_HEADER,
  STRAGGLER_TIMEOUT_HEADER,
  makePart,
  planParts,
} from '../shared/fanout/fanout';
import type { Endpoint } from '../shared/fanout/endpoints';
import { parseRetryAfter, sendToEndpoint } from '../shared/fanout/send';
import { TokenError, type TokenSource } from '../shared/identity/token-source';
import { decompress } from '../shared/remote-write/snappy';
import { VERSION } from '../shared/version';

export const FORWARDER_USER_AGENT = `prometheus-azure-relay-forwarder/${VERSION}`;

/** What to tell the operator when a retryable failure will not go away by itself. */
export type Hint = 'auth' | 'config';

export type UpstreamOutcome =
  | { kind: 'delivered'; status: number; bytes: number }
  | { kind: 'retry'; status?: number; reason: string; retryAfterSeconds?: number; hint?: Hint; bytes: number }
  /** 400: this data can never succeed */
  | { kind: 'rejected'; status: number; reason: string; bytes: number }
  /** 413 from the relay: split and resend */
  | { kind: 'too_large'; status: number; reason: string; bytes: number }
  /** relay: delivered except to these endpoints */
  | { kind: 'partial'; failed: string[]; reason: string; retryAfterSeconds?: number; bytes: number };

export interface UpstreamRequest {
  /** the WriteRequest as one snappy block: sent as it is */
  block: Buffer;
  /** the same block in pieces, when it was merged from several (written out without joining them) */
  parts?: readonly Buffer[];
  /** its uncompressed length */
  bytes: number;
  samples: number;
  /** relay mode: X-Relay-Only-Endpoints */
  onlyEndpoints?: string;
  /** relay mode: X-Relay-Except-Endpoints (workspaces that get this batch through their own lane) */
  exceptEndpoints?: string;
  /** relay mode: X-Relay-Straggler-Timeout, ms */
  stragglerTimeoutMs?: number;
}

export interface Upstream {
  /** for logs: a host, never a URL with keys or DCR ids */
  readonly host: string;
  send(req: UpstreamRequest, signal?: AbortSignal): Promise<UpstreamOutcome>;
}

export interface RelayUpstreamOptions {
  url: string;
  host: string;
  key?: string;
  tokens?: TokenSource;
  timeoutMs: number;
  userAgent?: string;
}

/** Endpoint ids as the relay makes them (shared/fanout/endpoints.ts); anything else is not a lane name. */
const ENDPOINT_ID = /^[0-9a-f]{10}$/;

export function createRelayUpstream(opts: RelayUpstreamOptions): Upstream {
  return {
    host: opts.host,
    async send(req, signal) {
      const body = req.block;
      const headers: Record<string, string> = {
        'Content-Encoding': 'snappy',
        'Content-Type': 'application/x-protobuf',
        'X-Prometheus-Remote-Write-Version': '0.1.0',
        'User-Agent': opts.userAgent ?? FORWARDER_USER_AGENT,
      };
      if (opts.key) headers['x-functions-key'] = opts.key;
      if (req.onlyEndpoints) headers[ONLY_ENDPOINTS_HEADER] = req.onlyEndpoints;
      if (req.exceptEndpoints) headers[EXCEPT_ENDPOINTS_HEADER] = req.exceptEndpoints;
      if (req.stragglerTimeoutMs) headers[STRAGGLER_TIMEOUT_HEADER] = String(Math.round(req.stragglerTimeoutMs));
      if (opts.tokens) {
        try {
          headers.Authorization = `Bearer ${await opts.tokens.getToken()}`;
        } catch (err) {
          if (!(err instanceof TokenError)) throw err;
          return { kind: 'retry', reason: err.message, hint: 'auth', bytes: 0 };
        }
      }
      const timeout = AbortSignal.timeout(opts.timeoutMs);
      let res: Response;
      try {
        res = await fetch(opts.url, { method: 'POST', headers, body, signal: signal ? AbortSignal.any([timeout, signal]) : timeout });
      } catch (err) {
        const reason = timeout.aborted ? `no answer within ${opts.timeoutMs} ms` : `network error: ${causeOf(err)}`;
        return { kind: 'retry', reason, bytes: body.length };
      }
      const text = await readReason(res);
      return classifyRelayAnswer(res.status, res.headers, text, body.length);
    },
  };
}

/** The relay's answer → outcome (exported for tests). */
export function classifyRelayAnswer(status: number, headers: Headers, text: string, bytes: number): UpstreamOutcome {
  const reason = `HTTP ${status}${text ? `: ${text}` : ''}`;
  const retryAfterSeconds = parseRetryAfter(headers.get('retry-after'));
  if ((status >= 200 && status < 300) || status === 422) return { kind: 'delivered', status, bytes };
  if (status === 400) return { kind: 'rejected', status, reason, bytes };
  if (status === 413) return { kind: 'too_large', status, reason, bytes };
  const failed = (headers.get(FAILED_ENDPOINTS_HEADER) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (status === 503 && failed.length > 0 && failed.every((id) => ENDPOINT_ID.test(id))) {
    return { kind: 'partial', failed, reason, retryAfterSeconds, bytes };
  }
  if (status === 401 || status === 403) return { kind: 'retry', status, reason, retryAfterSeconds, hint: 'auth', bytes };
  if (status === 429 || status >= 500) return { kind: 'retry', status, reason, retryAfterSeconds, bytes };
  // 404 (wrong URL), 405, 415 …: an operator can fix these without losing the data.
  return { kind: 'retry', status, reason, retryAfterSeconds, hint: 'config', bytes };
}

export interface DirectUpstreamOptions {
  endpoint: Endpoint;
  tokens?: TokenSource;
  timeoutMs: number;
  maxUpstreamBytes: number;
  userAgent?: string;
}

export function createDirectUpstream(opts: DirectUpstreamOptions): Upstream {
  return {
    host: opts.endpoint.host,
    async send(req) {
      let token: string | undefined;
      if (opts.tokens) {
        try {
          token = await opts.tokens.getToken();
        } catch (err) {
          if (!(err instanceof TokenError)) throw err;
          return { kind: 'retry', reason: err.message, hint: 'auth', bytes: 0 };
        }
      }
      // Within MAX_UPSTREAM_BYTES (the usual case) the batch's block goes as it is; only a
      // larger one, or one an endpoint answers 413 to, is decompressed and split.
      const parts = planParts(
        { raw: () => decompress(req.block), rawLength: req.bytes, original: req.parts ?? req.block, samples: req.samples },
        opts.maxUpstreamBytes,
      );
      const o = await sendToEndpoint(opts.endpoint, parts, {
        timeoutMs: opts.timeoutMs,
        token,
        userAgent: opts.userAgent ?? FORWARDER_USER_AGENT,
        makePart: (raw) => makePart(raw),
      });
      switch (o.kind) {
        case 'delivered':
          return { kind: 'delivered', status: 200, bytes: o.bytes };
        case 'rejected':
          return { kind: 'rejected', status: o.status, reason: o.reason, bytes: o.bytes };
        case 'retryable': {
          const hint: Hint | undefined = o.authProblem
            ? 'auth'
            : o.status !== undefined && o.status >= 400 && o.status < 500 && o.status !== 429
              ? 'config'
              : undefined;
          return { kind: 'retry', status: o.status, reason: o.reason, retryAfterSeconds: o.retryAfterSeconds, hint, bytes: o.bytes };
        }
      }
    },
  };
}

async function readReason(res: Response): Promise<string> {
  try {
    return (await res.text()).replace(/\s+/g, ' ').trim().slice(0, 300);
  } catch {
    return '';
  }
}

function causeOf(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; message?: string };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
