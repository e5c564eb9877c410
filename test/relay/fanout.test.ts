// Fan-out to several workspaces: the answer the sender gets for every mix of endpoint
// outcomes, the targeted retry after a partial failure, timeouts, and splitting.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { compressSync } from 'snappy';
import { FAILED_ENDPOINTS_HEADER, ONLY_ENDPOINTS_HEADER } from '../../shared/fanout/fanout';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import type { WriteRequest } from '../../shared/remote-write/model/types';
import { type Harness, REMOTE_WRITE_HEADERS, startHarness } from '../../dev/kit/relay-harness';
import { loadFixtures } from '../../dev/kit/repo';
import { endpointId } from '../../shared/fanout/endpoints';
import { freePort } from '../../dev/kit/ports';

const fixtures = loadFixtures();
const body = fixtures[0].body;

function bigRequest(series: number, t0 = 1_700_000_000_000n): Buffer {
  const req: WriteRequest = { timeseries: [], metadata: [] };
  for (let i = 0; i < series; i++) {
    req.timeseries.push({
      labels: [
        { name: '__name__', value: 'big_metric' },
        { name: 'instance', value: `host-${i}` },
        { name: 'job', value: 'split-test' },
      ],
      samples: [{ value: BigInt(i), timestamp: t0 }],
      exemplars: [],
      histograms: [],
    });
  }
  return encodeWriteRequest(req);
}

describe('fan-out', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('all endpoints accept → 204, each got the data once', async () => {
    h = await startHarness({ workspaces: 3 });
    const res = await h.write(body);
    assert.equal(res.status, 204);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [1, 1, 1],
    );
  });

  test('one endpoint fails → 503 naming only it; the retry with its id reaches only it', async () => {
    h = await startHarness({ workspaces: 2 });
    const [a, b] = h.workspaces;
    b.fault = { status: 500, times: 1 };
    const first = await h.write(body);
    assert.equal(first.status, 503);
    assert.equal(first.headers[FAILED_ENDPOINTS_HEADER], endpointId(b.url));
    assert.match(first.body, /1 of 2 endpoints failed/);
    assert.equal(a.requests.length, 1);

    const retry = await h.write(body, { ...REMOTE_WRITE_HEADERS, [ONLY_ENDPOINTS_HEADER]: first.headers[FAILED_ENDPOINTS_HEADER] });
    assert.equal(retry.status, 204, retry.body);
    assert.equal(a.requests.length, 1, 'the endpoint that succeeded is not written twice');
    assert.equal(b.requests.length, 2);
    assert.equal(b.summary().samples, a.summary().samples);
  });

  test('a plain retry to all endpoints is still 204: the duplicate 422 counts as delivered', async () => {
    h = await startHarness({ workspaces: 2 });
    const [a, b] = h.workspaces;
    b.fault = { status: 503, times: 1 };
    assert.equal((await h.write(body)).status, 503);
    const retry = await h.write(body); // e.g. Prometheus, which does not echo the header
    assert.equal(retry.status, 204, retry.body);
    assert.equal(a.requests.at(-1)?.status, 422);
    assert.equal(b.requests.at(-1)?.status, 200);
  });

  test('unknown ids in X-Relay-Only-Endpoints fall back to every endpoint', async () => {
    h = await startHarness({ workspaces: 2 });
    const res = await h.write(body, { ...REMOTE_WRITE_HEADERS, [ONLY_ENDPOINTS_HEADER]: 'ffffffffff' });
    assert.equal(res.status, 204);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [1, 1],
    );
  });

  test('429 and 503 with Retry-After → 503 with the largest Retry-After (never 429: Prometheus would drop)', async () => {
    h = await startHarness({ workspaces: 2 });
    h.workspaces[0].fault = { status: 429, retryAfterSeconds: 7, times: 1 };
    h.workspaces[1].fault = { status: 503, retryAfterSeconds: 3, times: 1 };
    const res = await h.write(body);
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '7');
    assert.deepEqual(res.headers[FAILED_ENDPOINTS_HEADER].split(',').sort(), h.workspaces.map((w) => endpointId(w.url)).sort());
  });

  test('403 from an endpoint is retryable and logged with what to check', async () => {
    h = await startHarness({ workspaces: 1 });
    h.workspaces[0].fault = { status: 403, times: 1, body: 'Forbidden' };
    const res = await h.write(body);
    assert.equal(res.status, 503);
    const line = h.logs.find((l) => l.includes('level=error'));
    assert.ok(line, 'an error line is logged');
    assert.match(line, /Monitoring Metrics Publisher/);
    assert.match(line, /https:\/\/monitor\.azure\.com\/\.default/);
  });

  test('400 from an endpoint → 400 with its reason', async () => {
    h = await startHarness({ workspaces: 2 });
    h.workspaces[1].fault = { status: 400, times: 1, body: 'out of order sample' };
    const res = await h.write(body);
    assert.equal(res.status, 400);
    assert.match(res.body, /rejected by 127\.0\.0\.1:\d+: out of order sample/);
  });

  test('a slow endpoint fails after UPSTREAM_TIMEOUT without holding up the other', async () => {
    h = await startHarness({ workspaces: 2, env: { UPSTREAM_TIMEOUT: '300ms' } });
    h.workspaces[1].fault = { status: 0, delayMs: 3000, times: 1 };
    const started = Date.now();
    const res = await h.write(body);
    const took = Date.now() - started;
    assert.equal(res.status, 503);
    assert.match(res.body, /no answer within 300 ms/);
    assert.ok(took < 2000, `answered after ${took} ms`);
    assert.equal(h.workspaces[0].requests[0].status, 200);
  });

  test('an unreachable endpoint → 503 network error, the reachable one delivered', async () => {
    const deadUrl = `http://127.0.0.1:${await freePort()}/dataCollectionRules/x/streams/Microsoft-PrometheusMetrics/api/v1/write`;
    h = await startHarnessWith(deadUrl);
    const res = await h.write(body);
    assert.equal(res.status, 503);
    assert.match(res.body, /network error: ECONNREFUSED/);
    assert.equal(h.workspaces[0].requests[0].status, 200);
  });

  test('data over MAX_UPSTREAM_BYTES goes out in several requests and arrives whole', async () => {
    h = await startHarness({ workspaces: 2, env: { MAX_UPSTREAM_BYTES: '16KiB' } });
    const raw = bigRequest(2000);
    const res = await h.write(compressSync(raw));
    assert.equal(res.status, 204, res.body);
    for (const ws of h.workspaces) {
      assert.ok(ws.requests.length >= Math.floor(raw.length / 16384), `${ws.name}: ${ws.requests.length} requests for ${raw.length} bytes`);
      assert.equal(ws.summary().series, 2000);
    }
  });

  test('413 from an endpoint splits the data and resends the parts', async () => {
    h = await startHarness({ workspaces: 2 });
    h.workspaces[0].fault = { status: 413, times: 2 };
    const res = await h.write(compressSync(bigRequest(500)));
    assert.equal(res.status, 204, res.body);
    assert.equal(h.workspaces[0].summary().series, 500);
    assert.ok(h.workspaces[0].requests.length >= 4, `requests: ${h.workspaces[0].requests.length}`);
    assert.equal(h.workspaces[1].requests.length, 1);
  });
});

/** A harness whose endpoints are one fresh emulated workspace plus deadUrl (listed first). */
async function startHarnessWith(deadUrl: string): Promise<Harness> {
  const probe = await startHarness({ workspaces: 1 });
  const live = probe.workspaces[0];
  // Reuse the live workspace emulator with a relay that also lists the dead URL.
  probe.relay.close();
  const h = await startHarness({ workspaces: 0, env: { INGESTION_URL: `${deadUrl},${live.url}` } });
  return {
    ...h,
    workspaces: [live],
    close: async () => {
      await h.close();
      await live.close();
    },
  };
}
