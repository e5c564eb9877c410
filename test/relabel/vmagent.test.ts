// Proof against a real implementation: the same rule file given to vmagent
// (-remoteWrite.urlRelabelConfig) and to our forwarder (RELABEL_CONFIG_FILE), the same
// traffic sent to both, and the two workspaces must then hold the same samples under the
// same series. vmagent is Debian's victoria-metrics package (installed by .ci/run); without
// it the test is skipped, except in CI (CI=true) where that is a failure.
//
// Debian's vmagent is 1.79: it predates keepequal/dropequal, and its hashmod hashes with
// xxhash where Prometheus uses md5. Those are checked against Prometheus's own expected
// values in process.test.ts; every other action is compared here.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { compressSync } from 'snappy';
import { type WorkspaceEmulator, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import { loadForwarderConfig } from '../../local-proxy/config';
import { type RunningForwarder, startForwarder } from '../../local-proxy/forwarder';
import { createLogger } from '../../shared/observability/log';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type Label, type TimeSeries, numberToBits } from '../../shared/remote-write/model/types';
import { freePort } from '../../dev/kit/ports';
import { WRITE_HEADERS, postWrite, receivedKeys, waitFor } from '../local-proxy/helpers';
import { metricValue } from '../../dev/kit/metrics-text';

const VMAGENT = ['/usr/bin/vmagent', '/usr/local/bin/vmagent'].find((p) => existsSync(p));

// What users write: cost cuts plus label surgery, every action vmagent 1.79 shares with Prometheus.
export const PROOF_RULES = String.raw`
- source_labels: [__name__]
  regex: go_.*|process_.*
  action: drop
- source_labels: [__name__, le]
  regex: apiserver_request_duration_seconds_bucket;(0\.0[0-9]+|\+Inf)
  action: drop
- regex: pod_uid|container_id
  action: labeldrop
- source_labels: [instance]
  regex: ([^:]+):\d+
  target_label: host
  replacement: node-$1
- source_labels: [namespace, pod]
  separator: /
  regex: (kube-.*)/(.+)
  target_label: workload
  replacement: ${'$'}{1}_${'$'}{2}
- regex: k8s_(.+)
  action: labelmap
  replacement: kube_$1
- source_labels: [method]
  regex: (?i)post|put
  target_label: write
  replacement: "yes"
- source_labels: [env]
  regex: ""
  target_label: env
  replacement: unknown
- source_labels: [zone]
  target_label: zone_upper
  action: uppercase
- source_labels: [Team]
  target_label: team
  action: lowercase
- source_labels: [__name__]
  regex: kube_.*|node_.*|http_.*|apiserver_.*
  action: keep
- source_labels: [debug]
  regex: .+
  action: drop
- regex: __tmp_.*|k8s_.*|Team
  action: labeldrop
`;

const NAMES = [
  'go_goroutines',
  'process_cpu_seconds_total',
  'http_requests_total',
  'node_load1',
  'kube_pod_info',
  'apiserver_request_duration_seconds_bucket',
  'up',
  'http_debug_total',
];
const LES = ['0.005', '0.05', '0.5', '1', '+Inf'];
const METHODS = ['GET', 'POST', 'Put', 'delete'];

/** Request r of the run: 120 series, each with one sample at a timestamp unique to the request. */
function request(r: number, t0: bigint): Buffer {
  const timeseries: TimeSeries[] = [];
  for (let i = 0; i < 120; i++) {
    const name = NAMES[i % NAMES.length];
    const labels: Label[] = [
      { name: '__name__', value: name },
      { name: 'instance', value: i % 7 === 0 ? 'no-port' : `host-${i % 5}:${9100 + (i % 3)}` },
      { name: 'job', value: `job-${i % 4}` },
      { name: 'method', value: METHODS[i % METHODS.length] },
      { name: 'pod_uid', value: `uid-${i}` },
    ];
    if (name.endsWith('_bucket')) labels.push({ name: 'le', value: LES[i % LES.length] });
    if (i % 3 === 0) labels.push({ name: 'namespace', value: i % 2 ? 'kube-system' : 'apps' }, { name: 'pod', value: `pod-${i}` });
    if (i % 4 === 0) labels.push({ name: 'k8s_node', value: `n${i % 3}` });
    if (i % 5 === 0) labels.push({ name: 'env', value: 'prod' });
    if (i % 6 === 0) labels.push({ name: 'zone', value: `eu-west-${i % 3}a` });
    if (i % 8 === 2) labels.push({ name: 'Team', value: 'Payments-ÄÖ' });
    if (i % 11 === 0) labels.push({ name: 'debug', value: 'true' });
    if (i % 13 === 0) labels.push({ name: 'container_id', value: `c-${i}` });
    labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    timeseries.push({ labels, samples: [{ value: numberToBits(r * 1000 + i), timestamp: t0 + BigInt(r) * 1000n }], exemplars: [], histograms: [] });
  }
  return compressSync(encodeWriteRequest({ timeseries, metadata: [] }));
}

describe(
  'same rules, same traffic: vmagent and the forwarder store the same series',
  { skip: !VMAGENT && process.env.CI !== 'true' ? 'vmagent is not installed (apt-get install victoria-metrics)' : false },
  () => {
    let dir: string;
    let vmWs: WorkspaceEmulator;
    let ourWs: WorkspaceEmulator;
    let vmagent: ChildProcess;
    let vmagentUrl: string;
    let fwd: RunningForwarder;

    before(async () => {
      assert.ok(VMAGENT, 'vmagent is not installed: CI needs the victoria-metrics package (.ci/run installs it)');
      dir = mkdtempSync(path.join(tmpdir(), 'relabel-vmagent-'));
      const rules = path.join(dir, 'rules.yaml');
      writeFileSync(rules, PROOF_RULES);
      vmWs = await startWorkspaceEmulator({ name: 'vmagent-ws', maxAgeMs: Infinity, maxFutureMs: Infinity });
      ourWs = await startWorkspaceEmulator({ name: 'forwarder-ws', maxAgeMs: Infinity, maxFutureMs: Infinity });
      const port = await freePort();
      vmagent = spawn(
        VMAGENT,
        [
          `-httpListenAddr=127.0.0.1:${port}`,
          `-remoteWrite.url=${vmWs.url}`,
          `-remoteWrite.urlRelabelConfig=${rules}`,
          `-remoteWrite.tmpDataPath=${path.join(dir, 'vmagent-queue')}`,
          '-remoteWrite.flushInterval=200ms',
          // one queue: with several, vmagent's blocks can arrive out of order and the store drops some
          '-remoteWrite.queues=1',
          '-loggerLevel=ERROR',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      vmagent.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      vmagentUrl = `http://127.0.0.1:${port}`;
      await waitFor(`vmagent to start (${stderr})`, async () => (await fetch(`${vmagentUrl}/health`).catch(() => undefined))?.ok === true, 15_000, 100);
      fwd = await startForwarder(
        loadForwarderConfig({
          INGESTION_URL: ourWs.url,
          RELABEL_CONFIG_FILE: rules,
          LISTENING_PORT: '0',
          LISTENING_HOST: '127.0.0.1',
          IDENTITY_TYPE: 'none',
          SPOOL_DIR: path.join(dir, 'spool'),
          BATCH_MAX_WAIT: '100ms',
          SHUTDOWN_TIMEOUT: '1s',
          MAX_SAMPLE_AGE: '0',
        }),
        { log: createLogger(() => undefined), defaultMetrics: false },
      );
    });

    after(async () => {
      await fwd?.stop();
      vmagent?.kill('SIGKILL');
      await vmWs?.close();
      await ourWs?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the two workspaces hold the same samples under the same label sets', async () => {
      const t0 = BigInt(Date.now()) - 60_000n;
      for (let r = 0; r < 10; r++) {
        const body = request(r, t0);
        const [a, b] = await Promise.all([postWrite(`${vmagentUrl}`, body, WRITE_HEADERS), postWrite(fwd.url, body)]);
        assert.equal(a.status, 204, `vmagent: ${a.text}`);
        assert.equal(b.status, 204, `forwarder: ${b.text}`);
      }
      // Once the forwarder has delivered all it took, vmagent must come to hold as many samples.
      // (Series the rules make equal — labeldrop of pod_uid — collide: both stores keep one
      // sample per series and timestamp, as Azure does.)
      await waitFor('the forwarder to deliver', async () => {
        const text = await (await fetch(`${fwd.url}/metrics`)).text();
        const received = metricValue(text, 'relay_proxy_received_samples_total');
        return received > 0 && metricValue(text, 'relay_proxy_sent_samples_total') === received;
      });
      await waitFor('vmagent to deliver as many samples', () => receivedKeys(vmWs).size >= receivedKeys(ourWs).size, 20_000, 100).catch(() => undefined);
      const ours = [...receivedKeys(ourWs)].sort();
      const theirs = [...receivedKeys(vmWs)].sort();
      assert.deepEqual(ours, theirs);
      // not vacuous: the rules did drop, relabel and keep
      const series = [...ourWs.series.keys()];
      assert.ok(series.length > 30, `${series.length} series`);
      assert.ok(ours.length < 10 * 120, 'something was dropped');
      for (const must of [
        'host="node-host-',
        'workload="kube-system_pod-',
        'kube_node="',
        'write="yes"',
        'env="unknown"',
        'zone_upper="EU-WEST-',
        'team="payments-äö"',
      ]) {
        assert.ok(
          series.some((s) => s.includes(must)),
          `no series has ${must}`,
        );
      }
      for (const mustNot of ['go_goroutines', 'process_', '"up"', 'pod_uid', 'debug=', 'k8s_node', 'le="+Inf"']) {
        assert.ok(!series.some((s) => s.includes(mustNot)), `a series still has ${mustNot}`);
      }
    });
  },
);
