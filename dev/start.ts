// `npm start`: the relay on embedded defaults, nothing to configure. It starts an emulated
// managed-identity endpoint and an emulated workspace, points the relay at them through
// the same settings Azure provides (IDENTITY_ENDPOINT/IDENTITY_HEADER, INGESTION_URL), and
// serves the Function's handlers on PORT (7071). Point Prometheus's remote_write at it.

import { randomBytes } from 'node:crypto';
import { startIdentityEmulator } from './emulators/identity-endpoint';
import { startWorkspaceEmulator } from './emulators/workspace';
import { exitOnConfigError, startRelayHost } from './relay-host';

async function main(): Promise<void> {
  const key = randomBytes(32);
  const identity = await startIdentityEmulator({ key });
  const workspace = await startWorkspaceEmulator({ key, audience: 'https://monitor.azure.com', port: Number(process.env.WORKSPACE_EMULATOR_PORT ?? 9091), name: 'emulated-workspace' });
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
      '  Ctrl+C stops it.',
      '',
    ].join('\n') + '\n',
  );
  const stop = async (): Promise<void> => {
    await relay.close();
    await Promise.all([identity.close(), workspace.close()]);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch(exitOnConfigError);
