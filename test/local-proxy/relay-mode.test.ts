// Relay mode against the real relay (dev/relay-host.ts: the Function's handlers on
// node:http) fanning out to two emulated workspaces: function key, a relay that is down
// and comes up, partial failure parked on a durable per-endpoint lane and retried with
// X-Relay-Only-Endpoints (the healthy workspace gets each sample once), lanes that survive
// a restart, and a wrong key retried and logged with what to check.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { type RunningRelay, startRelayHost } from '../../dev/relay-host';
import { type WorkspaceEmulator, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import { loadForwarderConfig } from '../../local-proxy/config';
import { type RunningForwarder, startForwarder } from '../../local-proxy/forwarder';
import { endpointId } from '../../shared/fanout/endpoints';
import { createLogger } from '../../shared/observability/log';
import { type Generated, generateRequest, postWrite, receivedKeys, waitFor } from './helpers';
import { metricValue } from '../../dev/kit/metrics-text';
import { tempDir } from '../../dev/kit/temp-dir';
import { freePort } from '../../dev/kit/ports';

const KEY = 'dev-function-key-for-tests';

let tmp: { dir: string; remove(): void };
let closers: (() => Promise<void>)[] = [];
let logs: string[] = [];

beforeEach(() => {
  tmp = tempDir('relay-mode-test');
  logs = [];
});
afterEach(async () => {
  for (const c of closers.reverse()) await c();
  closers = [];
  tmp.remove();
});

async function workspaces(): Promise<[WorkspaceEmulator, WorkspaceEmulator]> {
  const a = await startWorkspaceEmulator({ name: 'a' });
  const b = await startWorkspaceEmulator({ name: 'b' });
  closers.push(
    () => a.close(),
    () => b.close(),
  );
  return [a, b];
}

async function relay(a: WorkspaceEmulator, b: WorkspaceEmulator, port = 0): Promise<RunningRelay> {
  const r = await startRelayHost({ INGESTION_URL: `${a.url},${b.url}`, IDENTITY_TYPE: 'none', DEV_FUNCTION_KEY: KEY, PUBLISH_LOG_INTERVAL: '1h' }, port);
  closers.push(() => r.close());
  return r;
}

async function forwarder(relayUrl: string, env: Record<string, string> = {}): Promise<RunningForwarder> {
  const cfg = loadForwarderConfig({
    RELAY_URL: `${relayUrl}/api/v1/write`,
    RELAY_KEY: KEY,
    LISTENING_PORT: '0',
    LISTENING_HOST: '127.0.0.1',
    SPOOL_DIR: tmp.dir,
    RETRY_MIN_BACKOFF: '50ms',
    RETRY_MAX_BACKOFF: '300ms',
    BATCH_MAX_WAIT: '100ms',
    SHUTDOWN_TIMEOUT: '1s',
    ...env,
  });
  const f = await startForwarder(cfg, { log: createLogger((l) => logs.push(l)), defaultMetrics: false });
  let stopped = false;
  closers.push(async () => {
    if (!stopped) await f.stop();
  });
  const stop = f.stop;
  f.stop = async () => {
    stopped = true;
    await stop();
  };
  return f;
}

async function send(f: RunningForwarder, from: number, n: number): Promise<Generated[]> {
  const out: Generated[] = [];
  for (let i = from; i < from + n; i++) {
    const g = generateRequest(i);
    const r = await postWrite(f.url, g.body);
    assert.equal(r.status, 204, r.text);
    out.push(g);
  }
  return out;
}

function hasAll(ws: WorkspaceEmulator, gen: Generated[]): boolean {
  const got = receivedKeys(ws);
  return gen.every((g) => g.keys.every((k) => got.has(k)));
}

/** Samples the workspace accepted in total (a sample delivered twice counts twice). */
function acceptedSamples(ws: WorkspaceEmulator): number {
  return ws.requests.filter((r) => r.status === 200).reduce((n, r) => n + r.samples, 0);
}

describe('relay mode', () => {
  it('delivers through the relay with the function key; batches reach both workspaces', async () => {
    const [a, b] = await workspaces();
    const r = await relay(a, b);
    // a whole second to batch in: 20 writes sent one after another take several hundred ms on a loaded machine
    const f = await forwarder(r.url, { BATCH_MAX_WAIT: '1s' });
    const gen = await send(f, 0, 20);
    await waitFor('both workspaces have everything', () => hasAll(a, gen) && hasAll(b, gen), 5000);
    assert.ok(a.requests.length <= 4, `${a.requests.length} calls for 20 requests`);
    assert.equal(acceptedSamples(a), 10_000);
  });

  it('the relay is down, then comes up: everything acknowledged meanwhile arrives', async () => {
    const [a, b] = await workspaces();
    const port = await freePort();
    const f = await forwarder(`http://127.0.0.1:${port}`);
    const gen = await send(f, 0, 10);
    await waitFor('a retry', async () => metricValue(await (await fetch(`${f.url}/metrics`)).text(), 'relay_proxy_retries_total', { reason: 'network' }) >= 1);
    await relay(a, b, port);
    await waitFor('delivered after the relay came up', () => hasAll(a, gen) && hasAll(b, gen), 5000);
  });

  it("partial failure: the failed workspace's share waits on its own durable lane; the healthy one is not held up and gets no duplicates", async () => {
    const [a, b] = await workspaces();
    b.fault = { status: 503, untilMs: Date.now() + 60_000 };
    const r = await relay(a, b);
    const f = await forwarder(r.url);
    const gen = await send(f, 0, 20);
    await waitFor('a has everything while b is down', () => hasAll(a, gen), 5000);
    const idB = endpointId(b.url);
    await waitFor('a lane spool for b', () => existsSync(path.join(tmp.dir, 'lanes', idB)));
    assert.deepEqual(
      f
        .lanes()
        .map((l) => l.name)
        .sort(),
      [`lane:${idB}`, 'relay'],
    );
    // New data keeps flowing to a while b is still down.
    const more = await send(f, 20, 5);
    await waitFor('a has the new data too', () => hasAll(a, more), 5000);
    const aCalls = a.requests.length;

    b.fault = undefined;
    await waitFor('b caught up through its lane', () => hasAll(b, [...gen, ...more]), 5000);
    assert.equal(acceptedSamples(a), 25 * 500, 'a got every sample exactly once');
    assert.equal(a.requests.length, aCalls, 'lane retries went only to b (X-Relay-Only-Endpoints)');
    const text = await (await fetch(`${f.url}/metrics`)).text();
    assert.ok(metricValue(text, 'relay_proxy_lane_parked_batches_total', { endpoint: idB }) >= 1);
    await waitFor('lane committed', async () => metricValue(await (await fetch(`${f.url}/metrics`)).text(), 'relay_proxy_lane_backlog_bytes') === 0);
  });

  it('lanes are durable: a restart with the workspace still down keeps its share, delivered once it is back', async () => {
    const [a, b] = await workspaces();
    b.fault = { status: 503, untilMs: Date.now() + 60_000 };
    const r = await relay(a, b);
    let f = await forwarder(r.url);
    const gen = await send(f, 0, 10);
    await waitFor('a has everything', () => hasAll(a, gen), 5000);
    const idB = endpointId(b.url);
    await waitFor(
      "parked on b's lane, main cursor past it",
      () => existsSync(path.join(tmp.dir, 'lanes', idB)) && f.spool.reader('relay').pendingBytes() === 0,
    );
    await f.stop();

    f = await forwarder(r.url);
    assert.ok(
      f.lanes().some((l) => l.name === `lane:${idB}`),
      'the lane is back after the restart',
    );
    b.fault = undefined;
    await waitFor('b has everything', () => hasAll(b, gen), 5000);
    assert.equal(acceptedSamples(a), 10 * 500, 'nothing went to a twice');
  });

  it('several calls in flight, one workspace failing for a while: both get every sample and neither drops one as out of order', async () => {
    const [a, b] = await workspaces();
    const r = await relay(a, b);
    const f = await forwarder(r.url, { MIN_SHARDS: '4', MAX_SHARDS: '4', BATCH_MAX_WAIT: '50ms', BATCH_MAX_SAMPLES: '2000' });
    const gen: Generated[] = [];
    // the same 50 series in every write, timestamps moving on, as a Prometheus shard sends them
    const t0 = Date.now();
    for (let i = 0; Date.now() - t0 < 3000; i++) {
      if (i === 5) b.fault = { status: 503, untilMs: Date.now() + 1500 };
      gen.push(...(await send(f, i, 1)));
      await new Promise((res) => setTimeout(res, 20));
    }
    await waitFor('both have everything', () => hasAll(a, gen) && hasAll(b, gen), 15_000);
    assert.deepEqual(
      b.summary().dropped,
      { outOfOrder: 0, tooOld: 0, tooNew: 0, duplicate: b.summary().dropped.duplicate },
      'no sample of b dropped as Azure would, but for duplicates of replays',
    );
    assert.equal(a.summary().dropped.outOfOrder, 0);
    assert.equal(acceptedSamples(a), gen.length * 500, 'the healthy workspace got each sample once');
    const text = await (await fetch(`${f.url}/metrics`)).text();
    assert.ok(metricValue(text, 'relay_proxy_lane_parked_batches_total', { endpoint: endpointId(b.url) }) >= 1, "b's share went through its lane");
  });

  it('a hanging workspace does not hold up the healthy one (X-Relay-Straggler-Timeout); it gets its data in order once it answers', async () => {
    const [a, b] = await workspaces();
    const r = await relay(a, b);
    const f = await forwarder(r.url, { MIN_SHARDS: '2', MAX_SHARDS: '4', BATCH_MAX_WAIT: '50ms', RELAY_STRAGGLER_TIMEOUT: '300ms' });
    const before = await send(f, 0, 3);
    await waitFor('both have the first writes', () => hasAll(a, before) && hasAll(b, before), 5000);
    const hangUntil = Date.now() + 4000;
    b.fault = { status: 0, delayMs: 3000, untilMs: hangUntil };
    // while b hangs, each new write reaches a within a couple of seconds
    const during: Generated[] = [];
    const lags: number[] = [];
    for (let i = 3; Date.now() < hangUntil - 1500; i++) {
      const g = await send(f, i, 1);
      const sent = Date.now();
      await waitFor('a has the write made during the hang', () => hasAll(a, g), 2500);
      lags.push(Date.now() - sent);
      during.push(...g);
    }
    assert.ok(during.length >= 3, `${during.length} writes during the hang`);
    assert.ok(Date.now() < hangUntil, 'a kept receiving while b was still hanging');
    await waitFor('b caught up', () => hasAll(b, [...before, ...during]), 20_000);
    assert.equal(b.summary().dropped.outOfOrder, 0, 'b got its data in order');
    assert.equal(acceptedSamples(a), (before.length + during.length) * 500, 'a got each sample once');
    assert.ok(Math.max(...lags) < 2500, `lag to the healthy workspace during the hang: ${lags.join(', ')} ms`);
  });

  it('a wrong function key is retried with backoff and logged with what to check; nothing is dropped', async () => {
    const [a, b] = await workspaces();
    const r = await relay(a, b);
    const f = await forwarder(r.url, { RELAY_KEY: 'wrong-key' });
    await send(f, 0, 1);
    await waitFor(
      'an auth retry',
      async () => metricValue(await (await fetch(`${f.url}/metrics`)).text(), 'relay_proxy_retries_total', { reason: 'http_401' }) >= 2,
    );
    const loud = logs.find((l) => l.includes('level=error') && l.includes('RELAY_KEY'));
    assert.ok(loud, logs.join('\n'));
    assert.ok(!logs.some((l) => l.includes('wrong-key')), 'the key is never logged');
    assert.ok(f.spool.reader('relay').pendingBytes() > 0, 'the data waits in the spool');
    const ready = await fetch(`${f.url}/ready`);
    assert.ok(!(await ready.text()).includes('wrong-key'));
  });
});
