// GET /api/health (anonymous): what the relay is configured to do, without secrets.

import type { HttpHandler } from '@azure/functions';
import type { Relay } from '../shared/relay/relay';

export function healthHandler(relay: Relay): HttpHandler {
  return async () => ({ status: 200, jsonBody: relay.health() });
}
