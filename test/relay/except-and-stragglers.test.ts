// Relay mode free of the slowest workspace (issue #11): a sender leaves out endpoints it
// delivers to another way (X-Relay-Except-Endpoints), and may ask the relay to stop
// waiting for an endpoint once another has delivered (X-Relay-Straggler-Timeout). Both
// keep the targeted retry's promise: each workspace gets each batch once when all goes well.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { endpointId } from '../../shared/fanout/endpoints';
import {
  EXCEPT_ENDPOINTS_HEADER,
  FAILED_ENDPOINTS_HEADER,
  ONLY_ENDPOINTS_HEADER,
  STRAGGLER_TIMEOUT_HEADER,
  parseStragglerTimeout,
} from '../../shared/fanout/fanout';
import { type Harness, REMOTE_WRITE_HEADERS, startHarness } from '../../dev/kit/relay-harness';
import { loadFixtures } from '../../dev/kit/repo';

const body = loadFixtures()[0].body;

const withHeaders = (extra: Record<string, string>): Record<string, string> => ({ ...REMOTE_WRITE_HEADERS, ...extra });

describe('X-Relay-Except-Endpoints', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('leaves the named endpoint out, the others get the data once', async () => {
    h = await startHarness({ workspaces: 3 });
    const res = await h.write(body, withHeaders({ [EXCEPT_ENDPOINTS_HEADER]: endpointId(h.workspaces[1].url) }));
    assert.equal(res.status, 204, res.body);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [1, 0, 1],
    );
  });

  test('with X-Relay-Only-Endpoints: only minus except; unknown ids in Only still mean all', async () => {
    h = await startHarness({ workspaces: 3 });
    const [a, b, c] = h.workspaces.map((w) => endpointId(w.url));
    const res = await h.write(body, withHeaders({ [ONLY_ENDPOINTS_HEADER]: `${a},${b}`, [EXCEPT_ENDPOINTS_HEADER]: b }));
    assert.equal(res.status, 204, res.body);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [1, 0, 0],
    );

    const unknownOnly = await h.write(body, withHeaders({ [ONLY_ENDPOINTS_HEADER]: 'ffffffffff', [EXCEPT_ENDPOINTS_HEADER]: ` ${c} ` }));
    assert.equal(unknownOnly.status, 204, unknownOnly.body);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [2, 1, 0],
    );
  });

  test('unknown ids are ignored', async () => {
    h = await startHarness({ workspaces: 2 });
    const res = await h.write(body, withHeaders({ [EXCEPT_ENDPOINTS_HEADER]: 'ffffffffff,,0000000000' }));
    assert.equal(res.status, 204, res.body);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [1, 1],
    );
  });

  test('every endpoint left out → 204 with no upstream request and no token fetched', async () => {
    h = await startHarness({ workspaces: 2 });
    const all = h.workspaces.map((w) => endpointId(w.url)).join(',');
    const res = await h.write(body, withHeaders({ [EXCEPT_ENDPOINTS_HEADER]: all }));
    assert.equal(res.status, 204, res.body);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [0, 0],
    );
    const health = (await h.health()).body as { token: { requests: number } };
    assert.equal(health.token.requests, 0, 'no token was requested');
    // Only and Except naming the same endpoint: nothing left either
    const a = endpointId(h.workspaces[0].url);
    const again = await h.write(body, withHeaders({ [ONLY_ENDPOINTS_HEADER]: a, [EXCEPT_ENDPOINTS_HEADER]: a }));
    assert.equal(again.status, 204);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.length),
      [0, 0],
    );
  });
});

describe('X-Relay-Straggler-Timeout', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('a hanging endpoint is cut off soon after the other delivered; the retry reaches only it', async () => {
    h = await startHarness({ workspaces: 2 });
    const [a, b] = h.workspaces;
    b.fault = { status: 0, delayMs: 6000, times: 1 }; // hangs far past the straggler timeout, within UPSTREAM_TIMEOUT (20 s)
    const started = Date.now();
    const res = await h.write(body, withHeaders({ [STRAGGLER_TIMEOUT_HEADER]: '500' }));
    const took = Date.now() - started;
    assert.equal(res.status, 503, res.body);
    assert.equal(res.headers[FAILED_ENDPOINTS_HEADER], endpointId(b.url));
    assert.match(res.body, /1 of 2 endpoints failed, retry \(1 delivered\)/);
    assert.match(res.body, /no answer within 500 ms after the other endpoints delivered/);
    assert.ok(took >= 450, `answered after ${took} ms: the straggler got its 500 ms`);
    assert.ok(took < 4000, `answered after ${took} ms, long before the hanging endpoint would have (6 s) and UPSTREAM_TIMEOUT (20 s)`);
    assert.deepEqual(
      a.requests.map((r) => r.status),
      [200],
      'the healthy workspace got the data once',
    );

    const warn = h.logs.find((l) => l.includes('ingestion endpoint failed, the sender will retry'));
    assert.ok(warn, 'the cut-off is logged like other retryable failures');
    assert.match(warn, /after the other endpoints delivered/);
    assert.match(h.publishLog.flush(), /successfullyPublishedToAll=0 successfullyPublishedToSome=1/);

    const retry = await h.write(body, withHeaders({ [ONLY_ENDPOINTS_HEADER]: res.headers[FAILED_ENDPOINTS_HEADER], [STRAGGLER_TIMEOUT_HEADER]: '500' }));
    assert.equal(retry.status, 204, retry.body);
    assert.equal(a.requests.length, 1, 'the healthy workspace is not written twice');
    assert.equal(b.requests.length, 2);
    assert.equal(b.requests[1].status, 200);
    assert.equal(b.summary().samples, a.summary().samples);
  });

  test('an endpoint slower than the others but within the straggler timeout delivers: 204', async () => {
    h = await startHarness({ workspaces: 2 });
    h.workspaces[1].fault = { status: 0, delayMs: 300, times: 1 };
    const res = await h.write(body, withHeaders({ [STRAGGLER_TIMEOUT_HEADER]: '5000' }));
    assert.equal(res.status, 204, res.body);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.map((r) => r.status)),
      [[200], [200]],
    );
  });

  test('without the header the relay waits for the slow endpoint as before', async () => {
    h = await startHarness({ workspaces: 2 });
    h.workspaces[1].fault = { status: 0, delayMs: 1500, times: 1 };
    const started = Date.now();
    const res = await h.write(body);
    const took = Date.now() - started;
    assert.equal(res.status, 204, res.body);
    assert.ok(took >= 1400, `answered after ${took} ms: it waited for the slow endpoint`);
    assert.deepEqual(
      h.workspaces.map((w) => w.requests.map((r) => r.status)),
      [[200], [200]],
    );
  });

  test('no endpoint delivered: no cut-off, UPSTREAM_TIMEOUT decides', async () => {
    h = await startHarness({ workspaces: 2, env: { UPSTREAM_TIMEOUT: '1s' } });
    h.workspaces[0].fault = { status: 500, times: 1 };
    h.workspaces[1].fault = { status: 0, delayMs: 3000, times: 1 };
    const res = await h.write(body, withHeaders({ [STRAGGLER_TIMEOUT_HEADER]: '100' }));
    assert.equal(res.status, 503);
    assert.match(res.body, /no answer within 1000 ms(;|$)/);
    assert.doesNotMatch(res.body, /after the other endpoints delivered/);
  });

  test('values above UPSTREAM_TIMEOUT are capped to it (even past what a timer can hold)', async () => {
    h = await startHarness({ workspaces: 2, env: { UPSTREAM_TIMEOUT: '1s' } });
    h.workspaces[1].fault = { status: 0, delayMs: 3000, times: 1 };
    const started = Date.now();
    // uncapped, 2^31 ms and more would make Node fire the timer at once
    const res = await h.write(body, withHeaders({ [STRAGGLER_TIMEOUT_HEADER]: '99999999999' }));
    const took = Date.now() - started;
    assert.equal(res.status, 503, res.body);
    assert.match(res.body, /no answer within 1000 ms(;|$)/, 'UPSTREAM_TIMEOUT ran out first');
    assert.ok(took >= 900 && took < 2500, `answered after ${took} ms`);
  });

  test('parseStragglerTimeout: absent → undefined, capped, trimmed', () => {
    assert.equal(parseStragglerTimeout(null, 20_000), undefined);
    assert.equal(parseStragglerTimeout(' 2000 ', 20_000), 2000);
    assert.equal(parseStragglerTimeout('20001', 20_000), 20_000);
    assert.throws(() => parseStragglerTimeout('', 20_000), /X-Relay-Straggler-Timeout "" is not a positive integer/);
  });

  for (const bad of ['abc', '0', '-5', '1.5', '2s', '1e3']) {
    test(`"${bad}" → 400 naming the header, nothing sent`, async () => {
      h = await startHarness({ workspaces: 1 });
      const res = await h.write(body, withHeaders({ [STRAGGLER_TIMEOUT_HEADER]: bad }));
      assert.equal(res.status, 400);
      assert.match(res.body, /X-Relay-Straggler-Timeout/);
      assert.doesNotMatch(res.body, /\n/);
      assert.equal(h.workspaces[0].requests.length, 0);
    });
  }
});
