// Emulates an Azure Monitor workspace's metrics ingestion endpoint: a remote-write 1.0
// receiver that checks the bearer token (issued by the identity emulator), decodes what
// it receives bit-exact, keeps it in memory for inspection, and answers like Azure:
// 200 on success, 401/403 for token problems, 422 when every sample was a duplicate.
// Faults can be injected (status, Retry-After, delay) to test the relay's retry paths.
//
// Proxy mode (`forwardTo`, used by the end-to-end test): after the same token, header and
// fault checks, the body goes unchanged to a real store's remote-write receiver
// (VictoriaMetrics, Prometheus --web.enable-remote-write-receiver) and its answer comes
// back: 2xx → 200 as Azure answers, 4xx/5xx passed through, no answer → 502. Nothing is
// decoded into memory then; `requests` still records every POST (samples counted).
//
// Inspect: GET /emulator/summary, GET /emulator/series?match=<metric>

import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uncompressSync } from 'snappy';
import { countSamples } from '../../shared/remote-write/count';
import { decodeWriteRequest } from '../../shared/remote-write/decode';
import { type Float64Bits, type Label, type MetricMetadata, isStaleMarker } from '../../shared/remote-write/types';
import { verifyToken } from './emulator-token';

export const INGESTION_PATH = '/dataCollectionRules/dcr-emulated/streams/Microsoft-PrometheusMetrics/api/v1/write';

export interface Fault {
  status: number;
  retryAfterSeconds?: number;
  /** answer this many requests with the fault, then recover */
  times?: number;
  /** or until this epoch ms */
  untilMs?: number;
  /** wait before answering (also applies with status 0 = answer normally, slowly) */
  delayMs?: number;
  body?: string;
}

export interface StoredSeries {
  labels: Label[];
  samples: Map<bigint, Float64Bits>;
  histograms: number;
  exemplars: number;
}

export interface WorkspaceEmulatorOptions {
  /** key shared with the identity emulator; undefined: no token check (IDENTITY_TYPE=none) */
  key?: Buffer;
  /** expected token resource, e.g. https://monitor.azure.com */
  audience?: string;
  port?: number;
  name?: string;
  /**
   * Proxy mode: a real store's remote-write URL (e.g. http://127.0.0.1:8428/api/v1/write).
   * Accepted requests are forwarded there instead of being kept in memory.
   */
  forwardTo?: string;
  /** proxy mode: longest wait for the store's answer (default 30 s); then 504 */
  forwardTimeoutMs?: number;
}

export interface WorkspaceEmulator {
  server: Server;
  name: string;
  /** full ingestion URL, for INGESTION_URL */
  url: string;
  series: Map<string, StoredSeries>;
  metadata: Map<string, MetricMetadata>;
  /** every POST received, with its outcome */
  requests: { status: number; bytes: number; sha256: string; samples: number; userAgent?: string; auth?: string }[];
  fault?: Fault;
  summary(): WorkspaceSummary;
  close(): Promise<void>;
}

export interface WorkspaceSummary {
  name: string;
  requests: number;
  accepted: number;
  series: number;
  samples: number;
  staleMarkers: number;
  histograms: number;
  exemplars: number;
  metadata: number;
}

export function seriesKey(labels: readonly Label[]): string {
  return labels
    .map((l) => `${l.name}=${JSON.stringify(l.value)}`)
    .sort()
    .join(',');
}

export async function startWorkspaceEmulator(opts: WorkspaceEmulatorOptions = {}): Promise<WorkspaceEmulator> {
  const emu: WorkspaceEmulator = {
    server: undefined as unknown as Server,
    name: opts.name ?? 'workspace',
    url: '',
    series: new Map(),
    metadata: new Map(),
    requests: [],
    summary: () => summarize(emu),
    close: () => new Promise((ok) => {
      emu.server.close(() => ok());
      emu.server.closeAllConnections();
    }),
  };

  emu.server = createServer((req, res) => {
    void handle(emu, opts, req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(err.message);
    });
  });
  await new Promise<void>((ok) => emu.server.listen(opts.port ?? 0, '127.0.0.1', ok));
  emu.url = `http://127.0.0.1:${(emu.server.address() as AddressInfo).port}${INGESTION_PATH}?api-version=2023-04-24`;
  return emu;
}

async function handle(emu: WorkspaceEmulator, opts: WorkspaceEmulatorOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const send = (status: number, body = '', headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(body);
  };
  if (req.method === 'GET' && url.pathname === '/emulator/summary') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return void res.end(JSON.stringify(emu.summary(), null, 2));
  }
  if (req.method === 'GET' && url.pathname === '/emulator/series') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return void res.end(JSON.stringify(listSeries(emu, url.searchParams.get('match') ?? undefined), null, 2));
  }
  if (req.method !== 'POST' || url.pathname !== INGESTION_PATH) return send(404, 'not an ingestion endpoint');

  const body = await readBody(req, 64 * 1024 * 1024);
  const record = { status: 0, bytes: body?.length ?? 0, sha256: body ? createHash('sha256').update(body).digest('hex') : '', samples: 0, userAgent: req.headers['user-agent'], auth: req.headers.authorization };
  emu.requests.push(record);
  const answer = (status: number, text = '', headers: Record<string, string> = {}): void => {
    record.status = status;
    send(status, text, headers);
  };

  const fault = activeFault(emu);
  if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
  if (fault && fault.status > 0) {
    return answer(fault.status, fault.body ?? `emulated fault ${fault.status}`, fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {});
  }
  if (!body) return answer(413, 'request too large');
  if (opts.key) {
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ')) return answer(401, 'missing bearer token');
    const check = verifyToken(auth.slice(7), opts.key, opts.audience ?? 'https://monitor.azure.com');
    if (!check.ok) return answer(check.status, check.reason);
  }
  if (req.headers['content-encoding'] !== 'snappy' || !String(req.headers['content-type']).startsWith('application/x-protobuf')) {
    return answer(415, 'need Content-Encoding: snappy and Content-Type: application/x-protobuf');
  }
  if (opts.forwardTo) {
    const forwarded = await forward(opts.forwardTo, body, req, opts.forwardTimeoutMs ?? 30_000);
    record.samples = forwarded.samples;
    return answer(forwarded.status, forwarded.text);
  }
  let decoded;
  try {
    decoded = decodeWriteRequest(uncompressSync(body, { asBuffer: true }) as Buffer);
  } catch (err) {
    return answer(400, `cannot decode: ${(err as Error).message}`);
  }
  let fresh = 0;
  let total = 0;
  for (const ts of decoded.timeseries) {
    const key = seriesKey(ts.labels);
    let s = emu.series.get(key);
    if (!s) {
      s = { labels: ts.labels, samples: new Map(), histograms: 0, exemplars: 0 };
      emu.series.set(key, s);
    }
    for (const sample of ts.samples) {
      total++;
      if (!s.samples.has(sample.timestamp)) fresh++;
      s.samples.set(sample.timestamp, sample.value);
    }
    s.histograms += ts.histograms.length;
    s.exemplars += ts.exemplars.length;
  }
  for (const m of decoded.metadata) emu.metadata.set(m.metricFamilyName, m);
  record.samples = total;
  if (total > 0 && fresh === 0) return answer(422, 'duplicate time series: every sample was already received');
  answer(200);
}

/** Proxy mode: the body, unchanged, to the store; its answer mapped as Azure would answer. */
async function forward(target: string, body: Buffer, req: IncomingMessage, timeoutMs: number): Promise<{ status: number; text: string; samples: number }> {
  let samples = 0;
  try {
    samples = countSamples(uncompressSync(body, { asBuffer: true }) as Buffer);
  } catch {
    // not ours to judge: the store answers for the data
  }
  const headers: Record<string, string> = {
    'Content-Encoding': 'snappy',
    'Content-Type': 'application/x-protobuf',
    'X-Prometheus-Remote-Write-Version': String(req.headers['x-prometheus-remote-write-version'] ?? '0.1.0'),
  };
  if (req.headers['user-agent']) headers['User-Agent'] = String(req.headers['user-agent']);
  const timeout = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(target, { method: 'POST', headers, body, signal: timeout });
  } catch (err) {
    const e = err as { cause?: { code?: string; message?: string }; message?: string };
    if (timeout.aborted) return { status: 504, text: `store did not answer within ${timeoutMs} ms`, samples };
    return { status: 502, text: `store unreachable: ${e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)}`, samples };
  }
  const text = (await res.text().catch(() => '')).slice(0, 1000);
  if (res.status >= 200 && res.status < 300) return { status: 200, text: '', samples };
  return { status: res.status, text: text || `store answered ${res.status}`, samples };
}

function activeFault(emu: WorkspaceEmulator): Fault | undefined {
  const f = emu.fault;
  if (!f) return undefined;
  if (f.untilMs !== undefined && Date.now() >= f.untilMs) {
    emu.fault = undefined;
    return undefined;
  }
  if (f.times !== undefined) {
    if (f.times <= 0) {
      emu.fault = undefined;
      return undefined;
    }
    f.times--;
  }
  return f;
}

function summarize(emu: WorkspaceEmulator): WorkspaceSummary {
  let samples = 0;
  let stale = 0;
  let histograms = 0;
  let exemplars = 0;
  for (const s of emu.series.values()) {
    samples += s.samples.size;
    for (const v of s.samples.values()) if (isStaleMarker(v)) stale++;
    histograms += s.histograms;
    exemplars += s.exemplars;
  }
  return {
    name: emu.name,
    requests: emu.requests.length,
    accepted: emu.requests.filter((r) => r.status >= 200 && r.status < 300).length,
    series: emu.series.size,
    samples,
    staleMarkers: stale,
    histograms,
    exemplars,
    metadata: emu.metadata.size,
  };
}

function listSeries(emu: WorkspaceEmulator, match: string | undefined): unknown[] {
  const out: unknown[] = [];
  for (const s of emu.series.values()) {
    const name = s.labels.find((l) => l.name === '__name__')?.value;
    if (match && name !== match) continue;
    out.push({ labels: Object.fromEntries(s.labels.map((l) => [l.name, l.value])), samples: s.samples.size });
    if (out.length >= 1000) break;
  }
  return out;
}

/** The whole body, or undefined once it passes maxBytes (the rest is drained, not kept). */
async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? -1);
  if (declared > maxBytes) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) over = true;
    if (!over) chunks.push(chunk);
  }
  return over ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}
