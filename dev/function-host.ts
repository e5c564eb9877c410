// A thin stand-in for the Azure Functions host: serves RouteSpecs over node:http under
// /api, building the same HttpRequest/InvocationContext objects the host would. It adapts
// sockets to handlers and nothing more — no second implementation of any route.
// The Function app runs in HTTP streams mode (functions/index.ts), so requests are built
// as @azure/functions builds them in that mode: a fetch Request whose body is the
// incoming socket stream (createStreamRequest in the library), not a buffered copy.

import { randomUUID, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { HttpRequest, type HttpRequestInit, HttpResponse, InvocationContext } from '@azure/functions';
import type { RouteSpec } from '../functions/routes';
import { asError } from '../shared/errors';

export interface FunctionHostOptions {
  routePrefix?: string;
  /** the host's own body cap (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, ~100 MB by default) */
  maxRequestBytes?: number;
  /** when set, authLevel "function" routes need it as x-functions-key or ?code= (func start checks no key) */
  functionKey?: string;
  log?: (line: string) => void;
}

export function createFunctionHost(routes: readonly RouteSpec[], opts: FunctionHostOptions = {}): Server {
  const prefix = `/${opts.routePrefix ?? 'api'}/`;
  const maxRequestBytes = opts.maxRequestBytes ?? 100 * 1024 * 1024;
  const byPath = new Map(routes.map((r) => [`${prefix}${r.route}`, r]));

  return createServer((req, res) => {
    void serve(req, res).catch((err: unknown) => {
      opts.log?.(`time="${new Date().toISOString()}" level=error msg="handler failed" error=${JSON.stringify(asError(err).message)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Routing looks at the path only; the URL is parsed in full by the Request below, as the
    // library builds it (`${proto}://${host}${url}`), and here only to read ?code=.
    const rawUrl = req.url ?? '/';
    const pathname = rawUrl.split('?')[0];
    const route = byPath.get(pathname.replace(/\/+$/, ''));
    if (!route) return plain(res, 404, `no function at ${pathname}`);
    if (!route.methods.includes((req.method ?? 'GET') as 'GET' | 'POST')) {
      res.setHeader('allow', route.methods.join(', '));
      return plain(res, 405, `method ${req.method} not allowed on ${pathname}`);
    }
    const href = `http://${req.headers.host ?? 'localhost'}${rawUrl}`;
    if (route.authLevel === 'function' && opts.functionKey && !keyMatches(req, href, opts.functionKey)) {
      return plain(res, 401, 'missing or wrong function key (x-functions-key header or ?code=)');
    }
    const overLimit = () => plain(res, 413, `request body over the host limit of ${maxRequestBytes} bytes`);
    if (Number(req.headers['content-length'] ?? -1) > maxRequestBytes) {
      req.resume();
      return overLimit();
    }
    // With a Content-Length (checked above) the socket stream itself is the body, as the
    // library passes it; a chunked body is counted on its way through.
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : req.headers['content-length'] !== undefined ? req : capped(req, maxRequestBytes);

    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const nativeRequest = new Request(href, { method: req.method ?? 'GET', headers, body, duplex: 'half' });
    // nativeRequest is how the library itself builds stream-mode requests; it is not in
    // the public HttpRequestInit type (the version is pinned, and test/dev covers it).
    const request = new HttpRequest({ nativeRequest, params: {} } as HttpRequestInit);
    const context = new InvocationContext({ functionName: route.name, invocationId: randomUUID(), logHandler: () => undefined });
    let result: Awaited<ReturnType<RouteSpec['handler']>>;
    try {
      result = await route.handler(request, context);
    } catch (err) {
      if (err instanceof HostLimitError) return overLimit();
      throw err;
    }
    // the answer goes out as the library's sendProxyResponse writes it in streams mode
    const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
    res.statusCode = response.status;
    for (const [k, v] of response.headers.entries()) res.setHeader(k, v);
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
    }
    res.end();
  }
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

function keyMatches(req: IncomingMessage, href: string, key: string): boolean {
  const given = (req.headers['x-functions-key'] as string | undefined) ?? new URL(href).searchParams.get('code') ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

class HostLimitError extends Error {}

/** The request's chunks, failing once they pass the host's limit (a body without Content-Length). */
async function* capped(req: IncomingMessage, maxBytes: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HostLimitError(`request body over the host limit of ${maxBytes} bytes`);
    yield chunk;
  }
}
