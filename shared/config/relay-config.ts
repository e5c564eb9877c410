// The relay's settings, parsed and checked in one place. Any problem stops start-up
// with a ConfigError listing everything to set.

import { type Endpoint, parseEndpoints } from '../fanout/endpoints';
import { type IdentityConfig, describeIdentity, loadIdentityConfig } from '../identity/identity-config';
import { nativeStatus } from '../remote-write/native';
import type { SeriesLimits } from '../remote-write/validate';
import { ConfigProblem, formatBytes, parsePositiveDuration, parsePositiveInt, parseSize } from './parse';
import { type Env, settingValue } from './settings';
import { type TenantTable, loadTenantTable } from '../tenants/tenants';
import { type RelabelRule, RelabelConfigError, loadRelabelFile } from '../relabel/config';
import { type HaConfig, type StateConfig, loadHaConfig, loadStateConfig } from '../state/state-config';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export interface SizeLimits {
  maxBodyBytes: number;
  maxDecodedBytes: number;
  maxUpstreamBytes: number;
}

export interface RelayConfig {
  endpoints: Endpoint[];
  identity: IdentityConfig;
  cluster?: string;
  limits: SeriesLimits;
  sizes: SizeLimits;
  upstreamTimeoutMs: number;
  publishLogIntervalMs: number;
  appInsightsConnectionString?: string;
  /** multi-tenant relay (TENANTS_FILE / RELAY_TENANTS); undefined: single tenant */
  tenants?: TenantTable;
  /** use the native fast path when it loaded (NATIVE_FAST_PATH) */
  nativeFastPath: boolean;
  /** RELABEL_CONFIG_FILE's rules, for every tenant; undefined: none */
  relabel?: RelabelRule[];
  /** the table all instances share (AzureWebJobsStorage); undefined: none, quotas per instance */
  state?: StateConfig;
  /** HA_DEDUP=on */
  ha?: HaConfig;
}

/** Reads a setting through a parser, recording a problem (and returning the default) on failure. */
export function parsed<T>(env: Env, name: string, parse: (raw: string) => T, problems: string[]): T {
  const raw = settingValue(env, name);
  if (raw === undefined) throw new Error(`setting ${name} has no default; read it with settingValue`);
  try {
    return parse(raw);
  } catch (err) {
    if (!(err instanceof ConfigProblem)) throw err;
    problems.push(`${name}: ${err.message}`);
    return parse(settingValueDefault(name));
  }
}

function settingValueDefault(name: string): string {
  return settingValue({}, name)!;
}

export function loadSeriesLimits(env: Env, problems: string[]): SeriesLimits {
  return {
    maxLabelsPerSeries: parsed(env, 'MAX_LABELS_PER_SERIES', parsePositiveInt, problems),
    maxLabelNameLength: parsed(env, 'MAX_LABEL_NAME_LENGTH', parsePositiveInt, problems),
    maxLabelValueLength: parsed(env, 'MAX_LABEL_VALUE_LENGTH', parsePositiveInt, problems),
    maxMetricNameLength: parsed(env, 'MAX_METRIC_NAME_LENGTH', parsePositiveInt, problems),
  };
}

export function loadSizeLimits(env: Env, problems: string[]): SizeLimits {
  return {
    maxBodyBytes: parsed(env, 'MAX_BODY_BYTES', parseSize, problems),
    maxDecodedBytes: parsed(env, 'MAX_DECODED_BYTES', parseSize, problems),
    maxUpstreamBytes: parsed(env, 'MAX_UPSTREAM_BYTES', parseSize, problems),
  };
}

/** NATIVE_FAST_PATH: whether to use the native fast path (false: JS only); `required` without it is a start-up error. */
export function loadNativeFastPath(env: Env, problems: string[]): boolean {
  const raw = (settingValue(env, 'NATIVE_FAST_PATH') ?? 'auto').toLowerCase();
  if (raw === 'off') return false;
  if (raw === 'required') {
    const native = nativeStatus();
    if (!native.loaded) problems.push(`NATIVE_FAST_PATH=required but the native module did not load (${native.reason}): run \`npm ci\` (or \`npx node-gyp rebuild\`) where a C compiler and Node's headers are installed, or set NATIVE_FAST_PATH=auto`);
    return true;
  }
  if (raw !== 'auto') problems.push(`NATIVE_FAST_PATH must be auto, off or required, not "${raw}"`);
  return true;
}

/** For health output and the start-up line: whether requests can take the native fast path. */
export function describeNative(enabled: boolean): string {
  if (!enabled) return 'off';
  const native = nativeStatus();
  return native.loaded ? 'on' : 'not built (JS path only)';
}

/** The cluster label's value obeys the same limit as any label value. */
/** RELABEL_CONFIG_FILE's rules; undefined when unset or empty (the no-rules path costs nothing). */
export function loadRelabelRules(env: Env, problems: string[]): RelabelRule[] | undefined {
  const file = settingValue(env, 'RELABEL_CONFIG_FILE');
  if (file === undefined) return undefined;
  try {
    const rules = loadRelabelFile(file, 'RELABEL_CONFIG_FILE');
    return rules.length > 0 ? rules : undefined;
  } catch (err) {
    if (!(err instanceof RelabelConfigError)) throw err;
    problems.push(err.message);
    return undefined;
  }
}

export function checkClusterValue(cluster: string | undefined, limits: SeriesLimits, problems: string[]): void {
  if (cluster !== undefined && [...cluster].length > limits.maxLabelValueLength) {
    problems.push(`CLUSTER is ${[...cluster].length} characters, over MAX_LABEL_VALUE_LENGTH=${limits.maxLabelValueLength}: use a shorter cluster name`);
  }
}

export function loadRelayConfig(env: Env): RelayConfig {
  const problems: string[] = [];
  const identity = loadIdentityConfig(env, problems);
  const tenants = loadTenantTable(env, problems, identity.authorityHost);
  // With tenants every caller's endpoints come from its tenant; INGESTION_URL is optional.
  const rawUrls = settingValue(env, 'INGESTION_URL');
  const endpoints = tenants && rawUrls === undefined ? [] : parseEndpoints(rawUrls, 'INGESTION_URL', problems);
  for (const t of tenants?.tenants ?? []) checkClusterValue(t.cluster, loadSeriesLimits(env, []), problems);
  const cluster = settingValue(env, 'CLUSTER');
  const limits = loadSeriesLimits(env, problems);
  checkClusterValue(cluster, limits, problems);
  const state = loadStateConfig(env, identity, problems);
  const cfg: RelayConfig = {
    endpoints,
    identity,
    cluster,
    limits,
    sizes: loadSizeLimits(env, problems),
    upstreamTimeoutMs: parsed(env, 'UPSTREAM_TIMEOUT', parsePositiveDuration, problems),
    publishLogIntervalMs: parsed(env, 'PUBLISH_LOG_INTERVAL', parsePositiveDuration, problems),
    appInsightsConnectionString: settingValue(env, 'APPLICATIONINSIGHTS_CONNECTION_STRING'),
    tenants,
    nativeFastPath: loadNativeFastPath(env, problems),
    relabel: loadRelabelRules(env, problems),
    state,
    ha: loadHaConfig(env, state, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg;
}

/** The health/start-up summary: no secrets, no full URLs (they carry DCR ids and query strings). */
export function describeRelayConfig(cfg: RelayConfig): Record<string, unknown> {
  return {
    endpoints: cfg.endpoints.map((e) => ({ id: e.id, host: e.host })),
    identity: describeIdentity(cfg.identity),
    cluster: cfg.cluster ?? null,
    limits: {
      ...cfg.limits,
      maxBodyBytes: formatBytes(cfg.sizes.maxBodyBytes),
      maxDecodedBytes: formatBytes(cfg.sizes.maxDecodedBytes),
      maxUpstreamBytes: formatBytes(cfg.sizes.maxUpstreamBytes),
      upstreamTimeoutMs: cfg.upstreamTimeoutMs,
    },
    applicationInsights: cfg.appInsightsConnectionString ? 'enabled' : 'disabled',
    nativeFastPath: describeNative(cfg.nativeFastPath),
    relabelRules: cfg.relabel?.length ?? 0,
    // the table's name and whether a connection string or an identity reaches it: never the string
    sharedState: cfg.state ? { table: cfg.state.table, connection: cfg.state.source.kind === 'identity' ? `identity (${new URL(cfg.state.source.url).host})` : 'connection string' } : null,
    haDedup: cfg.ha ?? null,
    // Names, clusters and endpoint hosts only: never key hashes or principals.
    tenants: cfg.tenants?.tenants.map((t) => ({ name: t.name, cluster: t.cluster, clusterConflict: t.clusterConflict, endpoints: t.endpoints.map((e) => ({ id: e.id, host: e.host })), identity: t.clientId ? 'userAssigned' : 'relay', limits: t.limits, relabelRules: t.relabelConfigs.length })) ?? null,
  };
}
