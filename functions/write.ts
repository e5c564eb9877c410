// POST /api/v1/write: adapts the Functions HttpRequest to the relay's data path. The
// body is read from the request stream (HTTP streams mode, functions/index.ts), bounded
// by the relay's own limit, into a buffer leased from the relay's pool (the relay gives
// it back once every upstream request is done with it).

import type { HttpHandler, HttpRequest } from '@azure/functions';
import type { Relay } from '../shared/relay/relay';
import { readStreamBody } from './read-body';

export function writeHandler(relay: Relay): HttpHandler {
  return async (request: HttpRequest) => {
    const answer = await relay.handleWrite({
      header: (name) => request.headers.get(name),
      body: (maxBytes) => readStreamBody(request.body, maxBytes, relay.bodies, declaredLength(request)),
    });
    // 204 carries no body (and so no content type); every other answer a one-line reason
    if (answer.status === 204) return { status: 204, headers: answer.headers };
    return { status: answer.status, headers: { 'content-type': 'text/plain; charset=utf-8', ...answer.headers }, body: answer.body };
  };
}

function declaredLength(request: HttpRequest): number | undefined {
  const v = request.headers.get('content-length');
  const n = v === null ? Number.NaN : Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
