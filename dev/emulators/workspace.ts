// Emulates an Azure Monitor workspace's metrics ingestion endpoint: a remote-write 1.0
// receiver that checks the bearer token (issued by the identity emulator), decodes what
// it receives bit-exact, keeps it in memory for inspection, and answers like Azure:
// 200 on success, 401/403 for token problems, 422 when every sample was a duplicate,
// 429 past 15 000 requests per minute (Azure's per-DCE limit; no Retry-After, as Azure).
// Faults can be injected (status, Retry-After, delay) to test the relay's retry paths.
//
// Like Azure it is unkind after answering 2xx (ingest-rules.ts): samples more than 20
// minutes old or in the future, duplicates, and samples older than the newest already
// ingested for their series are dropped silently, and counted by reason (summary().dropped,
// GET /emulator/metrics) so tests see what Azure would have kept.
//
// Proxy mode (`forwardTo`, used by the end-to-end test): after the same token, header and
// fault checks, the body goes unchanged to a real store's remote-write receiver
// (VictoriaMetrics, Prometheus --web.enable-remote-write-receiver) and its answer comes
// back: 2xx → 200 as Azure answers, 4xx/5xx passed through, no answer → 502. Nothing is
// stored in memory then, but each request the store accepted is decoded and judged as
// Azure would, keeping only each series' recent timestamps, so the drop counts hold too.
// `requests` still records every POST (samples counted).
//
// Inspect: GET /emulator/summary, GET /emulator/series?match=<metric>, GET /emulator/metrics

import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { uncompressSync } from 'snappy';
import { countSamples } from '../../shared/remote-write/count';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { type Float64Bits, type Label, type MetricMetadata, type WriteRequest, isStaleMarker } from '../../shared/remote-write/model/types';
import { verifyToken } from './emulator-token';
import {
  AZURE_WINDOW,
  DROP_REASONS,
  type DropReason,
  type IngestWindow,
  type RateWindow,
  type Timeline,
  admit,
  ingest,
  judge,
  rateWindow,
} from './ingest-rules';
import { asError } from '../../shared/errors';

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
  /** samples older than now - maxAgeMs are dropped after a 2xx (default 20 min, Azure's OldData); Infinity: never */
  maxAgeMs?: number;
  /** samples newer than now + maxFutureMs are dropped after a 2xx (default 20 min, Azure's InvalidTimeRange) */
  maxFutureMs?: number;
  /** requests per sliding 60 s window, then 429 (default 15 000, Azure's per-DCE limit); Infinity: no limit */
  maxRequestsPerMinute?: number;
  /** where the one warning per drop reason goes (default: stderr) */
  warn?: (message: string) => void;
  /**
   * A closed emulator to continue from (a workspace "down" then "up"): its stored series,
   * metadata, per-series timelines and counters carry over, as Azure does not forget what it
   * ingested. `requests` starts empty.
   */
  continueFrom?: WorkspaceEmulator;
}

export type DropCounts = Record<DropReason, number>;

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
  /** per series (seriesKey): the timestamps ingested inside the window, in both modes */
  timelines: Map<string, Timeline>;
  /** samples (and histogram samples) received but not ingested, by reason */
  dropped: DropCounts;
  /** requests answered 429 for passing maxRequestsPerMinute */
  throttled: number;
  /** samples (and histogram samples) ingested */
  ingested: number;
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
  /** samples and histogram samples ingested (in proxy mode too) */
  ingested: number;
  /** samples and histogram samples Azure would not have kept, by reason (proxy mode too) */
  dropped: DropCounts;
  /** requests answered 429 (past maxRequestsPerMinute) */
  throttled: number;
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
    series: opts.continueFrom?.series ?? new Map<string, StoredSeries>(),
    metadata: opts.continueFrom?.metadata ?? new Map<string, MetricMetadata>(),
    requests: [],
    timelines: opts.continueFrom?.timelines ?? new Map<string, Timeline>(),
    dropped: opts.continueFrom?.dropped ?? { outOfOrder: 0, tooOld: 0, tooNew: 0, duplicate: 0 },
    throttled: opts.continueFrom?.throttled ?? 0,
    ingested: opts.continueFrom?.ingested ?? 0,
    summary: () => summarize(emu),
    close: () =>
      new Promise((ok) => {
        emu.server.close(() => ok());
        emu.server.closeAllConnections();
      }),
  };

  const ctx: Context = {
    emu,
    opts,
    window: { maxAgeMs: opts.maxAgeMs ?? AZURE_WINDOW.maxAgeMs, maxFutureMs: opts.maxFutureMs ?? AZURE_WINDOW.maxFutureMs },
    rate: rateWindow(opts.maxRequestsPerMinute ?? 15_000),
    warned: new Set(),
  };
  emu.server = createServer((req, res) => {
    void handle(ctx, req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(asError(err).message);
    });
  });
  await new Promise<void>((ok) => emu.server.listen(opts.port ?? 0, '127.0.0.1', ok));
  emu.url = `http://127.0.0.1:${(emu.server.address() as AddressInfo).port}${INGESTION_PATH}?api-version=2023-04-24`;
  return emu;
}

interface Context {
  emu: WorkspaceEmulator;
  opts: WorkspaceEmulatorOptions;
  window: IngestWindow;
  rate: RateWindow;
  /** drop reasons already warned about */
  warned: Set<DropReason>;
}

async function handle(ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { emu, opts } = ctx;
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
  if (req.method === 'GET' && url.pathname === '/emulator/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    return void res.end(metricsText(emu));
  }
  if (req.method !== 'POST' || url.pathname !== INGESTION_PATH) return send(404, 'not an ingestion endpoint');

  const body = await readBody(req, 64 * 1024 * 1024);
  const record = {
    status: 0,
    bytes: body?.length ?? 0,
    sha256: body ? createHash('sha256').update(body).digest('hex') : '',
    samples: 0,
    userAgent: req.headers['user-agent'],
    auth: req.headers.authorization,
  };
  emu.requests.push(record);
  const answer = (status: number, text = '', headers: Record<string, string> = {}): void => {
    record.status = status;
    send(status, text, headers);
  };

  const fault = activeFault(emu);
  if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
  if (fault && fault.status > 0) {
    return answer(
      fault.status,
      fault.body ?? `emulated fault ${fault.status}`,
      fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {},
    );
  }
  if (!admit(ctx.rate, Date.now())) {
    emu.throttled++;
    return answer(429, `throttled: more than ${ctx.rate.limit} requests in the last minute (the data collection endpoint's limit)`);
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
    answer(forwarded.status, forwarded.text);
    // What the store accepted, Azure would have judged sample by sample: count its drops.
    if (forwarded.status === 200 && forwarded.decoded) applyRules(ctx, forwarded.decoded, false);
    return;
  }
  let decoded;
  try {
    decoded = decodeWriteRequest(uncompressSync(body, { asBuffer: true }) as Buffer);
  } catch (err) {
    return answer(400, `cannot decode: ${(err as Error).message}`);
  }
  const total = decoded.timeseries.reduce((n, ts) => n + ts.samples.length + ts.histograms.length, 0);
  record.samples = total;
  if (total > 0 && allDuplicates(ctx, decoded)) {
    // Azure's 422 (duplicate time series); nothing is stored, the samples count as duplicates.
    countDrop(ctx, 'duplicate', total);
    return answer(422, 'duplicate time series: every sample was already received');
  }
  // Azure answers before it judges the samples: the sender sees success whatever is dropped.
  answer(200);
  applyRules(ctx, decoded, true);
}

/** True if every sample of the request was already ingested (or repeats an earlier one in it). */
function allDuplicates(ctx: Context, req: WriteRequest): boolean {
  const now = Date.now();
  const seen = new Map<string, Set<number>>();
  for (const ts of req.timeseries) {
    const key = seriesKey(ts.labels);
    const timeline = ctx.emu.timelines.get(key);
    let mine = seen.get(key);
    if (!mine) seen.set(key, (mine = new Set()));
    for (const t of [...ts.samples.map((s) => s.timestamp), ...ts.histograms.map((h) => h.timestamp)]) {
      const ms = Number(t);
      if (!mine.has(ms) && judge(timeline, ms, now, ctx.window) !== 'duplicate') return false;
      mine.add(ms);
    }
  }
  return true;
}

/** Judges every sample of an accepted request in request order; stores what is ingested if `store`. */
function applyRules(ctx: Context, req: WriteRequest, store: boolean): void {
  const { emu, window } = ctx;
  const now = Date.now();
  for (const ts of req.timeseries) {
    const key = seriesKey(ts.labels);
    let timeline = emu.timelines.get(key);
    let stored = store ? emu.series.get(key) : undefined;
    const take = (t: bigint): boolean => {
      const ms = Number(t);
      const reason = judge(timeline, ms, now, window);
      if (reason) {
        countDrop(ctx, reason, 1);
        return false;
      }
      if (!timeline) emu.timelines.set(key, (timeline = { times: [] }));
      ingest(timeline, ms, now, window);
      emu.ingested++;
      if (store && !stored) emu.series.set(key, (stored = { labels: ts.labels, samples: new Map(), histograms: 0, exemplars: 0 }));
      return true;
    };
    for (const sample of ts.samples) {
      if (take(sample.timestamp)) stored?.samples.set(sample.timestamp, sample.value);
    }
    for (const h of ts.histograms) {
      if (take(h.timestamp) && stored) stored.histograms++;
    }
    if (stored) stored.exemplars += ts.exemplars.length;
  }
  if (store) for (const m of req.metadata) emu.metadata.set(m.metricFamilyName, m);
}

const REASON_TEXT: Record<DropReason, string> = {
  outOfOrder: 'older than the newest sample already ingested for their series (Azure: OutOfOrder)',
  tooOld: 'older than the ingestion window (Azure: OldData)',
  tooNew: 'too far in the future (Azure: InvalidTimeRange)',
  duplicate: 'already ingested (Azure: Duplicate)',
};

function countDrop(ctx: Context, reason: DropReason, n: number): void {
  ctx.emu.dropped[reason] += n;
  if (ctx.warned.has(reason)) return;
  ctx.warned.add(reason);
  const window = reason === 'tooOld' ? ` (${ctx.window.maxAgeMs / 60_000} min)` : reason === 'tooNew' ? ` (${ctx.window.maxFutureMs / 60_000} min)` : '';
  const text = `workspace emulator ${ctx.emu.name}: dropping samples ${REASON_TEXT[reason]}${window}, as Azure does after answering 2xx; counts in /emulator/summary (dropped.${reason}) and /emulator/metrics. Warned once.`;
  (ctx.opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`)))(text);
}

/** Proxy mode: the body, unchanged, to the store; its answer mapped as Azure would answer. */
async function forward(
  target: string,
  body: Buffer,
  req: IncomingMessage,
  timeoutMs: number,
): Promise<{ status: number; text: string; samples: number; decoded?: WriteRequest }> {
  let samples = 0;
  let decoded: WriteRequest | undefined;
  try {
    const raw = uncompressSync(body, { asBuffer: true }) as Buffer;
    samples = countSamples(raw);
    decoded = decodeWriteRequest(raw);
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
  if (res.status >= 200 && res.status < 300) return { status: 200, text: '', samples, decoded };
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
    ingested: emu.ingested,
    dropped: { ...emu.dropped },
    throttled: emu.throttled,
  };
}

const METRIC_REASON: Record<DropReason, string> = { outOfOrder: 'out_of_order', tooOld: 'too_old', tooNew: 'too_new', duplicate: 'duplicate' };

function metricsText(emu: WorkspaceEmulator): string {
  return [
    '# HELP workspace_emulator_dropped_samples_total Samples received but not ingested, as Azure Monitor would drop them.',
    '# TYPE workspace_emulator_dropped_samples_total counter',
    ...DROP_REASONS.map((r) => `workspace_emulator_dropped_samples_total{reason="${METRIC_REASON[r]}"} ${emu.dropped[r]}`),
    '# HELP workspace_emulator_throttled_requests_total Requests answered 429 past the requests-per-minute limit.',
    '# TYPE workspace_emulator_throttled_requests_total counter',
    `workspace_emulator_throttled_requests_total ${emu.throttled}`,
    '# HELP workspace_emulator_ingested_samples_total Samples and histogram samples ingested.',
    '# TYPE workspace_emulator_ingested_samples_total counter',
    `workspace_emulator_ingested_samples_total ${emu.ingested}`,
    '',
  ].join('\n');
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
