// The forwarder in process, direct mode, against emulated workspaces over loopback:
// status codes for every kind of bad input, probes and /metrics, real captures delivered
// exactly, upstream down then up, 429 with Retry-After, 400 dropped and counted, a dead
// endpoint that does not stall a healthy one, a full spool answering 503, and the
// batching figure (samples per upstream call at 20 000 samples/s of 500-sample requests).

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compressSync, uncompressSync } from 'snappy';
import { type WorkspaceEmulator, type WorkspaceEmulatorOptions, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import { loadForwarderConfig } from '../../local-proxy/config';
import { type RunningForwarder, startForwarder } from '../../local-proxy/forwarder';
import { TokenError, type TokenSource } from '../../shared/identity/token-source';
import { createLogger } from '../../shared/observability/log';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { isStaleMarker, numberToBits } from '../../shared/remote-write/model/types';
import { loadFixtures } from '../../dev/kit/repo';
import { encodeV2Request, v2SeriesOf } from '../../dev/kit/v2-request';
import { WRITE_HEADERS, generateRequest, postWrite, receivedKeys, sampleKeys, waitFor } from './helpers';
import { metricValue } from '../../dev/kit/metrics-text';
import { tempDir } from '../../dev/kit/temp-dir';

let tmp: { dir: string; remove(): void };
let workspaces: WorkspaceEmulator[] = [];
let forwarders: RunningForwarder[] = [];
let logs: string[] = [];

beforeEach(() => {
  tmp = tempDir('forwarder-test');
  logs = [];
});
afterEach(async () => {
  for (const f of forwarders) await f.stop();
  for (const w of workspaces) await w.close();
  forwarders = [];
  workspaces = [];
  tmp.remove();
});

async function workspace(name = 'ws', opts: WorkspaceEmulatorOptions = {}): Promise<WorkspaceEmulator> {
  const w = await startWorkspaceEmulator({ name, ...opts });
  workspaces.push(w);
  return w;
}

async function forwarder(env: Record<string, string>, deps: { tokenSource?: TokenSource | null } = {}): Promise<RunningForwarder> {
  const cfg = loadForwarderConfig({
    LISTENING_PORT: '0',
    LISTENING_HOST: '127.0.0.1',
    IDENTITY_TYPE: 'none',
    SPOOL_DIR: tmp.dir,
    RETRY_MIN_BACKOFF: '50ms',
    RETRY_MAX_BACKOFF: '400ms',
    BATCH_MAX_WAIT: '100ms',
    SHUTDOWN_TIMEOUT: '1s',
    ...env,
  });
  const f = await startForwarder(cfg, { log: createLogger((l) => logs.push(l)), defaultMetrics: false, ...deps });
  forwarders.push(f);
  return f;
}

async function metrics(f: RunningForwarder): Promise<string> {
  return (await fetch(`${f.url}/metrics`)).text();
}

describe('answers to senders', () => {
  it('415 / 413 / 400 / 405 / 404 with a reason, 204 for good and empty requests; refusals counted', async () => {
    const ws = await workspace();
    const f = await forwarder({ INGESTION_URL: ws.url, MAX_BODY_BYTES: '64KiB', MAX_DECODED_BYTES: '256KiB' });
    const good = generateRequest(1).body;
    const cases: [string, Promise<{ status: number; text: string }>, number, RegExp][] = [
      ['no Content-Encoding', postWrite(f.url, good, { 'content-type': 'application/x-protobuf' }), 415, /snappy/],
      ['zstd (vmagent ≥ 1.116 tries it first)', postWrite(f.url, good, { ...WRITE_HEADERS, 'content-encoding': 'zstd' }), 415, /zstd/],
      [
        'a proto= neither 1.0 nor 2.0',
        postWrite(f.url, good, { ...WRITE_HEADERS, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' }),
        415,
        /io\.prometheus\.write\.v3\.Request/,
      ],
      [
        'a 1.0 body labelled 2.0',
        postWrite(f.url, good, { ...WRITE_HEADERS, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }),
        400,
        /a remote-write 1\.0 body sent as 2\.0/,
      ],
      ['body over MAX_BODY_BYTES', postWrite(f.url, Buffer.alloc(70 * 1024, 1)), 413, /MAX_BODY_BYTES/],
      ['declared decoded size over MAX_DECODED_BYTES', postWrite(f.url, compressSync(Buffer.alloc(300 * 1024, 0))), 413, /MAX_DECODED_BYTES/],
      ['not snappy', postWrite(f.url, Buffer.from([0x05, 0xff, 0xff, 0xff])), 400, /snappy/],
      ['not protobuf', postWrite(f.url, compressSync(Buffer.from([0x0a, 0x50, 0x01]))), 400, /protobuf/],
      [
        'series without __name__',
        postWrite(
          f.url,
          compressSync(
            encodeWriteRequest({
              timeseries: [{ labels: [{ name: 'job', value: 'x' }], samples: [{ value: numberToBits(1), timestamp: 1n }], exemplars: [], histograms: [] }],
              metadata: [],
            }),
          ),
        ),
        400,
        /__name__/,
      ],
      ['empty body', postWrite(f.url, Buffer.alloc(0)), 204, /^$/],
      ['a good request', postWrite(f.url, good), 204, /^$/],
    ];
    for (const [what, res, status, re] of cases) {
      const r = await res;
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.match(r.text, re, what);
    }
    const get = await fetch(`${f.url}/api/v1/write`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal((await fetch(`${f.url}/nope`)).status, 404);
    const text = await metrics(f);
    assert.equal(metricValue(text, 'relay_proxy_rejected_requests_total', { reason: 'unsupported_media_type' }), 3);
    assert.equal(metricValue(text, 'relay_proxy_rejected_requests_total', { reason: 'missing_metric_name' }), 1);
    assert.equal(metricValue(text, 'relay_proxy_received_requests_total', { code: '204' }), 2);
    assert.equal(metricValue(text, 'relay_proxy_received_samples_total'), 500);
    await waitFor('delivered', () => receivedKeys(ws).size === 500);
  });

  it('remote-write 2.0: 204 with the Written counts once spooled, forwarded as 1.0; a refusal answers zeros', async () => {
    const ws = await workspace();
    const f = await forwarder({ INGESTION_URL: ws.url });
    const v2Headers = {
      ...WRITE_HEADERS,
      'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
      'x-prometheus-remote-write-version': '2.0.0',
    };
    const req = decodeWriteRequest(uncompressSync(generateRequest(1).body, { asBuffer: true }) as Buffer);
    const ok = await postWrite(f.url, compressSync(encodeV2Request(v2SeriesOf(req, 1n))), v2Headers);
    assert.equal(ok.status, 204, ok.text);
    const written = (r: { headers: Headers }): (string | null)[] =>
      ['samples', 'histograms', 'exemplars'].map((k) => r.headers.get(`x-prometheus-remote-write-${k}-written`));
    assert.deepEqual(written(ok), ['500', '0', '0']);
    await waitFor('delivered', () => receivedKeys(ws).size === 500);
    const bad = await postWrite(
      f.url,
      compressSync(encodeV2Request([{ labels: [{ name: 'job', value: 'x' }], samples: [{ value: 0n, timestamp: 1n }], histograms: [], exemplars: [] }])),
      v2Headers,
    );
    assert.equal(bad.status, 400);
    assert.match(bad.text, /no __name__/);
    assert.deepEqual(written(bad), ['0', '0', '0']);
    assert.deepEqual(written(await postWrite(f.url, generateRequest(2).body)), [null, null, null], '1.0 answers carry no 2.0 headers');
  });

  it('a bad request never reaches a batch: good requests around it all arrive', async () => {
    const ws = await workspace();
    const f = await forwarder({ INGESTION_URL: ws.url, BATCH_MAX_WAIT: '300ms' });
    const bad = compressSync(
      encodeWriteRequest({
        timeseries: [
          {
            labels: [
              { name: '__name__', value: 'x' },
              { name: '0bad', value: 'y' },
            ],
            samples: [{ value: 0n, timestamp: 1n }],
            exemplars: [],
            histograms: [],
          },
        ],
        metadata: [],
      }),
    );
    const results = await Promise.all([1, 2, 3].map((n) => postWrite(f.url, generateRequest(n).body)).concat([postWrite(f.url, bad)]));
    assert.deepEqual(
      results.map((r) => r.status),
      [204, 204, 204, 400],
    );
    await waitFor('delivered', () => receivedKeys(ws).size === 1500);
    assert.equal(ws.requests.filter((r) => r.status === 400).length, 0);
  });
});

describe('probes and metrics', () => {
  it('/health is 200; /ready reports spool, upstream and token; /metrics is Prometheus text', async () => {
    const ws = await workspace();
    let tokenFails = true;
    const tokens: TokenSource = {
      getToken: async () => {
        if (tokenFails) throw new TokenError('could not get a token for https://monitor.azure.com/.default: ManagedIdentityCredential: no identity assigned');
        return 'token';
      },
      state: () => ({ hasToken: !tokenFails, requests: 0 }),
      close: () => undefined,
    };
    const f = await forwarder({ INGESTION_URL: ws.url, IDENTITY_TYPE: 'userAssigned', AZURE_CLIENT_ID: 'abc' }, { tokenSource: tokens });
    const health = await fetch(`${f.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');

    let ready = await fetch(`${f.url}/ready`);
    assert.equal(ready.status, 503, 'direct mode needs a token to be ready');
    const body = (await ready.json()) as { checks: Record<string, string> };
    assert.equal(body.checks.spool, 'ok');
    assert.match(body.checks.token, /no identity assigned/);
    tokenFails = false;
    ready = await fetch(`${f.url}/ready`);
    assert.equal(ready.status, 200);

    const m = await fetch(`${f.url}/metrics`);
    assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
    const text = await m.text();
    for (const name of [
      'relay_proxy_received_requests_total',
      'relay_proxy_spool_bytes',
      'relay_proxy_batch_samples',
      'relay_proxy_upstream_request_duration_seconds',
      'relay_proxy_dropped_samples_total',
    ]) {
      assert.ok(text.includes(`# TYPE ${name}`), name);
    }
  });
});

describe('delivery', () => {
  it('real Prometheus 2.42 captures (60) arrive exactly (samples, stale markers, metadata), in far fewer calls', async () => {
    // The captures are from 2026-11 or earlier, which Azure would drop as too old after a 2xx;
    // this test is about bit-exact delivery, so the emulator's time window is lifted, and the
    // forwarder's (MAX_SAMPLE_AGE=0), which would otherwise count them too old and not send them.
    const ws = await workspace('ws', { maxAgeMs: Infinity, maxFutureMs: Infinity });
    const f = await forwarder({ INGESTION_URL: ws.url, MAX_SAMPLE_AGE: '0' });
    const fixtures = loadFixtures().slice(0, 60);
    for (let i = 0; i < fixtures.length; i += 20) {
      const res = await Promise.all(fixtures.slice(i, i + 20).map((fx) => postWrite(f.url, fx.body, fx.headers)));
      assert.ok(res.every((r) => r.status === 204));
    }
    const all = fixtures.map((fx) => decodeWriteRequest(uncompressSync(fx.body, { asBuffer: true }) as Buffer));
    const total = all.reduce((n, r) => n + r.timeseries.reduce((m, ts) => m + ts.samples.length, 0), 0);
    const deliveredSamples = (): number => ws.requests.filter((r) => r.status === 200).reduce((n, r) => n + r.samples, 0);
    await waitFor('all samples', () => deliveredSamples() >= total, 15_000);
    const expected = new Set(all.flatMap((r) => sampleKeys(r)));
    assert.deepEqual(receivedKeys(ws), expected);
    const stale = all.reduce((n, r) => n + r.timeseries.reduce((m, ts) => m + ts.samples.filter((x) => isStaleMarker(x.value)).length, 0), 0);
    assert.equal(ws.summary().staleMarkers, stale, 'stale markers arrive bit for bit');
    assert.equal(ws.metadata.size, new Set(all.flatMap((r) => r.metadata.map((m) => m.metricFamilyName))).size);
    assert.ok(ws.requests.length < fixtures.length / 5, `${ws.requests.length} upstream calls for ${fixtures.length} requests`);
  });

  it('upstream down, then up: writes keep getting 204, the spool grows, delivery resumes by itself, oldest first', async () => {
    const ws = await workspace();
    ws.fault = { status: 503, untilMs: Date.now() + 1500 };
    const f = await forwarder({ INGESTION_URL: ws.url, BATCH_MAX_SAMPLES: '2000' });
    const gen = Array.from({ length: 20 }, (_, i) => generateRequest(i));
    for (const g of gen) assert.equal((await postWrite(f.url, g.body)).status, 204);
    const spooled = metricValue(await metrics(f), 'relay_proxy_spool_bytes');
    assert.ok(spooled > 0);
    await waitFor('everything delivered', () => receivedKeys(ws).size === 20 * 500, 10_000);
    const accepted = ws.requests.filter((r) => r.status === 200);
    assert.ok(ws.requests.some((r) => r.status === 503));
    // Oldest first: each request's samples are newer than the one before's, and the emulated
    // workspace drops what is older than what it already holds (as Azure does): nothing was.
    assert.equal(ws.dropped.outOfOrder, 0);
    assert.ok(accepted[0].samples >= 500 && accepted[0].samples <= 2000, `first accepted call: ${accepted[0].samples} samples`);
    await waitFor('cursor committed', async () => metricValue(await metrics(f), 'relay_proxy_lane_backlog_bytes') === 0);
    const text = await metrics(f);
    assert.ok(metricValue(text, 'relay_proxy_retries_total', { reason: 'http_5xx' }) >= 1);
    assert.equal(metricValue(text, 'relay_proxy_dropped_samples_total'), 0);
  });

  it('429 with Retry-After: 1 → the batch is retried after about a second', async () => {
    const ws = await workspace();
    ws.fault = { status: 429, retryAfterSeconds: 1, times: 1 };
    const f = await forwarder({ INGESTION_URL: ws.url });
    const t0 = Date.now();
    assert.equal((await postWrite(f.url, generateRequest(1).body)).status, 204);
    await waitFor('delivered', () => receivedKeys(ws).size === 500, 5000);
    const took = Date.now() - t0;
    assert.ok(took >= 1000 && took < 2500, `delivered after ${took} ms`);
    assert.equal(metricValue(await metrics(f), 'relay_proxy_retries_total', { reason: 'http_429' }), 1);
  });

  it('400 from the workspace: that request is dropped, logged and counted; the next ones flow', async () => {
    const ws = await workspace();
    ws.fault = { status: 400, times: 1, body: 'sample timestamp out of bounds' };
    const f = await forwarder({ INGESTION_URL: ws.url, BATCH_MAX_WAIT: '0s' });
    assert.equal((await postWrite(f.url, generateRequest(1).body)).status, 204);
    await waitFor('first request settled', () => ws.requests.length === 1);
    assert.equal((await postWrite(f.url, generateRequest(2).body)).status, 204);
    await waitFor('second delivered', () => receivedKeys(ws).size === 500);
    await waitFor('dropped counted', async () => metricValue(await metrics(f), 'relay_proxy_dropped_samples_total', { reason: 'upstream_rejected' }) === 500);
    assert.ok(
      logs.some((l) => l.includes('dropped') && l.includes('out of bounds')),
      logs.join('\n'),
    );
    await waitFor('cursor past both', () => f.lanes()[0].spec.reader.pendingBytes() === 0);
  });

  it('a dead endpoint does not stall a healthy one; it catches up when it comes back', async () => {
    const healthy = await workspace('healthy');
    const dead = await workspace('dead');
    dead.fault = { status: 0, delayMs: 2000 }; // hangs past UPSTREAM_TIMEOUT
    const f = await forwarder({ INGESTION_URL: `${healthy.url},${dead.url}`, UPSTREAM_TIMEOUT: '300ms' });
    for (let i = 0; i < 10; i++) assert.equal((await postWrite(f.url, generateRequest(i).body)).status, 204);
    await waitFor('healthy has everything', () => receivedKeys(healthy).size === 5000, 3000);
    assert.equal(receivedKeys(dead).size, 0);
    dead.fault = undefined;
    await waitFor('dead caught up', () => receivedKeys(dead).size === 5000, 5000);
    assert.ok(metricValue(await metrics(f), 'relay_proxy_retries_total', { reason: 'network' }) >= 1);
  });

  it('spool full with SPOOL_FULL_POLICY=reject: 503 + Retry-After, nothing acknowledged is lost', async () => {
    const ws = await workspace();
    ws.fault = { status: 503, untilMs: Date.now() + 60_000 };
    const f = await forwarder({ INGESTION_URL: ws.url, SPOOL_MAX_BYTES: '128KiB', SPOOL_SEGMENT_BYTES: '64KiB' });
    const acked: string[] = [];
    let refused: { status: number; headers: Headers; text: string } | undefined;
    for (let i = 0; i < 1000 && !refused; i++) {
      const g = generateRequest(i);
      const r = await postWrite(f.url, g.body);
      if (r.status === 204) acked.push(...g.keys);
      else refused = r;
    }
    assert.equal(refused?.status, 503, refused?.text);
    assert.equal(refused?.headers.get('retry-after'), '5');
    assert.match(refused.text, /spool is full/);
    assert.equal(metricValue(await metrics(f), 'relay_proxy_rejected_requests_total', { reason: 'spool_full' }), 1);
    ws.fault = undefined;
    await waitFor('acknowledged data delivered', () => receivedKeys(ws).size === acked.length, 10_000);
    const got = receivedKeys(ws);
    assert.ok(acked.every((k) => got.has(k)));
  });
});

describe("Azure's window, end to end", () => {
  it("an outage longer than MAX_SAMPLE_AGE: the too-old data is counted and never sent; the workspace (Azure's rules) drops nothing; everything newer arrives", async () => {
    // Azure's 20 minutes scaled down to 3 s, on both sides
    const ws = await workspace('ws', { maxAgeMs: 3000 });
    const f = await forwarder({ INGESTION_URL: ws.url, MAX_SAMPLE_AGE: '3s', UPSTREAM_TIMEOUT: '1s', MIN_SHARDS: '2', MAX_SHARDS: '4' });
    const t0 = Date.now();
    const recovered = t0 + 6000;
    ws.fault = { status: 503, untilMs: recovered };
    const writes: { t: number; keys: string[] }[] = [];
    for (let i = 0; Date.now() - t0 < 7000; i++) {
      const t = Date.now();
      const req = {
        timeseries: [0, 1, 2, 3, 4].map((s) => ({
          labels: [
            { name: '__name__', value: 'window_e2e' },
            { name: 'instance', value: `h${s}` },
          ],
          samples: [{ value: numberToBits(i), timestamp: BigInt(t) }],
          exemplars: [],
          histograms: [],
        })),
        metadata: [],
      };
      const r = await postWrite(f.url, compressSync(encodeWriteRequest(req)));
      assert.equal(r.status, 204);
      writes.push({ t, keys: sampleKeys(req) });
      await new Promise((res) => setTimeout(res, 100));
    }
    await waitFor('the spool settled', () => f.spool.reader(f.lanes()[0].name).pendingBytes() === 0, 15_000);
    const got = receivedKeys(ws);
    const tooOld = metricValue(await metrics(f), 'relay_proxy_dropped_samples_total', { reason: 'too_old' });
    const all = writes.flatMap((w) => w.keys);
    assert.equal(got.size + tooOld, all.length, 'each sample delivered or counted too old');
    assert.ok(tooOld > 0);
    assert.deepEqual(ws.summary().dropped, { outOfOrder: 0, tooOld: 0, tooNew: 0, duplicate: 0 }, 'nothing sent that Azure would drop');
    for (const w of writes)
      if (w.t > recovered - 1000)
        assert.ok(
          w.keys.every((k) => got.has(k)),
          `a write from ${recovered - w.t} ms before recovery is missing`,
        );
    assert.ok(logs.some((l) => l.includes('older than MAX_SAMPLE_AGE')));
  });
});

describe('batching figure', () => {
  it('500-sample requests at 20 000 samples/s become upstream calls of 10 000+ samples (defaults)', async (t) => {
    const ws = await workspace();
    const f = await forwarder({ INGESTION_URL: ws.url, BATCH_MAX_WAIT: '1s', BATCH_MAX_SAMPLES: '20000' });
    const seconds = 3;
    const perSecond = 40; // 40 × 500 = 20 000 samples/s
    const t0 = Date.now();
    const pending: Promise<{ status: number }>[] = [];
    const latencies: number[] = [];
    for (let i = 0; i < seconds * perSecond; i++) {
      const due = t0 + (i * 1000) / perSecond;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const sent = Date.now();
      // Sent without waiting for the previous answer, so each request has its own series: two
      // in flight for one series could arrive swapped, and the emulator drops out-of-order samples.
      pending.push(postWrite(f.url, generateRequest(i, { run: `request-${i}` }).body).then((r) => (latencies.push(Date.now() - sent), r)));
    }
    assert.ok((await Promise.all(pending)).every((r) => r.status === 204));
    await waitFor('all delivered', () => receivedKeys(ws).size === seconds * perSecond * 500, 10_000);
    const calls = ws.requests.filter((r) => r.status === 200);
    const avg = calls.reduce((n, r) => n + r.samples, 0) / calls.length;
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)];
    t.diagnostic(
      `${seconds * perSecond} requests of 500 samples at 20 000 samples/s → ${calls.length} upstream calls, ${Math.round(avg)} samples per call on average; ack latency p50 ${latencies[latencies.length >> 1]} ms, p99 ${p99} ms`,
    );
    assert.ok(avg >= 10_000, `average ${avg} samples per upstream call`);
  });
});
