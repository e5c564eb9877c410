// The relay's settings, parsed and checked in one place. Any problem stops start-up
// with a ConfigError listing everything to set. The loaders the forwarder shares
// live in shared/config/loaders.ts.

import { type Endpoint, parseEndpoints } from '../fanout/endpoints';
import { type IdentityConfig, describeIdentity, loadIdentityConfig } from '../identity/identity-config';
import type { SeriesLimits } from '../remote-write/validate';
import { formatBytes, parsePositiveDuration } from '../config/parse';
import {
  ConfigError,
  type SizeLimits,
  describeNative,
  loadNativeFastPath,
  loadRelabelRules,
  loadSeriesLimits,
  loadSizeLimits,
  parsed,
} from '../config/loaders';
import { type Env, settingValue } from '../config/settings';
import { type TenantTable, loadTenantTable } from '../tenants/tenants';
import type { RelabelRule } from '../relabel/config';
import { type HaConfig, type StateConfig, loadHaConfig, loadStateConfig } from '../state/state-config';

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

/** The cluster label's value obeys the same limit as any label value. */
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
    sharedState: cfg.state
      ? { table: cfg.state.table, connection: cfg.state.source.kind === 'identity' ? `identity (${new URL(cfg.state.source.url).host})` : 'connection string' }
      : null,
    haDedup: cfg.ha ?? null,
    // Names, clusters and endpoint hosts only: never key hashes or principals.
    tenants:
      cfg.tenants?.tenants.map((t) => ({
        name: t.name,
        cluster: t.cluster,
        clusterConflict: t.clusterConflict,
        endpoints: t.endpoints.map((e) => ({ id: e.id, host: e.host })),
        identity: t.clientId ? 'userAssigned' : 'relay',
        limits: t.limits,
        relabelRules: t.relabelConfigs.length,
      })) ?? null,
  };
}
