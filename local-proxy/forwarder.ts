// Wiring: config → spool(s), token source, upstream client(s), delivery lanes, HTTP server.
//
//   direct mode:  SPOOL_DIR/main  one reader per ingestion endpoint ("direct:<id>"), each its own lane
//   relay mode:   SPOOL_DIR/main  one reader "relay" posting to RELAY_URL;
//                 SPOOL_DIR/lanes/<endpoint id>  a spool + lane per workspace endpoint the relay
//                 reported as failed (X-Relay-Failed-Endpoints), retried with X-Relay-Only-Endpoints
//
// startForwarder is what main.ts runs and what in-process tests drive.

import { accessSync, constants as fsConstants, existsSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { type TokenSource, createTokenSource } from '../shared/identity/token-source';
import { type Logger, createLogger, throttled } from '../shared/observability/log';
import { createPublishLog } from '../shared/observability/publish-log';
import { createRelabelCounters, droppedByRule, totalDropped } from '../shared/relabel/counters';
import { costControl } from '../shared/cost/cost-control';
import { seriesLimiters } from '../shared/cost/series-limit';
import { VERSION } from '../shared/version';
import type { Endpoint } from '../shared/fanout/endpoints';
import { createWriteHandler } from './accept';
import { type ForwarderConfig, describeForwarderConfig } from './config';
import { type ForwarderMetrics, createMetrics } from './metrics';
import { TokenBucket } from './pacing';
import { createForwarderServer } from './server';
import { Lane, type LaneHints, type ParkedBatch } from './shipper';
import { type DropInfo, Spool, SpoolBudget, type SpoolRecord } from './spool';
import { type Upstream, createDirectUpstream, createRelayUpstream } from './upstream';
import { asError } from '../shared/errors';

export interface ForwarderDeps {
  log?: Logger;
  /** replaces the token source built from the identity settings (tests); null: none */
  tokenSource?: TokenSource | null;
  /** replaces the upstream clients (tests) */
  relayUpstream?: Upstream;
  directUpstream?: (endpoint: Endpoint) => Upstream;
  /** prom-client's process metrics (off in tests that start many forwarders) */
  defaultMetrics?: boolean;
}

export interface RunningForwarder {
  /** http://host:port */
  url: string;
  port: number;
  server: Server;
  metrics: ForwarderMetrics;
  /** the main spool */
  spool: Spool;
  lanes(): readonly Lane[];
  /** SIGTERM: stop accepting, let a send in flight finish (SHUTDOWN_TIMEOUT), save cursors, close */
  stop(): Promise<void>;
}

/** The spool directory cannot be used: a start-up error that names what to fix. */
export class SpoolDirError extends Error {
  override readonly name = 'SpoolDirError';
}

const TOKEN_CHECK_MS = 5000;
const LANE_ID = /^[0-9a-f]{10}$/;

export async function startForwarder(cfg: ForwarderConfig, deps: ForwarderDeps = {}): Promise<RunningForwarder> {
  const log = deps.log ?? createLogger();
  const warnOnce = throttled(log);
  const target = cfg.target;
  const budget = new SpoolBudget(cfg.spool.maxBytes, cfg.spool.fullPolicy);
  const lanes: Lane[] = [];
  const laneSpools = new Map<string, Spool>();
  let stopping = false;
  let inflightWrites = 0;
  const spoolBytes = (): number => [...budget.spools].reduce((n, s) => n + s.bytes, 0);
  const spoolRecords = (): number => [...budget.spools].reduce((n, s) => n + s.records, 0);

  const relabel = cfg.relabel ? createRelabelCounters(cfg.relabel) : undefined;
  const limiters = seriesLimiters(cfg.seriesLimits, Date.now());
  const cost = costControl(relabel, limiters);
  const metrics = createMetrics(
    {
      relabelDrops: relabel && (() => droppedByRule(relabel)),
      relabelCache: relabel && (() => relabel.cache),
      seriesLimiters: () => limiters,
      spoolBytes,
      spoolRecords,
      spoolFsyncs: () => [...budget.spools].reduce((n, s) => n + s.syncCount, 0),
      laneBacklog: () => Object.fromEntries(lanes.map((l) => [l.name, l.spec.reader.pendingBytes()])),
      laneStats: () => lanes.map((l) => l.stats()),
    },
    { defaultMetrics: deps.defaultMetrics },
  );

  const onDrop = (d: DropInfo): void => {
    metrics.droppedSamples.inc({ reason: d.reason }, d.samples);
    metrics.droppedRecords.inc({ reason: d.reason }, d.records);
    warnOnce(
      `spool-drop:${d.spool}:${d.reason}`,
      'warn',
      d.reason === 'spool_full' ? 'spool is full (SPOOL_FULL_POLICY=drop-oldest): oldest data dropped' : 'corrupt spool data skipped',
      {
        spool: d.spool,
        segment: d.segment,
        requests: d.records,
        samples: d.samples,
        bytes: d.bytes,
      },
    );
  };
  const onWarning = (msg: string, fields: Record<string, string | number>): void => warnOnce(`spool:${String(fields.spool)}:${msg}`, 'warn', msg, fields);

  const openSpool = (dir: string, name: string, readers: string[], capExempt: boolean): Spool => {
    try {
      return Spool.open({ dir, name, readers, segmentBytes: cfg.spool.segmentBytes, budget, capExempt, onDrop, onWarning });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new SpoolDirError(
        `SPOOL_DIR=${cfg.spool.dir} cannot be used (${e.code ?? e.message}: ${e.message}): mount a writable volume there (e.g. an emptyDir) or set SPOOL_DIR to a writable directory`,
      );
    }
  };

  const readerNames = target.mode === 'direct' ? target.endpoints.map((e) => `direct:${e.id}`) : ['relay'];
  const spool = openSpool(path.join(cfg.spool.dir, 'main'), 'main', readerNames, false);

  let tooOldSinceLine = 0;
  let relabelDroppedBefore = 0;
  let limitDroppedBefore = 0;
  const publishLog = createPublishLog({
    intervalMs: cfg.publishLogIntervalMs,
    write: log.line,
    extraFields: () => {
      const tooOld = tooOldSinceLine;
      tooOldSinceLine = 0;
      const line: Record<string, number> = { spoolBytes: spoolBytes(), spoolRecords: spoolRecords(), tooOldSamples: tooOld };
      if (relabel) {
        const dropped = totalDropped(relabel);
        line.relabelDroppedSamples = dropped - relabelDroppedBefore;
        relabelDroppedBefore = dropped;
      }
      if (limiters.length > 0) {
        const dropped = limiters.reduce((n, l) => n + l.droppedSamples, 0);
        line.seriesLimitDroppedSamples = dropped - limitDroppedBefore;
        limitDroppedBefore = dropped;
      }
      return line;
    },
  });

  // ---- tokens ----
  const identity = target.identity;
  let tokens: TokenSource | undefined;
  if (deps.tokenSource !== undefined) {
    tokens = deps.tokenSource ?? undefined;
  } else if (identity && identity.type !== 'none') {
    // Loaded only when used: @azure/identity alone is ~20 MiB of RSS, wasted with IDENTITY_TYPE=none.
    const { createCredential } = await import('../shared/identity/credential');
    const credential = createCredential(identity);
    if (credential) {
      tokens = createTokenSource(credential, identity.scope, {
        onRefreshError: (err) => log.warn('token refresh failed, still using the cached token', { error: err.message }),
      });
    }
  }

  // ---- lanes ----
  const laneDeps = {
    metrics,
    log,
    warnOnce,
    publishLog,
    batch: cfg.batch,
    backoff: { minMs: cfg.retry.minBackoffMs, maxMs: cfg.retry.maxBackoffMs },
    shards: cfg.shards,
    maxSampleAgeMs: cfg.maxSampleAgeMs,
    windowMarginMs: cfg.upstreamTimeoutMs,
    allowOutOfOrder: cfg.allowOutOfOrder,
    onTooOld: (n: number) => {
      tooOldSinceLine += n;
    },
    onUnreadable: (rec: SpoolRecord, err: Error) => {
      log.error('spooled request is not a readable snappy block, skipped', { segment: rec.start.segment, offset: rec.start.offset, error: err.message });
      onDrop({ spool: 'spool', segment: rec.start.segment, records: 1, samples: rec.samples, bytes: rec.payload.length, reason: 'corrupt' });
    },
  };
  // One request budget per upstream host: a data collection endpoint counts every call to it.
  const requestBuckets = new Map<string, TokenBucket>();
  const requestsTo = (host: string): TokenBucket | undefined => {
    if (cfg.maxRequestsPerMinute <= 0) return undefined;
    let b = requestBuckets.get(host);
    if (!b) requestBuckets.set(host, (b = new TokenBucket(cfg.maxRequestsPerMinute / 60)));
    return b;
  };
  let started = false;
  const addLane = (lane: Lane): Lane => {
    lanes.push(lane);
    if (started) lane.start();
    return lane;
  };

  if (target.mode === 'direct') {
    const hints: LaneHints = {
      auth: `that the identity (IDENTITY_TYPE=${target.identity.type}${target.identity.clientId ? `, AZURE_CLIENT_ID=${target.identity.clientId}` : ''}) has the "Monitoring Metrics Publisher" role on the workspace's data collection rule (new role assignments take up to 30 minutes), and that the token audience ${target.identity.scope} (CLOUD / INGESTION_AAD_AUDIENCE) matches the endpoint's cloud`,
      config: "that INGESTION_URL is the workspace's metrics ingestion endpoint, with its ?api-version=…",
    };
    for (const e of target.endpoints) {
      const name = `direct:${e.id}`;
      const upstream =
        deps.directUpstream?.(e) ??
        createDirectUpstream({ endpoint: e, tokens, timeoutMs: cfg.upstreamTimeoutMs, maxUpstreamBytes: cfg.sizes.maxUpstreamBytes });
      addLane(
        new Lane({ name, reader: spool.reader(name), upstream, limiter: new TokenBucket(cfg.catchupMaxRate), requests: requestsTo(e.host), hints }, laneDeps),
      );
    }
  } else {
    const hints: LaneHints = {
      auth: `that RELAY_KEY is a function key (or host key) of the relay Function app${target.scope ? `, and that the identity (IDENTITY_TYPE=${target.identity?.type}${target.identity?.clientId ? `, AZURE_CLIENT_ID=${target.identity.clientId}` : ''}) is allowed by the app's authentication (Easy Auth) and RELAY_SCOPE=${target.scope} is its Application ID URI + /.default` : ''}; a 401/403 for the workspace itself is reported by the relay's own log`,
      config: "that RELAY_URL is the relay Function's write URL (https://<app>.azurewebsites.net/api/v1/write)",
    };
    const relayUpstream =
      deps.relayUpstream ??
      createRelayUpstream({ url: target.endpoint.url, host: target.endpoint.host, key: target.key, tokens, timeoutMs: cfg.upstreamTimeoutMs });
    const limiter = new TokenBucket(cfg.catchupMaxRate); // every relay lane hits the same relay
    const requests = requestsTo(target.endpoint.host);

    const laneSpool = (id: string): Spool => {
      let s = laneSpools.get(id);
      if (s) return s;
      // No new lanes once shutdown began: the park fails, the batch stays uncommitted in the main spool.
      if (stopping) throw new Error('shutting down');
      s = openSpool(path.join(cfg.spool.dir, 'lanes', id), `lane:${id}`, ['lane'], true);
      laneSpools.set(id, s);
      addLane(new Lane({ name: `lane:${id}`, reader: s.reader('lane'), upstream: relayUpstream, limiter, requests, hints, endpointId: id }, laneDeps));
      return s;
    };
    // A workspace whose lane holds data gets every batch through that lane until it has caught
    // up (the main lane sends to the others with X-Relay-Except-Endpoints): its samples stay in
    // order. The append is written before park() yields, so the lane cannot look drained while
    // a batch is on its way into it.
    const park = async (ids: string[], batch: ParkedBatch): Promise<void> => {
      await Promise.all(ids.map((id) => laneSpool(id).append(batch.block, batch.samples, batch)));
    };
    const parked = (): string[] => {
      const out: string[] = [];
      for (const [id, s] of laneSpools) if (!s.reader('lane').isDrained()) out.push(id);
      return out;
    };
    addLane(
      new Lane(
        {
          name: 'relay',
          reader: spool.reader('relay'),
          upstream: relayUpstream,
          limiter,
          requests,
          hints,
          park,
          parked,
          stragglerTimeoutMs: cfg.relayStragglerTimeoutMs,
        },
        laneDeps,
      ),
    );
    // Lanes left from before a restart still hold data to deliver.
    const lanesDir = path.join(cfg.spool.dir, 'lanes');
    if (existsSync(lanesDir)) for (const id of readdirSync(lanesDir)) if (LANE_ID.test(id)) laneSpool(id);
  }

  // ---- HTTP ----
  const write = createWriteHandler(cfg, { spool, metrics, warnOnce, shuttingDown: () => stopping, cost });
  const server = createForwarderServer({
    write: async (input) => {
      inflightWrites++;
      try {
        return await write(input);
      } finally {
        inflightWrites--;
      }
    },
    health: () => json(200, { status: 'ok', version: VERSION, mode: target.mode }),
    ready: async () => {
      const checks: Record<string, string> = {};
      checks.spool = spoolCheck(spool, cfg.spool.dir);
      checks.upstream =
        target.mode === 'relay'
          ? `relay ${target.endpoint.host}`
          : `${target.endpoints.length} ingestion endpoint(s): ${target.endpoints.map((e) => e.host).join(', ')}`;
      if (tokens) checks.token = await tokenCheck(tokens);
      if (stopping) checks.shutdown = 'shutting down';
      const ok = checks.spool === 'ok' && (checks.token === undefined || checks.token === 'ok') && !stopping;
      return json(ok ? 200 : 503, { status: ok ? 'ready' : 'not ready', checks });
    },
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    onError: (err) => log.error('request handler failed', { error: err.message }),
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(cfg.listen.port, cfg.listen.host, () => ok());
  });
  const address = server.address() as AddressInfo;
  const port = address.port;
  const shownHost = cfg.listen.host ?? '127.0.0.1';
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;

  started = true;
  for (const l of lanes) l.start();
  log.info('forwarder listening', { port, write: `${url}/api/v1/write`, version: VERSION, config: JSON.stringify(describeForwarderConfig(cfg)) });
  if (tokens) {
    // Fetch the first token now: a missing role or identity shows in the log at start, not at the first batch.
    tokens
      .getToken()
      .catch((err: unknown) => log.error('cannot get a token yet; data is spooled and sent once a token comes', { error: asError(err).message }));
  }

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    server,
    metrics,
    spool,
    lanes: () => lanes,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        server.close();
        server.closeIdleConnections();
        // Requests already in the handler finish their spool append (ms) and get their answer.
        for (let i = 0; i < 500 && inflightWrites > 0; i++) await new Promise((r) => setTimeout(r, 10));
        await Promise.all(lanes.map((l) => l.stop(cfg.shutdownTimeoutMs)));
        log.line(publishLog.flush());
        publishLog.stop();
        tokens?.close();
        await spool.close();
        for (const s of laneSpools.values()) await s.close();
        server.closeAllConnections();
      })()),
  };
}

function json(status: number, body: unknown): { status: number; headers: Record<string, string>; body: string } {
  return { status, headers: { 'content-type': 'application/json' }, body: `${JSON.stringify(body)}\n` };
}

function spoolCheck(spool: Spool, dir: string): string {
  if (spool.lastError) return `spool write failed: ${spool.lastError}`;
  try {
    accessSync(path.join(dir, 'main'), fsConstants.W_OK);
    return 'ok';
  } catch (err) {
    return `SPOOL_DIR not writable: ${(err as Error).message}`;
  }
}

async function tokenCheck(tokens: TokenSource): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      tokens.getToken(),
      new Promise((_, fail) => {
        timer = setTimeout(() => fail(new Error(`no token within ${TOKEN_CHECK_MS} ms`)), TOKEN_CHECK_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `cannot get a token: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    clearTimeout(timer);
  }
}
