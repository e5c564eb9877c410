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
import { loadProxyConfig } from '../../local-proxy/config';
import { type RunningForwarder, startForwarder } from '../../local-proxy/forwarder';
import { endpointId } from '../../shared/fanout/endpoints';
import { createLogger } from '../../shared/observability/log';
import { type Generated, generateRequest, metricValue, postWrite, receivedKeys, tempDir, waitFor } from './helpers';
import { freePort } from '../helpers/net';

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
  closers.push(() => a.close(), () => b.close());
  return [a, b];
}

async function relay(a: WorkspaceEmulator, b: WorkspaceEmulator, port = 0): Promise<RunningRelay> {
  const r = await startRelayHost({ INGESTION_URL: `${a.url},${b.url}`, IDENTITY_TYPE: 'none', DEV_FUNCTION_KEY: KEY, PUBLISH_LOG_INTERVAL: '1h' }, port);
  closers.push(() => r.close());
  return r;
}

async function forwarder(relayUrl: string, env: Record<string, string> = {}): Promise<RunningForwarder> {
  const cfg = loadProxyConfig({
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
    const f = await forwarder(r.url);
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

  it('partial failure: the failed workspace\'s share waits on its own durable lane; the healthy one is not held up and gets no duplicates', async () => {
    const [a, b] = await workspaces();
    b.fault = { status: 503, untilMs: Date.now() + 60_000 };
    const r = await relay(a, b);
    const f = await forwarder(r.url);
    const gen = await send(f, 0, 20);
    await waitFor('a has everything while b is down', () => hasAll(a, gen), 5000);
    const idB = endpointId(b.url);
    await waitFor('a lane spool for b', () => existsSync(path.join(tmp.dir, 'lanes', idB)));
    assert.deepEqual(f.lanes().map((l) => l.name).sort(), [`lane:${idB}`, 'relay']);
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
    await waitFor('parked on b\'s lane, main cursor past it', () => existsSync(path.join(tmp.dir, 'lanes', idB)) && f.spool.reader('relay').pendingBytes() === 0);
    await f.stop();

    f = await forwarder(r.url);
    assert.ok(f.lanes().some((l) => l.name === `lane:${idB}`), 'the lane is back after the restart');
    b.fault = undefined;
    await waitFor('b has everything', () => hasAll(b, gen), 5000);
    assert.equal(acceptedSamples(a), 10 * 500, 'nothing went to a twice');
  });

  it('a wrong function key is retried with backoff and logged with what to check; nothing is dropped', async () => {
    const [a, b] = await workspaces();
    const r = await relay(a, b);
    const f = await forwarder(r.url, { RELAY_KEY: 'wrong-key' });
    await send(f, 0, 1);
    await waitFor('an auth retry', async () => metricValue(await (await fetch(`${f.url}/metrics`)).text(), 'relay_proxy_retries_total', { reason: 'http_401' }) >= 2);
    const loud = logs.find((l) => l.includes('level=error') && l.includes('RELAY_KEY'));
    assert.ok(loud, logs.join('\n'));
    assert.ok(!logs.some((l) => l.includes('wrong-key')), 'the key is never logged');
    assert.ok(f.spool.reader('relay').pendingBytes() > 0, 'the data waits in the spool');
    const ready = await fetch(`${f.url}/ready`);
    assert.ok(!(await ready.text()).includes('wrong-key'));
  });
});
