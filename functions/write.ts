// POST /api/v1/write: adapts the Functions HttpRequest to the relay's data path.

import type { HttpHandler, HttpRequest } from '@azure/functions';
import type { Relay } from '../shared/relay/relay';

export function writeHandler(relay: Relay): HttpHandler {
  return async (request: HttpRequest) => {
    const answer = await relay.handleWrite({
      header: (name) => request.headers.get(name),
      body: async () => Buffer.from(await request.arrayBuffer()),
    });
    return { status: answer.status, headers: { 'content-type': 'text/plain; charset=utf-8', ...answer.headers }, body: answer.body };
  };
}
