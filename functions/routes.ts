// The Function app's HTTP surface as data: one table that functions/index.ts registers
// with the Functions host and dev/relay-host.ts serves over node:http.

import type { HttpHandler } from '@azure/functions';
import type { Relay } from '../shared/relay/relay';
import { healthHandler } from './health';
import { writeHandler } from './write';

export interface RouteSpec {
  name: string;
  methods: ('GET' | 'POST')[];
  authLevel: 'anonymous' | 'function';
  /** under the `api` route prefix (host.json) */
  route: string;
  handler: HttpHandler;
}

export function relayRoutes(relay: Relay): RouteSpec[] {
  return [
    { name: 'write', methods: ['POST'], authLevel: relay.authLevel, route: 'v1/write', handler: writeHandler(relay) },
    { name: 'health', methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: healthHandler(relay) },
  ];
}
