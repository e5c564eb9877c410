// The relay's data path (createRelay().handleWrite) behind a bare node:http server,
// without dev/function-host.ts and the @azure/functions HttpRequest/HttpResponse
// adapter: `node dist/bench/relay-bare.js` with the relay host's environment
// (PORT, INGESTION_URL, IDENTITY_TYPE, CLUSTER). Measured beside the relay host to
// show what the host adapter costs per sample (bench/README.md).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadRelayConfig } from '../shared/config/relay-config';
import { createLogger } from '../shared/observability/log';
import { createRelay } from '../shared/relay/relay';
import { readBody } from '../dev/function-host';

if (require.main === module) {
  const relay = createRelay(loadRelayConfig(process.env), { log: createLogger(() => undefined) });
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(relay.health()));
      return;
    }
    void readBody(req, Number.MAX_SAFE_INTEGER).then((body) => {
      relay
        .handleWrite({
          header: (name) => {
            const v = req.headers[name.toLowerCase()];
            return Array.isArray(v) ? v.join(', ') : v;
          },
          body: async () => body ?? Buffer.alloc(0),
        })
        .then(
          (a) => {
            res.writeHead(a.status, { 'content-type': 'text/plain; charset=utf-8', ...a.headers });
            res.end(a.body);
          },
          (err: Error) => {
            res.writeHead(500).end(err.message);
          },
        );
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
