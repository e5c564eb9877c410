// `npm run relay`: the Function app's handlers on node:http (PORT, default 7071),
// configured from the environment and local.settings.json like `func start`.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { relayRoutes } from '../functions/routes';
import { describeRelayConfig, loadRelayConfig } from '../shared/relay/config';
import { ConfigError } from '../shared/config/loaders';
import { createLogger } from '../shared/observability/log';
import { type Relay, createRelay } from '../shared/relay/relay';
import { createFunctionHost } from './function-host';
import { applyLocalSettings } from './local-settings';

export interface RunningRelay {
  server: Server;
  relay: Relay;
  url: string;
  close(): Promise<void>;
}

export async function startRelayHost(env: NodeJS.ProcessEnv, port: number): Promise<RunningRelay> {
  const log = createLogger();
  const cfg = loadRelayConfig(env);
  const relay = createRelay(cfg, { log });
  const server = createFunctionHost(relayRoutes(relay), { functionKey: env.DEV_FUNCTION_KEY || undefined, log: log.line });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log.info('relay listening', { url: `${url}/api/v1/write`, config: JSON.stringify(describeRelayConfig(cfg)) });
  return {
    server,
    relay,
    url,
    close: () =>
      new Promise((ok) => {
        relay.close();
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

export function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

if (require.main === module) {
  applyLocalSettings();
  startRelayHost(process.env, Number(process.env.PORT ?? 7071)).catch(exitOnConfigError);
}
