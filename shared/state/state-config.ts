// Where the shared state lives (AzureWebJobsStorage, as the Functions host itself reads
// it) and the HA dedup settings. Problems are collected like every other setting's.

import { ConfigProblem, parsePositiveDuration } from '../config/parse';
import { type Env, settingValue } from '../config/settings';
import type { IdentityConfig } from '../identity/identity-config';

export type StateSource = { kind: 'connectionString'; value: string } | { kind: 'identity'; url: string };

export interface StateConfig {
  source: StateSource;
  table: string;
  timeoutMs: number;
  quotaSyncMs: number;
}

export interface HaConfig {
  clusterLabel: string;
  replicaLabel: string;
  failoverTimeoutMs: number;
}

export function loadStateConfig(env: Env, identity: IdentityConfig, problems: string[]): StateConfig | undefined {
  const conn = settingValue(env, 'AzureWebJobsStorage');
  const account = settingValue(env, 'AzureWebJobsStorage__accountName');
  const uri = settingValue(env, 'AzureWebJobsStorage__tableServiceUri');
  let source: StateSource | undefined;
  if (conn !== undefined) source = { kind: 'connectionString', value: conn };
  else if (uri !== undefined || account !== undefined) {
    const url = uri ?? `https://${account}.table.core.windows.net`;
    if (!/^https:\/\/[^/]/.test(url) || !URL.canParse(url)) problems.push(`AzureWebJobsStorage__tableServiceUri must be an https:// URL, not "${url}"`);
    if (identity.type === 'none')
      problems.push(
        'an identity-based AzureWebJobsStorage connection needs an identity: set IDENTITY_TYPE (not none), or give AzureWebJobsStorage a connection string',
      );
    source = { kind: 'identity', url };
  }
  if (!source) return undefined;
  const table = settingValue(env, 'STATE_TABLE')!;
  if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(table))
    problems.push(`STATE_TABLE "${table}" is not a table name: 3 to 63 letters and digits, starting with a letter`);
  return { source, table, timeoutMs: duration(env, 'STATE_TIMEOUT', problems), quotaSyncMs: duration(env, 'QUOTA_SYNC_INTERVAL', problems) };
}

/** undefined when HA_DEDUP is off. */
export function loadHaConfig(env: Env, state: StateConfig | undefined, problems: string[]): HaConfig | undefined {
  const mode = settingValue(env, 'HA_DEDUP')!.toLowerCase();
  if (mode !== 'on' && mode !== 'off') problems.push(`HA_DEDUP must be on or off, not "${mode}"`);
  if (mode !== 'on') return undefined;
  if (!state)
    problems.push(
      'HA_DEDUP=on needs shared state: set AzureWebJobsStorage (a connection string, `UseDevelopmentStorage=true` for Azurite) or AzureWebJobsStorage__accountName',
    );
  const clusterLabel = settingValue(env, 'HA_CLUSTER_LABEL')!;
  const replicaLabel = settingValue(env, 'HA_REPLICA_LABEL')!;
  for (const [name, v] of [
    ['HA_CLUSTER_LABEL', clusterLabel],
    ['HA_REPLICA_LABEL', replicaLabel],
  ]) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(v)) problems.push(`${name} "${v}" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)`);
  }
  if (clusterLabel === replicaLabel) problems.push(`HA_CLUSTER_LABEL and HA_REPLICA_LABEL are both "${clusterLabel}": they must differ`);
  const failoverTimeoutMs = duration(env, 'HA_FAILOVER_TIMEOUT', problems);
  if (failoverTimeoutMs < 3000)
    problems.push(`HA_FAILOVER_TIMEOUT must be at least 3s (the election is refreshed every half of it), not ${failoverTimeoutMs} ms`);
  return { clusterLabel, replicaLabel, failoverTimeoutMs };
}

function duration(env: Env, name: string, problems: string[]): number {
  const raw = settingValue(env, name)!;
  try {
    return parsePositiveDuration(raw);
  } catch (err) {
    if (!(err instanceof ConfigProblem)) throw err;
    problems.push(`${name}: ${err.message}`);
    return parsePositiveDuration(settingValue({}, name)!);
  }
}
