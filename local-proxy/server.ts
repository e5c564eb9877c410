// The forwarder's HTTP surface on node:http. Routes only adapt sockets to handlers:
//   POST /api/v1/write   remote-write 1.0 → accept.ts
//   GET  /health         liveness: the process answers
//   GET  /ready          readiness: spool writable, upstream configured, token obtainable
//   GET  /metrics        prom-client text format

import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Answer, WriteHandler } from './accept';
import { asError } from '../shared/errors';
import { type BufferPool, collectBody, createBufferPool } from '../shared/buffers/pool';

export interface Routes {
  write: WriteHandler;
  health(): Answer;
  ready(): Promise<Answer>;
  metrics(): Promise<{ contentType: string; body: string }>;
  onError(err: Error): void;
}

const WRITE_PATH = '/api/v1/write';

export function createForwarderServer(routes: Routes): Server {
  // Request bodies, reused once answered: a burst of writes otherwise leaves its bodies to the
  // next scavenge, tens of MiB at 1 M samples/s (the spool copies what it keeps in memory).
  const bodies = createBufferPool({ classSteps: 4, maxIdleBytes: 16 * 1024 * 1024 });
  const server = createServer((req, res) => {
    void serve(routes, bodies, req, res).catch((err: unknown) => {
      routes.onError(asError(err));
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  // Prometheus reuses connections: keep idle ones longer than Node's 5 s default so it
  // does not reconnect between sends (shutdown closes idle ones explicitly).
  server.keepAliveTimeout = 65_000;
  return server;
}

async function serve(routes: Routes, bodies: BufferPool, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  if (path === WRITE_PATH) {
    if (method !== 'POST') return send(res, { status: 405, headers: { allow: 'POST' }, body: `method ${method} not allowed: remote-write is POST\n` });
    let body: Buffer | undefined;
    let answer: Answer;
    try {
      answer = await routes.write({
        header: (name) => {
          const v = req.headers[name.toLowerCase()];
          return Array.isArray(v) ? v.join(', ') : v;
        },
        body: async (maxBytes) => (body = await readBody(req, maxBytes, bodies)),
      });
    } finally {
      // answered: admission and the spool's write are done with it
      if (body) bodies.release(body);
    }
    if (!req.complete) req.resume(); // refused before reading: drain so the connection can be reused
    return send(res, answer);
  }
  if (method !== 'GET' && method !== 'HEAD') return send(res, { status: 405, headers: { allow: 'GET' }, body: `method ${method} not allowed\n` });
  if (path === '/health' || path === '/healthz') return send(res, routes.health());
  if (path === '/ready' || path === '/readyz') return send(res, await routes.ready());
  if (path === '/metrics') {
    const m = await routes.metrics();
    return send(res, { status: 200, headers: { 'content-type': m.contentType }, body: m.body });
  }
  send(res, { status: 404, headers: {}, body: `nothing at ${path}: the forwarder serves POST /api/v1/write, GET /health, /ready, /metrics\n` });
}

function send(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, { 'content-type': 'text/plain; charset=utf-8', ...a.headers });
  res.end(a.status === 204 ? undefined : a.body);
}

/**
 * The whole body, leased from `pool` (the caller releases it), or undefined once it passes
 * maxBytes (the rest is drained, not kept).
 */
export function readBody(req: IncomingMessage, maxBytes: number, pool: BufferPool): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? -1);
  if (declared > maxBytes) return Promise.resolve(undefined);
  const collector = collectBody(pool, maxBytes, declared);
  return new Promise((resolve, reject) => {
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      if (!collector.add(chunk)) {
        over = true;
        resolve(undefined); // answer now; the rest drains
      }
    });
    req.on('end', () => {
      if (!over) resolve(collector.finish());
    });
    req.on('error', (err) => {
      collector.abandon();
      reject(err);
    });
  });
}
