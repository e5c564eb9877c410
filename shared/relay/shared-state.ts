// What the relay builds on the state all instances share (AzureWebJobsStorage): HA dedup
// (HA_DEDUP=on) and cluster-wide tenant quotas. Nothing when no storage is configured.

import type { RelayConfig } from './config';
import { type HaDedup, createHaDedup } from '../ha/dedup';
import { createHaTracker } from '../ha/tracker';
import { type Logger, throttled } from '../observability/log';
import { openConfiguredStateTable } from '../state/table';
import { type QuotaTenant, type SharedQuotas, startSharedQuotas } from '../tenants/shared-quota';

export interface SharedState {
  ha?: HaDedup;
  quotas?: SharedQuotas;
}

export function startSharedState(cfg: RelayConfig, quotaTenants: readonly QuotaTenant[], log: Logger): SharedState {
  if (!cfg.state) return {};
  const table = openConfiguredStateTable(cfg.state, cfg.identity);
  const warnOnce = throttled(log);
  // a non-elected replica is normal operation: counted (health), not logged
  const ha = cfg.ha
    ? createHaDedup(
        cfg.ha,
        createHaTracker({
          table,
          failoverTimeoutMs: cfg.ha.failoverTimeoutMs,
          onStorageError: (err) =>
            warnOnce('ha:storage', 'warn', 'HA dedup: shared state unreachable; deciding from the cache and accepting what it cannot decide (fail open)', {
              error: err.message,
            }),
          onFailover: (tenant, cluster, from, to) => log.info('HA dedup: failover', { tenant, cluster, from, to }),
        }),
      )
    : undefined;
  const quotas =
    quotaTenants.length > 0
      ? startSharedQuotas({
          table,
          tenants: quotaTenants,
          intervalMs: cfg.state.quotaSyncMs,
          onError: (err) =>
            warnOnce('quota:storage', 'warn', "tenant quotas: shared state unreachable; keeping this instance's last share of each tenant's rate", {
              error: err.message,
            }),
        })
      : undefined;
  return { ha, quotas };
}
