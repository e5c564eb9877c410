// What the fuzz test and `npm run fuzz` share: the relay's settings under fuzz, the
// generator's context (captures, limits), and the HTTP targets: the dev Function host
// serving the harness's relay, and the forwarder's node:http server with a stub write
// route (its own body reader and limits; slow-loris is a matter of the socket layer).

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFunctionHost } from '../../function-host';
import { relayRoutes } from '../../../functions/routes';
import { type Routes, createForwarderServer } from '../../../local-proxy/server';
import { loadRelayConfig } from '../../../shared/relay/config';
import { type Harness, REMOTE_WRITE_HEADERS } from '../relay-harness';
import { loadFixtures } from '../repo';
import { type FuzzContext, prepareFixtures } from './cases';
import { type HttpTarget, type ServerTimeouts, serverTimeouts, setServerTimeouts } from './http-cases';

/** Relay settings under fuzz: the defaults (limits included), plus a cluster label so the rewrite runs too. */
export const FUZZ_ENV: Record<string, string> = { CLUSTER: 'fuzz' };

export function fuzzContext(env: Record<string, string> = FUZZ_ENV): FuzzContext {
  const cfg = loadRelayConfig({ ...env, INGESTION_URL: 'http://127.0.0.1:9/api/v1/write', IDENTITY_TYPE: 'none' });
  return {
    fixtures: prepareFixtures(loadFixtures()),
    cfg: { maxBodyBytes: cfg.sizes.maxBodyBytes, maxDecodedBytes: cfg.sizes.maxDecodedBytes, limits: cfg.limits, cluster: cfg.cluster },
  };
}

/** Short timeouts for the slow-loris cases: the same mechanism as in production, scaled down. */
export const TEST_TIMEOUTS: ServerTimeouts = { headersTimeout: 1000, requestTimeout: 2000, connectionsCheckingInterval: 250 };

export interface HttpTargets {
  targets: { target: HttpTarget; timeouts: ServerTimeouts }[];
  /** lines the dev host logged for handlers that failed (e.g. a client gone mid-body) */
  hostErrors: string[];
  close(): Promise<void>;
}

/** The forwarder's routes with a stub write: its own body reader and limit, 204 for any body within it. */
export function stubForwarderRoutes(maxBodyBytes: number, onError: (err: Error) => void = () => undefined): Routes {
  return {
    write: async (input) => {
      const body = await input.body(maxBodyBytes);
      return body === undefined ? { status: 413, headers: {}, body: 'too large\n' } : { status: 204, headers: {}, body: '' };
    },
    health: () => ({ status: 200, headers: {}, body: 'ok\n' }),
    ready: async () => ({ status: 200, headers: {}, body: 'ready\n' }),
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    onError,
  };
}

/** Starts both servers; `timeouts` undefined keeps each server's own (production) settings. */
export async function startHttpTargets(h: Harness, ctx: FuzzContext, timeouts: ServerTimeouts | undefined): Promise<HttpTargets> {
  const hostErrors: string[] = [];
  const host = createFunctionHost(relayRoutes(h.relay), { log: (l) => hostErrors.push(l) });
  const proxy = createForwarderServer(stubForwarderRoutes(ctx.cfg.maxBodyBytes, (err) => hostErrors.push(`forwarder: ${err.message}`)));
  const servers: [string, Server, string][] = [
    ['dev Function host (relay)', host, '/api/v1/write'],
    ['forwarder server (stub route)', proxy, '/api/v1/write'],
  ];
  const fixture = ctx.fixtures[0];
  const targets: HttpTargets['targets'] = [];
  for (const [name, server, path] of servers) {
    if (timeouts) setServerTimeouts(server, timeouts);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    targets.push({ target: { name, port, path, validBody: fixture.body, validHeaders: REMOTE_WRITE_HEADERS }, timeouts: serverTimeouts(server) });
  }
  return {
    targets,
    hostErrors,
    close: async () => {
      await Promise.all(
        servers.map(
          ([, s]) =>
            new Promise<void>((ok) => {
              s.close(() => ok());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
