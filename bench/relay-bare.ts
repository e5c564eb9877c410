// The relay's data path (createRelay().handleWrite) behind a bare node:http server,
// without dev/function-host.ts and the @azure/functions HttpRequest/HttpResponse
// adapter: `node dist/bench/relay-bare.js` with the relay host's environment
// (PORT, INGESTION_URL, IDENTITY_TYPE, CLUSTER). Measured beside the relay host to
// show what the host adapter costs per sample (bench/README.md).
//
// RELAY_STAGE cuts the data path short, to attribute its cost stage by stage behind the
// same server: `forward` only fans the received bytes out with the relay's own fan-out
// (HTTP in, two HTTP requests out: the floor), `decompress` also decompresses them,
// `validate` also validates them the JS way, `native` instead checks them with the native
// fast path (which also decompresses). Unset: the whole relay.

import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadRelayConfig } from '../shared/relay/config';
import { fanout } from '../shared/fanout/fanout';
import { createLogger } from '../shared/observability/log';
import { type WriteAnswer, createRelay } from '../shared/relay/relay';
import { createFastScanner, nativeStatus } from '../shared/remote-write/native';
import { decompressBounded } from '../shared/remote-write/snappy';
import { validateWriteRequest } from '../shared/remote-write/validate';
import { USER_AGENT } from '../shared/version';
import { type BufferPool, collectBody, createBufferPool } from '../shared/buffers/pool';
import { asError } from '../shared/errors';

export type RelayStage = 'forward' | 'decompress' | 'validate' | 'native';

type Handle = (req: IncomingMessage) => Promise<WriteAnswer>;

function stageHandler(stage: RelayStage): Handle {
  const cfg = loadRelayConfig(process.env);
  const opts = { maxUpstreamBytes: cfg.sizes.maxUpstreamBytes, timeoutMs: cfg.upstreamTimeoutMs, userAgent: USER_AGENT };
  const fast = stage === 'native' ? createFastScanner(cfg.limits, cfg.sizes.maxDecodedBytes, cfg.cluster, false) : undefined;
  if (stage === 'native' && !fast) throw new Error(`RELAY_STAGE=native but the native module did not load: ${nativeStatus().reason}`);
  const pool = createBufferPool();
  return async (req) => {
    const body = await readPooled(req, pool);
    let samples = 0;
    if (fast) {
      const scan = fast.scan(body);
      if (!scan) throw new Error('the native fast path deferred a bench request');
      samples = scan.samples;
    } else if (stage !== 'forward') {
      const raw = decompressBounded(body, cfg.sizes.maxDecodedBytes);
      if (stage === 'validate') samples = validateWriteRequest(raw, cfg.limits, cfg.cluster).samples;
    }
    // raw is only read to split an oversized request: these bodies never are
    const outcomes = await fanout(cfg.endpoints, { raw: Buffer.alloc(0), original: body, samples }, opts);
    pool.release(body); // the fan-out has settled: its sends are done with the body
    const failed = outcomes.filter((o) => o.kind !== 'delivered');
    return failed.length === 0 ? { status: 204, headers: {}, body: '' } : { status: 503, headers: {}, body: failed.map((o) => o.kind).join(',') };
  };
}

function relayHandler(): Handle {
  const relay = createRelay(loadRelayConfig(process.env), { log: createLogger(() => undefined) });
  return (req) =>
    relay.handleWrite({
      header: (name) => {
        const v = req.headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      // read into the relay's pool, as functions/write.ts does: the relay gives it back
      body: () => readPooled(req, relay.bodies),
    });
}

async function readPooled(req: IncomingMessage, pool: BufferPool): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  const collector = collectBody(pool, Number.MAX_SAFE_INTEGER, Number.isSafeInteger(declared) ? declared : undefined);
  for await (const chunk of req as AsyncIterable<Buffer>) collector.add(chunk);
  return collector.finish();
}

if (require.main === module) {
  const stage = process.env.RELAY_STAGE as RelayStage | undefined;
  const handle = stage ? stageHandler(stage) : relayHandler();
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    void handle(req).then(
      (a) => {
        res.writeHead(a.status, { 'content-type': 'text/plain; charset=utf-8', ...a.headers });
        res.end(a.body);
      },
      (err: unknown) => {
        res.writeHead(500).end(asError(err).message);
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
