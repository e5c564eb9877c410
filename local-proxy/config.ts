// The forwarder's settings, parsed and checked in one place. The mode follows from
// what is set: RELAY_URL → relay mode (post to the relay Function), INGESTION_URL →
// direct mode (post to the workspaces, the seed side car's behaviour). Every problem
// is collected and reported at once in a ConfigError naming what to set.

import { type Endpoint, parseEndpoints } from '../shared/fanout/endpoints';
import { type IdentityConfig, describeIdentity, loadIdentityConfig } from '../shared/identity/identity-config';
import type { SeriesLimits } from '../shared/remote-write/validate';
import { ConfigProblem, formatBytes, parseBool, parseDuration, parsePositiveDuration, parsePositiveInt, parseSize } from '../shared/config/parse';
import {
  ConfigError,
  type SizeLimits,
  describeNative,
  loadNativeFastPath,
  loadRelabelRules,
  loadSeriesLimits,
  loadSizeLimits,
  parsed,
} from '../shared/config/loaders';
import type { RelabelRule } from '../shared/relabel/config';
import { MAX_SERIES_LIMIT } from '../shared/cost/series-limit';
import { type Env, settingValue } from '../shared/config/settings';

export type SpoolFullPolicy = 'reject' | 'drop-oldest';

export interface RelayTarget {
  mode: 'relay';
  endpoint: Endpoint;
  /** x-functions-key (secret) */
  key?: string;
  /** Easy Auth token scope; identity is set with it */
  scope?: string;
  identity?: IdentityConfig;
}

export interface DirectTarget {
  mode: 'direct';
  endpoints: Endpoint[];
  identity: IdentityConfig;
}

export interface ForwarderConfig {
  listen: { port: number; host?: string };
  target: RelayTarget | DirectTarget;
  cluster?: string;
  limits: SeriesLimits;
  sizes: SizeLimits;
  upstreamTimeoutMs: number;
  publishLogIntervalMs: number;
  spool: { dir: string; maxBytes: number; segmentBytes: number; fullPolicy: SpoolFullPolicy };
  batch: { maxBytes: number; maxSamples: number; maxWaitMs: number };
  retry: { minBackoffMs: number; maxBackoffMs: number };
  /** samples/s per upstream; 0 = unlimited */
  catchupMaxRate: number;
  /** calls in flight per lane (Prometheus's min_shards / max_shards) */
  shards: { min: number; max: number };
  /** samples older than this are not sent (Azure's window); 0 = no window */
  maxSampleAgeMs: number;
  /** whole batches spread over the shards: no per-series order (stores that accept out-of-order data) */
  allowOutOfOrder: boolean;
  /** calls per minute to one upstream host (a data collection endpoint's limit); 0 = unlimited */
  maxRequestsPerMinute: number;
  /** relay mode: X-Relay-Straggler-Timeout, ms; 0 = off */
  relayStragglerTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** use the native fast path when it loaded (NATIVE_FAST_PATH) */
  nativeFastPath: boolean;
  /** RELABEL_CONFIG_FILE's rules; undefined: none */
  relabel?: RelabelRule[];
  /** MAX_HOURLY_SERIES / MAX_DAILY_SERIES; 0: no limit */
  seriesLimits: { maxHourlySeries: number; maxDailySeries: number };
}

function parsePort(raw: string): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 65535) throw new ConfigProblem(`"${raw}" is not a port number (0-65535)`);
  return Number(raw);
}

function parseNonNegativeInt(raw: string): number {
  if (!/^\s*\d+\s*$/.test(raw)) throw new ConfigProblem(`"${raw}" is not a whole number (0 or more)`);
  return Number(raw);
}

function parseSeriesLimit(raw: string): number {
  const n = parseNonNegativeInt(raw);
  if (n > MAX_SERIES_LIMIT)
    throw new ConfigProblem(`${n} is over ${MAX_SERIES_LIMIT} series (the limit's memory is 2 bytes per series); set a lower limit, or 0 for none`);
  return n;
}

function parsePolicy(raw: string): SpoolFullPolicy {
  const v = raw.trim().toLowerCase().replace(/[_\s]/g, '-');
  if (v === 'reject') return 'reject';
  if (v === 'drop-oldest' || v === 'dropoldest') return 'drop-oldest';
  throw new ConfigProblem(`"${raw}" is not a policy: set reject (503 so Prometheus keeps the data) or drop-oldest`);
}

const RELAY_URL_HINT = 'https://<function-app>.azurewebsites.net/api/v1/write';

export function loadForwarderConfig(env: Env): ForwarderConfig {
  const problems: string[] = [];
  const relayUrl = settingValue(env, 'RELAY_URL');
  const ingestionUrl = settingValue(env, 'INGESTION_URL');
  const relayKey = settingValue(env, 'RELAY_KEY');
  const relayScope = settingValue(env, 'RELAY_SCOPE');

  let target: RelayTarget | DirectTarget;
  if (relayUrl !== undefined && ingestionUrl !== undefined) {
    problems.push(
      'both RELAY_URL and INGESTION_URL are set: set RELAY_URL to send through the relay Function (relay mode), or INGESTION_URL to send straight to the workspace (direct mode), not both',
    );
    target = { mode: 'direct', endpoints: [], identity: loadIdentityConfig(env, problems) };
  } else if (relayUrl !== undefined) {
    const endpoints = parseEndpoints(relayUrl, 'RELAY_URL', problems);
    if (endpoints.length > 1)
      problems.push(`RELAY_URL holds ${endpoints.length} URLs: give exactly one relay URL (${RELAY_URL_HINT}); the relay fans out to the workspaces itself`);
    let identity: IdentityConfig | undefined;
    if (relayScope !== undefined) {
      identity = { ...loadIdentityConfig(env, problems), scope: relayScope };
      if (identity.type === 'none')
        problems.push(
          "RELAY_SCOPE is set but IDENTITY_TYPE=none: set IDENTITY_TYPE (and AZURE_CLIENT_ID …) to the identity allowed by the relay's App Service authentication, or unset RELAY_SCOPE",
        );
    }
    target = { mode: 'relay', endpoint: endpoints[0] ?? { id: '', url: '', host: '' }, key: relayKey, scope: relayScope, identity };
  } else if (ingestionUrl !== undefined) {
    const endpoints = parseEndpoints(ingestionUrl, 'INGESTION_URL', problems);
    for (const name of ['RELAY_KEY', 'RELAY_SCOPE'] as const) {
      if (settingValue(env, name) !== undefined)
        problems.push(`${name} is set but RELAY_URL is not: ${name} only applies in relay mode; unset it, or set RELAY_URL instead of INGESTION_URL`);
    }
    target = { mode: 'direct', endpoints, identity: loadIdentityConfig(env, problems) };
  } else {
    problems.push(
      `nothing to forward to: set INGESTION_URL to the workspace's metrics ingestion endpoint (direct mode, as the Azure Monitor side car) or RELAY_URL to the relay Function's write URL (relay mode, ${RELAY_URL_HINT})`,
    );
    target = { mode: 'direct', endpoints: [], identity: loadIdentityConfig(env, problems) };
  }

  const host = settingValue(env, 'LISTENING_HOST');
  const cfg: ForwarderConfig = {
    listen: { port: parsed(env, 'LISTENING_PORT', parsePort, problems), ...(host ? { host } : {}) },
    target,
    cluster: settingValue(env, 'CLUSTER'),
    limits: loadSeriesLimits(env, problems),
    sizes: loadSizeLimits(env, problems),
    upstreamTimeoutMs: parsed(env, 'UPSTREAM_TIMEOUT', parsePositiveDuration, problems),
    publishLogIntervalMs: parsed(env, 'PUBLISH_LOG_INTERVAL', parsePositiveDuration, problems),
    spool: {
      dir: settingValue(env, 'SPOOL_DIR')!,
      maxBytes: parsed(env, 'SPOOL_MAX_BYTES', parseSize, problems),
      segmentBytes: parsed(env, 'SPOOL_SEGMENT_BYTES', parseSize, problems),
      fullPolicy: parsed(env, 'SPOOL_FULL_POLICY', parsePolicy, problems),
    },
    batch: {
      maxBytes: parsed(env, 'BATCH_MAX_BYTES', parseSize, problems),
      maxSamples: parsed(env, 'BATCH_MAX_SAMPLES', parsePositiveInt, problems),
      maxWaitMs: parsed(env, 'BATCH_MAX_WAIT', parseDuration, problems),
    },
    retry: {
      minBackoffMs: parsed(env, 'RETRY_MIN_BACKOFF', parsePositiveDuration, problems),
      maxBackoffMs: parsed(env, 'RETRY_MAX_BACKOFF', parsePositiveDuration, problems),
    },
    catchupMaxRate: parsed(env, 'CATCHUP_MAX_RATE', parseNonNegativeInt, problems),
    shards: { min: parsed(env, 'MIN_SHARDS', parsePositiveInt, problems), max: parsed(env, 'MAX_SHARDS', parsePositiveInt, problems) },
    maxSampleAgeMs: parsed(env, 'MAX_SAMPLE_AGE', parseDuration, problems),
    allowOutOfOrder: parsed(env, 'ALLOW_OUT_OF_ORDER', parseBool, problems),
    maxRequestsPerMinute: parsed(env, 'MAX_REQUESTS_PER_MINUTE', parseNonNegativeInt, problems),
    relayStragglerTimeoutMs: parsed(env, 'RELAY_STRAGGLER_TIMEOUT', parseDuration, problems),
    shutdownTimeoutMs: parsed(env, 'SHUTDOWN_TIMEOUT', parseDuration, problems),
    nativeFastPath: loadNativeFastPath(env, problems),
    relabel: loadRelabelRules(env, problems),
    seriesLimits: {
      maxHourlySeries: parsed(env, 'MAX_HOURLY_SERIES', parseSeriesLimit, problems),
      maxDailySeries: parsed(env, 'MAX_DAILY_SERIES', parseSeriesLimit, problems),
    },
  };

  if (cfg.spool.segmentBytes < 64 * 1024)
    problems.push(`SPOOL_SEGMENT_BYTES=${formatBytes(cfg.spool.segmentBytes)} is too small: set at least 64KiB (default 16MiB)`);
  if (cfg.spool.maxBytes < 2 * cfg.spool.segmentBytes) {
    problems.push(
      `SPOOL_MAX_BYTES=${formatBytes(cfg.spool.maxBytes)} must be at least twice SPOOL_SEGMENT_BYTES=${formatBytes(cfg.spool.segmentBytes)}: raise SPOOL_MAX_BYTES or lower SPOOL_SEGMENT_BYTES`,
    );
  }
  if (cfg.batch.maxBytes <= 0) problems.push('BATCH_MAX_BYTES must be more than 0 (default 8MiB)');
  if (cfg.batch.maxBytes >= 4 * 1024 ** 3)
    problems.push(
      `BATCH_MAX_BYTES=${formatBytes(cfg.batch.maxBytes)} is too large: a batch is one snappy block, which holds under 4GiB; set 8MiB (default) or less`,
    );
  if (cfg.shards.min > cfg.shards.max)
    problems.push(`MIN_SHARDS=${cfg.shards.min} is more than MAX_SHARDS=${cfg.shards.max}: lower the first or raise the second`);
  if (cfg.shards.max > 256) problems.push(`MAX_SHARDS=${cfg.shards.max} is too many: at most 256 calls in flight per lane (default 16)`);
  if (cfg.maxSampleAgeMs > 0 && cfg.maxSampleAgeMs <= cfg.upstreamTimeoutMs) {
    problems.push(
      `MAX_SAMPLE_AGE (${cfg.maxSampleAgeMs} ms) must be longer than UPSTREAM_TIMEOUT (${cfg.upstreamTimeoutMs} ms): data must reach the workspace inside the window, so the window is shortened by one upstream timeout; set MAX_SAMPLE_AGE=20m (Azure's window) or 0 to turn the window off`,
    );
  }
  if (cfg.retry.minBackoffMs > cfg.retry.maxBackoffMs) {
    problems.push(
      `RETRY_MIN_BACKOFF (${cfg.retry.minBackoffMs} ms) is longer than RETRY_MAX_BACKOFF (${cfg.retry.maxBackoffMs} ms): lower the first or raise the second`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}

/** Safe to print and to show in /ready: no keys, no full URLs (they carry DCR ids, query strings, ?code=). */
export function describeForwarderConfig(cfg: ForwarderConfig): Record<string, unknown> {
  const t = cfg.target;
  const target =
    t.mode === 'relay'
      ? {
          mode: 'relay',
          relay: t.endpoint.host,
          functionKey: t.key ? 'set' : 'unset',
          scope: t.scope ?? null,
          identity: t.identity ? describeIdentity(t.identity) : null,
        }
      : { mode: 'direct', endpoints: t.endpoints.map((e) => ({ id: e.id, host: e.host })), identity: describeIdentity(t.identity) };
  return {
    ...target,
    listen: `${cfg.listen.host ?? '*'}:${cfg.listen.port}`,
    cluster: cfg.cluster ?? null,
    spool: {
      dir: cfg.spool.dir,
      maxBytes: formatBytes(cfg.spool.maxBytes),
      segmentBytes: formatBytes(cfg.spool.segmentBytes),
      fullPolicy: cfg.spool.fullPolicy,
    },
    batch: { maxBytes: formatBytes(cfg.batch.maxBytes), maxSamples: cfg.batch.maxSamples, maxWaitMs: cfg.batch.maxWaitMs },
    retry: cfg.retry,
    catchupMaxRate: cfg.catchupMaxRate,
    shards: cfg.shards,
    maxSampleAgeMs: cfg.maxSampleAgeMs,
    allowOutOfOrder: cfg.allowOutOfOrder,
    maxRequestsPerMinute: cfg.maxRequestsPerMinute,
    ...(cfg.target.mode === 'relay' ? { relayStragglerTimeoutMs: cfg.relayStragglerTimeoutMs } : {}),
    upstreamTimeoutMs: cfg.upstreamTimeoutMs,
    nativeFastPath: describeNative(cfg.nativeFastPath),
    relabelRules: cfg.relabel?.length ?? 0,
    seriesLimits: cfg.seriesLimits,
  };
}
