// Emulates the managed-identity endpoint App Service and Azure Functions provide
// (IDENTITY_ENDPOINT / IDENTITY_HEADER, api-version 2019-08-01), so the real
// @azure/identity ManagedIdentityCredential runs against it unchanged.

import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signToken } from './emulator-token';

export interface IdentityEmulatorOptions {
  /** key shared with the workspace emulator */
  key: Buffer;
  port?: number;
  /** lifetime of issued tokens; Azure managed-identity tokens live about 24 h */
  tokenLifetimeSeconds?: number;
}

export interface IdentityRequest {
  resource: string;
  clientId?: string;
  at: number;
}

export interface IdentityEmulator {
  server: Server;
  /** the value for IDENTITY_ENDPOINT */
  endpoint: string;
  /** the value for IDENTITY_HEADER */
  header: string;
  /** every token request served or refused */
  requests: IdentityRequest[];
  /** answer 500 until this epoch ms (fault injection) */
  failUntil: number;
  tokenLifetimeSeconds: number;
  /** env vars that point @azure/identity here */
  env(): Record<string, string>;
  close(): Promise<void>;
}

export async function startIdentityEmulator(opts: IdentityEmulatorOptions): Promise<IdentityEmulator> {
  const header = randomBytes(16).toString('hex');
  const emu: IdentityEmulator = {
    server: undefined as unknown as Server,
    endpoint: '',
    header,
    requests: [],
    failUntil: 0,
    tokenLifetimeSeconds: opts.tokenLifetimeSeconds ?? 86_400,
    env: () => ({ IDENTITY_ENDPOINT: emu.endpoint, IDENTITY_HEADER: header }),
    close: () =>
      new Promise((ok) => {
        emu.server.close(() => ok());
        emu.server.closeAllConnections();
      }),
  };

  emu.server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/msi/token') return json(404, { error: 'not_found' });
    if (req.headers['x-identity-header'] !== header) return json(401, { error: 'invalid_request', error_description: 'X-IDENTITY-HEADER missing or wrong' });
    const resource = url.searchParams.get('resource');
    if (url.searchParams.get('api-version') !== '2019-08-01' || !resource) {
      return json(400, { error: 'invalid_request', error_description: 'need api-version=2019-08-01 and resource' });
    }
    const clientId = url.searchParams.get('client_id') ?? undefined;
    emu.requests.push({ resource, clientId, at: Date.now() });
    if (Date.now() < emu.failUntil) return json(500, { error: 'service_unavailable', error_description: 'emulated identity endpoint outage' });
    const exp = Math.floor(Date.now() / 1000) + emu.tokenLifetimeSeconds;
    json(200, {
      access_token: signToken({ aud: resource, exp, sub: clientId ?? 'system' }, opts.key),
      expires_on: String(exp),
      not_before: String(exp - emu.tokenLifetimeSeconds),
      resource,
      token_type: 'Bearer',
      client_id: clientId ?? '00000000-0000-0000-0000-000000000000',
    });
  });
  await new Promise<void>((ok) => emu.server.listen(opts.port ?? 0, '127.0.0.1', ok));
  emu.endpoint = `http://127.0.0.1:${(emu.server.address() as AddressInfo).port}/msi/token`;
  return emu;
}
