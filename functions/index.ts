// Function app entry point (package.json "main"): builds the relay from the app settings
// once per instance — a misconfiguration throws here, at start-up, with what to set —
// and registers the routes with the Functions host.

import { app } from '@azure/functions';
import { loadRelayConfig } from '../shared/relay/config';
import { createRelay } from '../shared/relay/relay';
import { relayRoutes } from './routes';

// HTTP streams: the host proxies the request to the worker instead of copying the whole
// body through its gRPC channel, and the write route reads it bounded, chunk by chunk.
// Microsoft's recommendation for large bodies; needs Functions runtime 4.28+.
app.setup({ enableHttpStream: true });

const relay = createRelay(loadRelayConfig(process.env));

for (const r of relayRoutes(relay)) {
  app.http(r.name, { methods: r.methods, authLevel: r.authLevel, route: r.route, handler: r.handler });
}
