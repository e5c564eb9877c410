// The dev host (`npm run relay`, `npm start`): the Function's handlers over real HTTP,
// settings from the environment and local.settings.json, start-up failures that say
// what to set.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createFunctionHost } from '../../dev/function-host';
import { type RunningRelay, startRelayHost } from '../../dev/relay-host';
import { type WorkspaceEmulator, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import { endpointId } from '../../shared/fanout/endpoints';
import { REMOTE_WRITE_HEADERS } from '../../dev/kit/relay-harness';
import { shiftBodyToNow } from '../helpers/fresh';
import { loadFixtures, repoRoot } from '../../dev/kit/repo';
import { type NodeChild, spawnNode, waitForOutput } from '../../dev/kit/child';
import { spawnForwarder, waitFor as waitForForwarded } from '../local-proxy/helpers';
import { encodeV2Request } from '../../dev/kit/v2-request';
import { numberToBits } from '../../shared/remote-write/model/types';
import { compressSync } from 'snappy';

const fixture = loadFixtures()[0];

describe('relay host over HTTP', () => {
  let ws: WorkspaceEmulator;
  let host: RunningRelay;
  before(async () => {
    // These tests post a capture from 2026-11 or earlier and check what is forwarded, not
    // Azure's 20-minute window, so the emulator keeps old samples instead of dropping them.
    ws = await startWorkspaceEmulator({ maxAgeMs: Infinity, maxFutureMs: Infinity });
    host = await startRelayHost({ INGESTION_URL: ws.url, IDENTITY_TYPE: 'none', DEV_FUNCTION_KEY: 'dev-key-123', PUBLISH_LOG_INTERVAL: '1h' }, 0);
  });
  after(async () => {
    await host.close();
    await ws.close();
  });

  const post = (path: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${host.url}${path}`, { method: 'POST', headers: { ...REMOTE_WRITE_HEADERS, ...headers }, body: fixture.body });

  test('POST /api/v1/write with the function key → 204, forwarded', async () => {
    const res = await post('/api/v1/write', { 'x-functions-key': 'dev-key-123' });
    assert.equal(res.status, 204, await res.text());
    assert.equal(ws.requests.length, 1);
    const viaCode = await post('/api/v1/write?code=dev-key-123');
    assert.equal(viaCode.status, 204);
  });

  test('the relay headers pass through the host: Except leaves endpoints out, a bad straggler timeout → 400', async () => {
    const before = ws.requests.length;
    const key = { 'x-functions-key': 'dev-key-123' };
    const none = await post('/api/v1/write', { ...key, 'X-Relay-Except-Endpoints': endpointId(ws.url) });
    assert.equal(none.status, 204, await none.text());
    assert.equal(ws.requests.length, before, 'the only endpoint was left out: nothing sent');
    const bad = await post('/api/v1/write', { ...key, 'X-Relay-Straggler-Timeout': 'soon' });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /X-Relay-Straggler-Timeout "soon" is not a positive integer/);
    const ok = await post('/api/v1/write', { ...key, 'X-Relay-Straggler-Timeout': '2000' });
    assert.equal(ok.status, 204, await ok.text());
    assert.equal(ws.requests.length, before + 1);
  });

  test('a missing or wrong function key → 401', async () => {
    assert.equal((await post('/api/v1/write')).status, 401);
    assert.equal((await post('/api/v1/write', { 'x-functions-key': 'wrong' })).status, 401);
  });

  test('GET /api/health is anonymous JSON', async () => {
    const res = await fetch(`${host.url}/api/health`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { status: string; identity: { type: string } };
    assert.equal(body.status, 'ok');
    assert.equal(body.identity.type, 'none');
  });

  test('wrong method → 405, unknown route → 404', async () => {
    assert.equal((await fetch(`${host.url}/api/v1/write`)).status, 405);
    assert.equal((await fetch(`${host.url}/api/nope`)).status, 404);
  });

  test('a streamed body without Content-Length over MAX_BODY_BYTES → 413 naming the setting', async () => {
    const small = await startRelayHost({ INGESTION_URL: ws.url, IDENTITY_TYPE: 'none', MAX_BODY_BYTES: '65536', PUBLISH_LOG_INTERVAL: '1h' }, 0);
    try {
      const before = ws.requests.length;
      const res = await postChunked(`${small.url}/api/v1/write`, [Buffer.alloc(40_000, 1), Buffer.alloc(40_000, 1)]);
      assert.equal(res.status, 413);
      assert.match(res.body, /over MAX_BODY_BYTES=65536/);
      const ok = await postChunked(`${small.url}/api/v1/write`, [fixture.body.subarray(0, 100), fixture.body.subarray(100)]);
      assert.equal(ok.status, 204, ok.body);
      assert.equal(ws.requests.length, before + 1);
      assert.equal(ws.requests.at(-1)?.sha256, createHash('sha256').update(fixture.body).digest('hex'), 'a body arriving in chunks is forwarded whole');
    } finally {
      await small.close();
    }
  });
});

describe('function host limits', () => {
  test('a chunked body over the host limit → 413 before the handler sees it whole', async () => {
    let seen = 0;
    const server = createFunctionHost(
      [
        {
          name: 'echo',
          methods: ['POST'],
          authLevel: 'anonymous',
          route: 'echo',
          handler: async (req) => {
            seen += (await req.arrayBuffer()).byteLength;
            return { status: 200 };
          },
        },
      ],
      { maxRequestBytes: 50_000 },
    );
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/echo`;
      const over = await postChunked(url, [Buffer.alloc(30_000), Buffer.alloc(30_000)]);
      assert.equal(over.status, 413);
      assert.match(over.body, /host limit of 50000 bytes/);
      assert.equal(seen, 0);
      const under = await postChunked(url, [Buffer.alloc(20_000), Buffer.alloc(20_000)]);
      assert.equal(under.status, 200);
      assert.equal(seen, 40_000);
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  });
});

/** POST with Transfer-Encoding: chunked (no Content-Length), one write per chunk. */
function postChunked(url: string, chunks: readonly Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method: 'POST', headers: { ...REMOTE_WRITE_HEADERS } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', fail);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('processes', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function run(script: string, env: Record<string, string>, cwd = repoRoot): NodeChild {
    const c = spawnNode(join(repoRoot, 'dist', script), env, cwd);
    children.push(c.child);
    return c;
  }

  const waitFor = (c: NodeChild, re: RegExp, ms = 10_000): Promise<RegExpExecArray> => waitForOutput(c, re, ms, 'output of the dev process');

  test('misconfiguration exits at start-up with what to set', async () => {
    const p = run('dev/relay-host.js', { IDENTITY_TYPE: 'userAssigned', PORT: '0' }, mkTmp(dirs));
    assert.equal(await p.exited, 2);
    assert.match(p.output(), /INGESTION_URL is not set: set it to the workspace's metrics ingestion endpoint/);
    assert.match(p.output(), /IDENTITY_TYPE=userAssigned needs AZURE_CLIENT_ID/);
  });

  test('npm run relay reads local.settings.json Values like func start', async () => {
    const ws = await startWorkspaceEmulator();
    try {
      const dir = mkTmp(dirs);
      writeFileSync(
        join(dir, 'local.settings.json'),
        JSON.stringify({
          IsEncrypted: false,
          Values: { INGESTION_URL: ws.url, IDENTITY_TYPE: 'none', CLUSTER: 'from-local-settings', '//CLUSTER': 'a comment' },
        }),
      );
      const p = run('dev/relay-host.js', { PORT: '0' }, dir);
      const [, url] = await waitFor(p, /url=(http:\/\/127\.0\.0\.1:\d+)\/api\/v1\/write/);
      const health = (await (await fetch(`${url}/api/health`)).json()) as { cluster: string };
      assert.equal(health.cluster, 'from-local-settings');
      p.child.kill('SIGTERM');
    } finally {
      await ws.close();
    }
  });

  test('npm start runs on embedded defaults: emulated identity, workspace and storage (Azurite), data visible; old data dropped as Azure does, and said so', async () => {
    const p = run('dev/start.js', { PORT: '0', WORKSPACE_EMULATOR_PORT: '0', AZURITE_TABLE_PORT: '0' }, mkTmp(dirs));
    const [, writeUrl] = await waitFor(p, /remote_write url:\s+(\S+)/);
    const [, summaryUrl] = await waitFor(p, /received data:\s+(\S+)/);
    const [, metricsUrl] = await waitFor(p, /dropped as Azure:\s+(\S+)/);
    await waitFor(p, /shared state:\s+Azurite table service on 127\.0\.0\.1:\d+ \(in memory\)/);
    const health = (await (await fetch(writeUrl.replace('/v1/write', '/health'))).json()) as { sharedState: unknown };
    assert.deepEqual(health.sharedState, { table: 'relaystate', connection: 'connection string' });
    const write = (body: Buffer): Promise<Response> => fetch(writeUrl, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body });
    const fresh = await write(shiftBodyToNow(fixture.body));
    assert.equal(fresh.status, 204, await fresh.text());
    type Summary = { samples: number; accepted: number; dropped: { tooOld: number; outOfOrder: number } };
    let summary = (await (await fetch(summaryUrl)).json()) as Summary;
    assert.equal(summary.accepted, 1);
    assert.equal(summary.samples, 500);
    // remote-write 2.0, as Prometheus 3 sends it: arrives as 1.0, the Written headers answered
    const now = Date.now();
    const v2 = await fetch(writeUrl, {
      method: 'POST',
      headers: {
        ...REMOTE_WRITE_HEADERS,
        'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
        'x-prometheus-remote-write-version': '2.0.0',
      },
      body: compressSync(
        encodeV2Request([
          {
            labels: [{ name: '__name__', value: 'npm_start_v2' }],
            samples: [2, 1, 0].map((ago) => ({ value: numberToBits(ago), timestamp: BigInt(now - ago * 1000), startTimestamp: BigInt(now - 60_000) })),
            histograms: [],
            exemplars: [],
          },
        ]),
      ),
    });
    assert.equal(v2.status, 204, await v2.text());
    assert.equal(v2.headers.get('x-prometheus-remote-write-samples-written'), '3');
    summary = (await (await fetch(summaryUrl)).json()) as Summary;
    assert.deepEqual([summary.accepted, summary.samples], [2, 503]);
    // The capture as it is (2026-11 or earlier): accepted, then dropped as Azure's OldData.
    const old = await write(fixture.body);
    assert.equal(old.status, 204, await old.text());
    summary = (await (await fetch(summaryUrl)).json()) as Summary;
    assert.equal(summary.accepted, 3);
    assert.equal(summary.samples, 503);
    assert.equal(summary.dropped.tooOld, 500);
    assert.match(await (await fetch(metricsUrl)).text(), /^workspace_emulator_dropped_samples_total\{reason="too_old"\} 500$/m);
    await waitFor(p, /level=warn msg="workspace emulator emulated-workspace: dropping samples older than the ingestion window/);
    p.child.kill('SIGINT');
    assert.equal(await p.exited, 0);
  });

  test('README: npm start, then RELAY_URL=<its write url> npm run proxy — a write to the forwarder reaches the emulated workspace', async () => {
    const relay = run('dev/start.js', { PORT: '0', WORKSPACE_EMULATOR_PORT: '0' }, mkTmp(dirs));
    const [, writeUrl] = await waitFor(relay, /remote_write url:\s+(\S+)/);
    const [, summaryUrl] = await waitFor(relay, /received data:\s+(\S+)/);
    // As the README runs it: RELAY_URL only (npm start's relay needs no key), the rest defaults.
    const fwd = await spawnForwarder({ RELAY_URL: writeUrl, SPOOL_DIR: join(mkTmp(dirs), 'spool') });
    try {
      const res = await fetch(`${fwd.url}/api/v1/write`, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body: shiftBodyToNow(fixture.body) });
      assert.equal(res.status, 204, await res.text());
      type Summary = { samples: number; dropped: { tooOld: number; outOfOrder: number } };
      let summary: Summary = { samples: 0, dropped: { tooOld: 0, outOfOrder: 0 } };
      await waitForForwarded('the forwarded samples in the emulated workspace', async () => {
        summary = (await (await fetch(summaryUrl)).json()) as Summary;
        return summary.samples === 500;
      });
      assert.equal(summary.dropped.tooOld, 0);
      assert.equal(summary.dropped.outOfOrder, 0);
    } finally {
      fwd.kill('SIGTERM');
      await fwd.exited;
      relay.child.kill('SIGINT');
      await relay.exited;
    }
  });

  test('npm start: WORKSPACE_EMULATOR_MAX_AGE loosens the window; a bad value exits with what is wrong', async () => {
    const p = run('dev/start.js', { PORT: '0', WORKSPACE_EMULATOR_PORT: '0', AZURITE_TABLE_PORT: '0', WORKSPACE_EMULATOR_MAX_AGE: '100000d' }, mkTmp(dirs));
    const [, writeUrl] = await waitFor(p, /remote_write url:\s+(\S+)/);
    const [, summaryUrl] = await waitFor(p, /received data:\s+(\S+)/);
    const res = await fetch(writeUrl, { method: 'POST', headers: REMOTE_WRITE_HEADERS, body: fixture.body });
    assert.equal(res.status, 204, await res.text());
    const summary = (await (await fetch(summaryUrl)).json()) as { samples: number; dropped: { tooOld: number } };
    assert.equal(summary.samples, 500);
    assert.equal(summary.dropped.tooOld, 0);
    p.child.kill('SIGINT');
    assert.equal(await p.exited, 0);

    const bad = run(
      'dev/start.js',
      {
        PORT: '0',
        WORKSPACE_EMULATOR_PORT: '0',
        AZURITE_TABLE_PORT: '0',
        WORKSPACE_EMULATOR_MAX_AGE: '20',
        WORKSPACE_EMULATOR_MAX_REQUESTS_PER_MINUTE: 'many',
      },
      mkTmp(dirs),
    );
    assert.equal(await bad.exited, 2);
    assert.match(bad.output(), /WORKSPACE_EMULATOR_MAX_AGE: "20" is not a duration/);
    assert.match(bad.output(), /WORKSPACE_EMULATOR_MAX_REQUESTS_PER_MINUTE: "many" is not a positive whole number/);
  });
});

function mkTmp(dirs: string[]): string {
  const d = mkdtempSync(join(tmpdir(), 'relay-host-'));
  dirs.push(d);
  return d;
}
