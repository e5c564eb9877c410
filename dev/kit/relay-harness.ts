// A relay wired to emulated Azure: one managed-identity endpoint emulator per process
// (@azure/identity fixes its managed-identity source per process) and fresh workspace
// emulators per harness. Writes go through the Function's own write handler.

import { randomBytes } from 'node:crypto';
import { HttpRequest, HttpResponse, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { relayRoutes } from '../../functions/routes';
import { loadRelayConfig } from '../../shared/relay/config';
import { createLogger } from '../../shared/observability/log';
import { type PublishLog, createPublishLog } from '../../shared/observability/publish-log';
import { type Telemetry, noTelemetry } from '../../shared/observability/telemetry';
import { type Relay, createRelay } from '../../shared/relay/relay';
import { type IdentityEmulator, startIdentityEmulator } from '../emulators/identity-endpoint';
import { type WorkspaceEmulator, type WorkspaceEmulatorOptions, startWorkspaceEmulator } from '../emulators/workspace';

const KEY = randomBytes(32);
let identity: Promise<IdentityEmulator> | undefined;

/** The process-wide identity emulator, with IDENTITY_ENDPOINT/IDENTITY_HEADER set. */
export function sharedIdentity(): Promise<IdentityEmulator> {
  identity ??= startIdentityEmulator({ key: KEY }).then((emu) => {
    Object.assign(process.env, emu.env());
    emu.server.unref();
    return emu;
  });
  return identity;
}

export interface Harness {
  relay: Relay;
  identity: IdentityEmulator;
  workspaces: WorkspaceEmulator[];
  logs: string[];
  publishLog: PublishLog;
  write(body: Buffer, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, string>; body: string }>;
  health(): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  workspaces?: number;
  /** settings; a function gets the started workspaces (e.g. to build a tenant table) */
  env?: Record<string, string> | ((workspaces: WorkspaceEmulator[]) => Record<string, string>);
  telemetry?: Telemetry;
  /**
   * Options for every workspace emulator, over the harness's defaults. Those lift Azure's
   * 20-minute window (maxAgeMs/maxFutureMs: Infinity): these tests are about what the relay
   * forwards, and most send the captured fixtures (Prometheus 2.42, 2026-11 or earlier) or
   * small fixed timestamps, which Azure would drop as too old after answering 2xx. Order,
   * duplicate and rate rules stay as Azure's. Pass { maxAgeMs: 20 * 60_000 } to get Azure's window.
   */
  workspace?: Partial<WorkspaceEmulatorOptions>;
}

/** See HarnessOptions.workspace. */
export const ANY_TIME: Pick<WorkspaceEmulatorOptions, 'maxAgeMs' | 'maxFutureMs'> = { maxAgeMs: Infinity, maxFutureMs: Infinity };

export const REMOTE_WRITE_HEADERS = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf',
  'x-prometheus-remote-write-version': '0.1.0',
  'user-agent': 'Prometheus/2.42.0+ds',
};

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const id = await sharedIdentity();
  const workspaces: WorkspaceEmulator[] = [];
  for (let i = 0; i < (opts.workspaces ?? 2); i++) {
    workspaces.push(await startWorkspaceEmulator({ key: KEY, audience: 'https://monitor.azure.com', name: `ws${i}`, ...ANY_TIME, ...opts.workspace }));
  }
  const env = {
    INGESTION_URL: workspaces.map((w) => w.url).join(','),
    IDENTITY_TYPE: 'systemAssigned',
    ...(typeof opts.env === 'function' ? opts.env(workspaces) : opts.env),
  };
  const logs: string[] = [];
  const log = createLogger((l) => logs.push(l));
  const publishLog = createPublishLog({ intervalMs: 3_600_000, write: log.line });
  const relay = createRelay(loadRelayConfig(env), { log, telemetry: opts.telemetry ?? noTelemetry, publishLog });
  const routes = relayRoutes(relay);
  const call = async (name: string, req: HttpRequest): Promise<HttpResponseInit> => {
    const route = routes.find((r) => r.name === name)!;
    return await route.handler(req, new InvocationContext({ functionName: name, logHandler: () => undefined }));
  };
  return {
    relay,
    identity: id,
    workspaces,
    logs,
    publishLog,
    async write(body, headers = REMOTE_WRITE_HEADERS) {
      const res = await call('write', new HttpRequest({ method: 'POST', url: 'http://localhost/api/v1/write', headers, body: { bytes: body } }));
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries((res.headers ?? {}) as Record<string, string>)) h[k.toLowerCase()] = v;
      // the Functions library reads any body kind (string, bytes, stream) as the host would
      return { status: res.status ?? 200, headers: h, body: await new HttpResponse({ body: res.body }).text() };
    },
    async health() {
      const res = await call('health', new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }));
      return { status: res.status ?? 200, body: res.jsonBody };
    },
    async close() {
      relay.close();
      await Promise.all(workspaces.map((w) => w.close()));
    },
  };
}
