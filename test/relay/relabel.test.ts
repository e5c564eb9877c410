// The relay with relabel rules: RELABEL_CONFIG_FILE for every tenant, then each tenant's
// `relabelConfigs`, then the tenant's cluster label. Dropped series never reach the
// workspace, a request whose every series is dropped is answered 204 with no upstream
// call, drops count per tenant and rule in telemetry and in the per-minute line, and a
// bad tenant rule stops start-up naming the tenant, the rule and the field.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compressSync } from 'snappy';
import { loadRelayConfig } from '../../shared/relay/config';
import { ConfigError } from '../../shared/config/loaders';
import { noTelemetry } from '../../shared/observability/telemetry';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type TimeSeries, numberToBits } from '../../shared/remote-write/model/types';
import { type Harness, REMOTE_WRITE_HEADERS, startHarness } from '../../dev/kit/relay-harness';

const KEY_A = 'relabel-tenant-a-key';
const KEY_B = 'relabel-tenant-b-key';
const KEY_C = 'relabel-tenant-c-key';
const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
const asA = { ...REMOTE_WRITE_HEADERS, 'x-relay-key': KEY_A };
const asB = { ...REMOTE_WRITE_HEADERS, 'x-relay-key': KEY_B };
const asC = { ...REMOTE_WRITE_HEADERS, 'x-relay-key': KEY_C };

function body(list: [string, Record<string, string>][]): Buffer {
  const timeseries: TimeSeries[] = list.map(([name, labels], i) => ({
    labels: [{ name: '__name__', value: name }, ...Object.entries(labels).map(([n, v]) => ({ name: n, value: v }))],
    samples: [{ value: numberToBits(i), timestamp: 1_700_000_000_000n + BigInt(i) }],
    exemplars: [],
    histograms: [],
  }));
  return compressSync(encodeWriteRequest({ timeseries, metadata: [] }));
}

describe('relay relabelling', () => {
  let dir: string;
  let h: Harness;
  const dropped: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'relay-relabel-'));
    const file = path.join(dir, 'all.yaml');
    writeFileSync(file, '- {source_labels: [__name__], regex: "go_.*", action: drop}\n');
    h = await startHarness({
      workspaces: 3,
      telemetry: { ...noTelemetry, relabelDropped: (tenant, rule, n) => dropped.push(`${tenant}/${rule}=${n}`) },
      env: (ws) => ({
        RELABEL_CONFIG_FILE: file,
        RELAY_TENANTS: JSON.stringify({
          tenants: [
            {
              name: 'team-a',
              cluster: 'aks-a',
              keySha256: [sha(KEY_A)],
              ingestionUrls: [ws[0].url],
              relabelConfigs: [
                { source_labels: ['__name__'], regex: 'debug_.*', action: 'drop' },
                { regex: 'pod', action: 'labeldrop' },
              ],
            },
            { name: 'team-b', cluster: 'aks-b', keySha256: [sha(KEY_B)], ingestionUrls: [ws[1].url] },
            { name: 'team-c', cluster: 'aks-c', keySha256: [sha(KEY_C)], ingestionUrls: [ws[2].url], limits: { maxHourlySeries: 2 } },
          ],
        }),
      }),
    });
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the file's rules for every tenant, then the tenant's, then its cluster label; dropped series never arrive", async () => {
    const [wsA, wsB] = h.workspaces;
    const sent = body([
      ['go_goroutines', {}],
      ['debug_x', {}],
      ['http_requests_total', { pod: 'p-1', job: 'api' }],
    ]);
    const a = await h.write(sent, asA);
    assert.equal(a.status, 204, a.body);
    assert.deepEqual([...wsA.series.keys()], ['__name__="http_requests_total",cluster="aks-a",job="api"']);
    const b = await h.write(sent, asB);
    assert.equal(b.status, 204, b.body);
    assert.deepEqual([...wsB.series.keys()].sort(), [
      '__name__="debug_x",cluster="aks-b"',
      '__name__="http_requests_total",cluster="aks-b",job="api",pod="p-1"',
    ]);
  });

  it('every series dropped: 204 and no upstream call', async () => {
    const [wsA] = h.workspaces;
    const calls = wsA.requests.length;
    const r = await h.write(
      body([
        ['go_threads', {}],
        ['debug_y', { pod: 'p' }],
      ]),
      asA,
    );
    assert.equal(r.status, 204, r.body);
    assert.equal(wsA.requests.length, calls);
  });

  it("a tenant's maxHourlySeries: new series over it are dropped, known ones flow, all-over is 204 with no call", async () => {
    const wsC = h.workspaces[2];
    assert.equal(
      (
        await h.write(
          body([
            ['a', {}],
            ['b', {}],
            ['c', {}],
          ]),
          asC,
        )
      ).status,
      204,
    );
    const calls = wsC.requests.length;
    assert.equal((await h.write(body([['d', {}]]), asC)).status, 204);
    assert.equal(wsC.requests.length, calls);
    assert.equal(
      (
        await h.write(
          body([
            ['b', { x: '1' }],
            ['a', {}],
          ]),
          asC,
        )
      ).status,
      204,
    );
    assert.deepEqual([...wsC.series.keys()].sort(), ['__name__="a",cluster="aks-c"', '__name__="b",cluster="aks-c"']);
  });

  it('drops are counted per tenant and rule (telemetry) and summed on the per-minute line', () => {
    const line = h.publishLog.flush();
    // team-a: go_goroutines, debug_x, go_threads, debug_y; team-b: go_goroutines
    assert.match(line, / relabelDroppedSamples=5\b/);
    // team-c: c, then d, then b{x="1"} (another series than b; the known a passed)
    assert.match(line, / seriesLimitDroppedSamples=3\b/);
    assert.deepEqual(dropped.sort(), ['team-a/0=2', 'team-a/tenant:0=2', 'team-b/0=1', 'team-c/series_limit:hourly=3']);
    // read once: the next line starts from zero
    assert.match(h.publishLog.flush(), / relabelDroppedSamples=0 seriesLimitDroppedSamples=0\b/);
  });
});

describe('relay relabel configuration', () => {
  it('a bad tenant rule stops start-up naming the tenant, the rule and the field', () => {
    const env = {
      INGESTION_URL: 'http://127.0.0.1:1/x',
      RELAY_TENANTS: JSON.stringify({
        tenants: [
          {
            name: 't1',
            cluster: 'c',
            keySha256: [sha('k')],
            ingestionUrls: ['http://127.0.0.1:1/x'],
            relabelConfigs: [
              { action: 'keep', source_labels: ['a'] },
              { action: 'labelmap', regex: 'x', replacement: '-bad' },
            ],
          },
        ],
      }),
    };
    assert.throws(
      () => loadRelayConfig(env),
      (err: unknown) =>
        err instanceof ConfigError && /tenants\[0\] \(t1\): "relabelConfigs": rule 1, replacement: "-bad" is not a valid label name/.test(err.message),
    );
  });
});
