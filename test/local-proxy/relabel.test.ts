// The forwarder with RELABEL_CONFIG_FILE, against an emulated workspace: dropped series
// never arrive, changed series arrive relabelled (and with the cluster label, added after
// the rules), a request whose every series is dropped is answered 204 and never sent, the
// drops are in /metrics per rule and in the per-minute line; a bad rule file stops start-up
// naming the setting, the rule and the field.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { compressSync } from 'snappy';
import { type WorkspaceEmulator, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import { loadForwarderConfig } from '../../local-proxy/config';
import { type RunningForwarder, startForwarder } from '../../local-proxy/forwarder';
import { ConfigError } from '../../shared/config/loaders';
import { createLogger } from '../../shared/observability/log';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type TimeSeries, numberToBits } from '../../shared/remote-write/model/types';
import { postWrite, waitFor } from './helpers';
import { metricValue } from '../../dev/kit/metrics-text';
import { tempDir } from '../../dev/kit/temp-dir';

let tmp: { dir: string; remove(): void };
let ws: WorkspaceEmulator | undefined;
let fwd: RunningForwarder | undefined;
let logs: string[] = [];

beforeEach(() => {
  tmp = tempDir('relabel-test');
  logs = [];
});
afterEach(async () => {
  await fwd?.stop();
  await ws?.close();
  fwd = undefined;
  ws = undefined;
  tmp.remove();
});

const RULES = `# as under Prometheus's write_relabel_configs
- source_labels: [__name__]
  regex: go_.*|process_.*
  action: drop
- regex: pod_uid
  action: labeldrop
- source_labels: [instance]
  regex: ([^:]+):\\d+
  target_label: host
`;

function env(rulesYaml: string): Record<string, string> {
  const file = path.join(tmp.dir, 'relabel.yaml');
  writeFileSync(file, rulesYaml);
  return {
    RELABEL_CONFIG_FILE: file,
    LISTENING_PORT: '0',
    LISTENING_HOST: '127.0.0.1',
    IDENTITY_TYPE: 'none',
    CLUSTER: 'c1',
    SPOOL_DIR: path.join(tmp.dir, 'spool'),
    BATCH_MAX_WAIT: '50ms',
    SHUTDOWN_TIMEOUT: '1s',
    MAX_SAMPLE_AGE: '0',
  };
}

const NOW = BigInt(Date.now());
function body(list: [string, Record<string, string>][], later = 0n): Buffer {
  const timeseries: TimeSeries[] = list.map(([name, labels], i) => ({
    labels: [{ name: '__name__', value: name }, ...Object.entries(labels).map(([n, v]) => ({ name: n, value: v }))],
    samples: [
      { value: numberToBits(i), timestamp: NOW + later + BigInt(i) },
      { value: numberToBits(i), timestamp: NOW + later + BigInt(i) + 1000n },
    ],
    exemplars: [],
    histograms: [],
  }));
  return compressSync(encodeWriteRequest({ timeseries, metadata: [] }));
}

describe('forwarder relabelling (RELABEL_CONFIG_FILE)', () => {
  it('drops and rewrites before spooling; all-dropped requests are 204 and never sent; drops counted per rule', async () => {
    ws = await startWorkspaceEmulator({ name: 'ws' });
    fwd = await startForwarder(loadForwarderConfig({ ...env(RULES), INGESTION_URL: ws.url }), {
      log: createLogger((l) => logs.push(l)),
      defaultMetrics: false,
    });
    const mixed = body([
      ['go_goroutines', { instance: 'a:9100' }],
      ['node_load1', { instance: 'a:9100', pod_uid: 'u-1' }],
      ['up', { job: 'x' }],
    ]);
    assert.equal((await postWrite(fwd.url, mixed)).status, 204);
    await waitFor('delivered', () => ws!.series.size === 2);
    assert.deepEqual([...ws.series.keys()].sort(), ['__name__="node_load1",cluster="c1",host="a",instance="a:9100"', '__name__="up",cluster="c1",job="x"']);
    const callsBefore = ws.requests.length;
    const allDropped = body([
      ['process_cpu_seconds_total', {}],
      ['go_threads', { pod_uid: 'u' }],
    ]);
    assert.equal((await postWrite(fwd.url, allDropped)).status, 204);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ws.requests.length, callsBefore, 'nothing sent for a request whose every series was dropped');

    const text = await (await fetch(`${fwd.url}/metrics`)).text();
    assert.equal(metricValue(text, 'relay_proxy_relabel_dropped_samples_total', { rule: '0', action: 'drop' }), 6);
    assert.equal(metricValue(text, 'relay_proxy_relabel_dropped_samples_total', { rule: '1' }), 0);
    assert.equal(metricValue(text, 'relay_proxy_received_samples_total'), 4);
    await fwd.stop();
    fwd = undefined;
    assert.ok(
      logs.some((l) => /Metric packets published/.test(l) && /relabelDroppedSamples=6\b/.test(l)),
      logs.join('\n'),
    );
  });

  it("the verdict cache's hits, misses, evictions and size are in /metrics: series sent again are hits", async () => {
    ws = await startWorkspaceEmulator({ name: 'ws' });
    fwd = await startForwarder(loadForwarderConfig({ ...env(RULES), INGESTION_URL: ws.url }), { log: createLogger(() => {}), defaultMetrics: false });
    const series: [string, Record<string, string>][] = [
      ['go_goroutines', { instance: 'a:9100' }],
      ['node_load1', { instance: 'a:9100', pod_uid: 'u-1' }],
      ['up', { job: 'x' }],
    ];
    const cache = async (): Promise<number[]> => {
      const text = await (await fetch(`${fwd!.url}/metrics`)).text();
      return ['hits_total', 'misses_total', 'evictions_total', 'entries', 'bytes'].map((m) => metricValue(text, `relay_proxy_relabel_cache_${m}`));
    };
    assert.equal((await postWrite(fwd.url, body(series))).status, 204);
    const first = await cache();
    assert.deepEqual(first.slice(0, 4), [0, 3, 0, 3], 'hits, misses, evictions, entries after three new series');
    assert.ok(first[4] > 0, 'label bytes held');
    assert.equal((await postWrite(fwd.url, body(series, 15_000n))).status, 204);
    assert.equal((await postWrite(fwd.url, body(series, 30_000n))).status, 204);
    assert.deepEqual((await cache()).slice(0, 4), [6, 3, 0, 3], 'the same series twice more: six hits, no new entries');
  });

  it('labels the rules produce are validated like any other: a bad one is 400 naming it', async () => {
    ws = await startWorkspaceEmulator({ name: 'ws' });
    const rules = '- {source_labels: [v], target_label: long, regex: "(.*)", replacement: "$1$1$1$1"}\n';
    fwd = await startForwarder(loadForwarderConfig({ ...env(rules), INGESTION_URL: ws.url, MAX_LABEL_VALUE_LENGTH: '10' }), {
      log: createLogger((l) => logs.push(l)),
      defaultMetrics: false,
    });
    const r = await postWrite(fwd.url, body([['m', { v: 'abcd' }]]));
    assert.equal(r.status, 400);
    assert.match(r.text, /value of label "long" is 16 characters, the limit is 10: m\{long="abcdabcdabcdabcd"/);
  });

  it('MAX_HOURLY_SERIES: new series over the limit are dropped and counted, known series keep flowing', async () => {
    ws = await startWorkspaceEmulator({ name: 'ws' });
    const e = env('');
    delete e.RELABEL_CONFIG_FILE;
    fwd = await startForwarder(loadForwarderConfig({ ...e, INGESTION_URL: ws.url, MAX_HOURLY_SERIES: '2' }), {
      log: createLogger((l) => logs.push(l)),
      defaultMetrics: false,
    });
    assert.equal(
      (
        await postWrite(
          fwd.url,
          body([
            ['a', {}],
            ['b', {}],
            ['c', {}],
          ]),
        )
      ).status,
      204,
    );
    assert.equal((await postWrite(fwd.url, body([['d', {}]]))).status, 204, 'all over the limit: 204, nothing sent');
    assert.equal(
      (
        await postWrite(
          fwd.url,
          body(
            [
              ['b', { x: '1' }],
              ['a', {}],
            ],
            5000n,
          ),
        )
      ).status,
      204,
    );
    await waitFor('delivered', () => ws!.series.size === 2 && [...ws!.series.values()].reduce((n, s) => n + s.samples.size, 0) === 6);
    assert.deepEqual([...ws.series.keys()].sort(), ['__name__="a",cluster="c1"', '__name__="b",cluster="c1"']);
    const text = await (await fetch(`${fwd.url}/metrics`)).text();
    assert.equal(metricValue(text, 'relay_proxy_series_limit_dropped_samples_total', { window: 'hourly' }), 6);
    assert.equal(metricValue(text, 'relay_proxy_series_limit_current_series', { window: 'hourly' }), 2);
    assert.throws(() => loadForwarderConfig({ ...e, INGESTION_URL: ws!.url, MAX_DAILY_SERIES: 'lots' }), /MAX_DAILY_SERIES: "lots" is not a whole number/);
  });

  it('a bad rule file stops start-up naming RELABEL_CONFIG_FILE, the rule and the field', () => {
    const bad = `${RULES}- {action: hashmod, source_labels: [a], target_label: shard}\n`;
    assert.throws(
      () => loadForwarderConfig({ ...env(bad), INGESTION_URL: 'http://127.0.0.1:1/x' }),
      (err: unknown) =>
        err instanceof ConfigError && /RELABEL_CONFIG_FILE \(.*relabel\.yaml\): rule 3, modulus: hashmod requires a non-zero modulus/.test(err.message),
    );
    assert.throws(
      () => loadForwarderConfig({ ...env(RULES), RELABEL_CONFIG_FILE: path.join(tmp.dir, 'missing.yaml'), INGESTION_URL: 'http://127.0.0.1:1/x' }),
      /RELABEL_CONFIG_FILE: cannot read .*missing\.yaml: ENOENT/,
    );
  });
});
