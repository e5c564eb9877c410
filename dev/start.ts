// `npm start`: the relay on embedded defaults, nothing to configure. It starts an emulated
// managed-identity endpoint, an emulated workspace and Azurite (the storage emulator, for
// the state instances share), points the relay at them through the same settings Azure
// provides (IDENTITY_ENDPOINT/IDENTITY_HEADER, INGESTION_URL, AzureWebJobsStorage), and
// serves the Function's handlers on PORT (7071). Point Prometheus's remote_write at it.
// Dev settings, not product settings (so not in shared/config/settings.ts): PORT,
// WORKSPACE_EMULATOR_PORT, AZURITE_TABLE_PORT (default 10002, Azurite's own), and
// WORKSPACE_EMULATOR_MAX_AGE / _MAX_REQUESTS_PER_MINUTE, which loosen the emulated
// workspace's Azure rules (defaults: Azure's 20 min and 15 000). An AzureWebJobsStorage
// already set is used as it is, and no Azurite is started.

import { randomBytes } from 'node:crypto';
import { type Azurite, startAzurite } from './emulators/azurite';
import { startIdentityEmulator } from './emulators/identity-endpoint';
import { ConfigProblem, parseDuration, parsePositiveInt } from '../shared/config/parse';
import { ConfigError } from '../shared/config/loaders';
import { createLogger } from '../shared/observability/log';
import { type WorkspaceEmulatorOptions, startWorkspaceEmulator } from './emulators/workspace';
import { exitOnConfigError, startRelayHost } from './relay-host';

/** The emulated workspace's Azure rules from the environment; unset: Azure's. */
export function workspaceRulesFromEnv(env: NodeJS.ProcessEnv): Pick<WorkspaceEmulatorOptions, 'maxAgeMs' | 'maxRequestsPerMinute'> {
  const problems: string[] = [];
  const read = <T>(name: string, parse: (raw: string) => T): T | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    try {
      return parse(raw);
    } catch (err) {
      if (!(err instanceof ConfigProblem)) throw err;
      problems.push(`${name}: ${err.message}`);
      return undefined;
    }
  };
  const out = {
    maxAgeMs: read('WORKSPACE_EMULATOR_MAX_AGE', parseDuration),
    maxRequestsPerMinute: read('WORKSPACE_EMULATOR_MAX_REQUESTS_PER_MINUTE', parsePositiveInt),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

async function main(): Promise<void> {
  const rules = workspaceRulesFromEnv(process.env);
  const key = randomBytes(32);
  const log = createLogger();
  // Azurite takes a second or two to load: it starts alongside the other emulators
  const ownStorage = process.env.AzureWebJobsStorage ? undefined : startAzurite({ port: Number(process.env.AZURITE_TABLE_PORT ?? 10002) });
  const [identity, workspace, azurite] = await Promise.all([
    startIdentityEmulator({ key }),
    startWorkspaceEmulator({
      key,
      audience: 'https://monitor.azure.com',
      port: Number(process.env.WORKSPACE_EMULATOR_PORT ?? 9091),
      name: 'emulated-workspace',
      ...rules,
      warn: (m) => log.warn(m),
    }),
    ownStorage,
  ]);
  if (azurite) process.env.AzureWebJobsStorage = azurite.connectionString;
  Object.assign(process.env, identity.env(), {
    INGESTION_URL: workspace.url,
    IDENTITY_TYPE: 'systemAssigned',
    CLOUD: 'AZUREPUBLIC',
    CLUSTER: process.env.CLUSTER ?? 'local-dev',
  });
  delete process.env.INGESTION_AAD_AUDIENCE;
  const relay = await startRelayHost(process.env, Number(process.env.PORT ?? 7071));
  const base = new URL(workspace.url).origin;
  process.stdout.write(
    [
      '',
      'Relay running on embedded defaults (emulated identity endpoint and workspace):',
      `  remote_write url:   ${relay.url}/api/v1/write`,
      `  health:             ${relay.url}/api/health`,
      `  received data:      ${base}/emulator/summary  and  ${base}/emulator/series?match=up`,
      `  dropped as Azure:   ${base}/emulator/metrics  (older than ${fmtMinutes(rules.maxAgeMs ?? 20 * 60_000)} or out of order: answered 2xx, then dropped)`,
      `  shared state:       ${describeStorage(azurite)}  (HA_DEDUP=on deduplicates Prometheus HA pairs: docs/ha.md)`,
      '  Ctrl+C stops it.',
      '',
    ].join('\n') + '\n',
  );
  const stop = async (): Promise<void> => {
    await relay.close();
    await Promise.all([identity.close(), workspace.close(), azurite?.stop()]);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

function describeStorage(azurite: Azurite | undefined): string {
  return azurite ? `Azurite table service on 127.0.0.1:${azurite.port} (in memory)` : 'AzureWebJobsStorage as set';
}

function fmtMinutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

if (require.main === module) main().catch(exitOnConfigError);
