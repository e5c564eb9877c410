// Sends one payload to one ingestion endpoint and classifies the outcome, the way
// Prometheus's queue manager does: delivered, retryable (network, timeout, 5xx, 429,
// and 401/403/404 which are configuration that an operator can fix without data
// loss), or rejected (400: the data can never succeed). 422 (duplicate series, e.g.
// after a retry) counts as delivered. 413 splits the part and sends the halves.

import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Endpoint } from './endpoints';
import { splitInHalf } from './split';

export type EndpointOutcome =
  | { kind: 'delivered'; endpoint: Endpoint; requests: number; bytes: number; samples: number; duplicates: number }
  | {
      kind: 'retryable';
      endpoint: Endpoint;
      status?: number;
      reason: string;
      retryAfterSeconds?: number;
      authProblem: boolean;
      requests: number;
      bytes: number;
    }
  | { kind: 'rejected'; endpoint: Endpoint; status: number; reason: string; requests: number; bytes: number };

/** One outbound WriteRequest: raw bytes, compressed once and shared by every endpoint. */
/** A request body: one buffer, or pieces written one after another (a vectored write, no copy). */
export type Body = Buffer | readonly Buffer[];

export function bodyLength(body: Body): number {
  if (Buffer.isBuffer(body)) return body.length;
  let n = 0;
  for (const b of body) n += b.length;
  return n;
}

export interface Part {
  raw: Buffer;
  samples: number;
  compressed(): Body;
}

export interface SendOptions {
  timeoutMs: number;
  token?: string;
  userAgent: string;
  /** builds a Part for a sub-slice (used when an endpoint answers 413) */
  makePart(raw: Buffer): Part;
  /**
   * Cuts the send off early (the fan-out's straggler timeout): the request in flight is
   * destroyed and the outcome is retryable, with the signal's reason (an Error) as its reason.
   */
  signal?: AbortSignal;
}

const MAX_REASON = 300;
/** Bytes of an error answer kept for its reason; the rest is read and dropped. */
const MAX_REASON_BYTES = 4096;

// node:http(s) with keep-alive agents rather than fetch(): fetch (undici) cost ~4× the
// CPU per request on this path (~700 vs ~180 CPU-µs for a 60 KB POST, bench/README.md),
// and the relay sends one request per endpoint per write.
const httpAgent = new HttpAgent({ keepAlive: true, keepAliveMsecs: 10_000 });
const httpsAgent = new HttpsAgent({ keepAlive: true, keepAliveMsecs: 10_000 });

interface Target {
  https: boolean;
  hostname: string;
  port: number | undefined;
  path: string;
}

const targets = new Map<string, Target>();

/** The endpoint URL taken apart once, not on every request. */
function targetOf(raw: string): Target {
  let t = targets.get(raw);
  if (t === undefined) {
    const u = new URL(raw);
    t = {
      https: u.protocol === 'https:',
      hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
      port: u.port === '' ? undefined : Number(u.port),
      path: `${u.pathname}${u.search}`,
    };
    if (targets.size > 1000) targets.clear();
    targets.set(raw, t);
  }
  return t;
}

interface Answer {
  status: number;
  text: string;
  retryAfter: string | null;
}

class RequestTimeout extends Error {}

/** Why a send was cut off by its signal. */
class CutOff extends Error {}

/**
 * One POST; rejects with RequestTimeout at `deadline`, with CutOff when `signal` aborts,
 * or with the network error. It settles only once the socket is done with `body`
 * (written, or the request destroyed and closed): the caller may reuse the buffer as soon
 * as it has the answer (shared/buffers/pool.ts).
 */
function post(target: Target, headers: Record<string, string>, body: Body, deadline: number, signal?: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const wait = deadline - Date.now();
    if (wait <= 0) {
      reject(new RequestTimeout());
      return;
    }
    if (signal?.aborted) {
      reject(cutOffError(signal));
      return;
    }
    let settled = false;
    // set once we destroy the request ourselves: it settles with this on 'close'
    let cut: Error | undefined;
    const req = (target.https ? httpsRequest : httpRequest)({
      method: 'POST',
      hostname: target.hostname,
      port: target.port,
      path: target.path,
      agent: target.https ? httpsAgent : httpAgent,
      headers,
    });
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    let answered: Answer | undefined;
    // Destroys the request and settles once it has closed: from then on nothing reads the
    // body. An answer that came before the body was all written stands.
    const cutOff = (err: Error): void => {
      if (settled || cut) return;
      cut = err;
      clearTimeout(timer);
      req.destroy();
    };
    const timer = setTimeout(() => cutOff(new RequestTimeout()), wait);
    const onAbort = (): void => cutOff(cutOffError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => {
      const err = cut;
      if (err) settle(() => (answered ? resolve(answered) : reject(err)));
    });
    const fail = (err: Error): void => {
      if (cut) return; // the error our own destroy() caused: 'close' settles
      settle(() => (answered ? resolve(answered) : reject(Object.assign(err, { reusedSocket: req.reusedSocket }))));
    };
    req.on('error', fail);
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const ok = (status >= 200 && status < 300) || status === 422;
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (ok || kept >= MAX_REASON_BYTES) return; // success bodies are not read, only drained
        chunks.push(chunk);
        kept += chunk.length;
      });
      const finish = (): void => {
        if (settled || answered) return;
        const ra = res.headers['retry-after'];
        const answer: Answer = {
          status,
          text: chunks.length === 0 ? '' : Buffer.concat(chunks).toString('utf8', 0, Math.min(kept, MAX_REASON_BYTES)),
          retryAfter: ra ?? null,
        };
        if (req.writableFinished || req.destroyed) {
          settle(() => resolve(answer));
          return;
        }
        // answered before the body was all written (an early 4xx): wait until it is, or the request is gone
        answered = answer;
        const done = (): void => settle(() => resolve(answer));
        req.once('finish', done);
        req.once('close', done);
      };
      res.on('error', fail);
      res.on('end', finish);
      // a connection lost mid-answer closes without 'end' (and, depending on timing, without 'error')
      res.on('close', () => {
        if (res.complete) finish();
        else fail(Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' }));
      });
    });
    if (Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    // pieces of one body: corked, so they leave in one vectored write with the headers
    req.cork();
    for (const b of body) if (b.length > 0) req.write(b);
    req.end();
    req.uncork();
  });
}

function cutOffError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return new CutOff(r instanceof Error ? r.message : String(r));
}

export async function sendToEndpoint(endpoint: Endpoint, parts: readonly Part[], opts: SendOptions): Promise<EndpointOutcome> {
  const deadline = Date.now() + opts.timeoutMs;
  const target = targetOf(endpoint.url);
  const queue = [...parts];
  let requests = 0;
  let bytes = 0;
  let samples = 0;
  let duplicates = 0;
  // Parts go in order, one at a time, so samples of a series keep their order.
  while (queue.length > 0) {
    const part = queue.shift()!;
    const body = part.compressed();
    const length = bodyLength(body);
    const headers: Record<string, string> = {
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'x-prometheus-remote-write-version': '0.1.0',
      'user-agent': opts.userAgent,
      'content-length': String(length),
    };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let res: Answer;
    requests++;
    try {
      try {
        res = await post(target, headers, body, deadline, opts.signal);
      } catch (err) {
        // A kept-alive connection the server closed just as we reused it: the request
        // never reached it, so send once more on a fresh connection.
        const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
        if (!e.reusedSocket || (e.code !== 'ECONNRESET' && e.code !== 'EPIPE')) throw err;
        res = await post(target, headers, body, deadline, opts.signal);
      }
    } catch (err) {
      const reason =
        err instanceof RequestTimeout ? `no answer within ${opts.timeoutMs} ms` : err instanceof CutOff ? err.message : `network error: ${causeOf(err)}`;
      return { kind: 'retryable', endpoint, reason, authProblem: false, requests, bytes };
    }
    const status = res.status;
    const text = res.text.replace(/\s+/g, ' ').trim().slice(0, MAX_REASON);
    if (status >= 200 && status < 300) {
      bytes += length;
      samples += part.samples;
      continue;
    }
    if (status === 422) {
      // Azure Monitor: duplicate time series — the endpoint already has this data.
      bytes += length;
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
      retryAfterSeconds: parseRetryAfter(res.retryAfter),
      authProblem,
      requests,
      bytes,
    };
  }
  return { kind: 'delivered', endpoint, requests, bytes, samples, duplicates };
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
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  return e.code ?? e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
