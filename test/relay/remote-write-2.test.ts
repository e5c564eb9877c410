// Remote-write 2.0 at the relay's write route: the receiver cases of the
// prometheus/compliance suite (remotewrite/receiver) as our own table — content
// types and encodings, corrupt bodies, special values, histograms of every shape,
// exemplars, metadata of every type, refused and partial writes with their
// X-Prometheus-Remote-Write-*-Written counts — and what arrives in the workspaces:
// 1.0, with the cluster label, split when large.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { compressSync, uncompressSync } from 'snappy';
import { emptyHistogram } from '../../shared/remote-write/model/decode';
import {
  type Exemplar,
  type Float64Bits,
  type Histogram,
  type Label,
  MetricType,
  normalNaNBits,
  numberToBits,
  staleMarkerBits,
} from '../../shared/remote-write/model/types';
import { seriesKey } from '../../dev/emulators/workspace';
import { type Harness, REMOTE_WRITE_HEADERS, startHarness } from '../../dev/kit/relay-harness';
import { loadFixtures } from '../../dev/kit/repo';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { createHash } from 'node:crypto';
import { type V2Histogram, type V2Metadata, type V2Series, encodeV2Request, v2SeriesOf } from '../../dev/kit/v2-request';

export const V2_HEADERS = {
  ...REMOTE_WRITE_HEADERS,
  'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
  'x-prometheus-remote-write-version': '2.0.0',
  'user-agent': 'Prometheus/3.8.0',
};

const T = BigInt(Date.now());
const one = numberToBits(1);
const labels = (o: Record<string, string>): Label[] =>
  Object.keys(o)
    .sort()
    .map((name) => ({ name, value: o[name] }));
const basic = (name: string): Label[] => labels({ __name__: name, job: 'test', instance: 'localhost:9090' });
const sample = (l: Label[], value: Float64Bits = one, extra: Partial<V2Series> = {}): V2Series => ({
  labels: l,
  samples: [{ value, timestamp: T }],
  histograms: [],
  exemplars: [],
  ...extra,
});

/** The compliance suite's histogram(): buckets on the sides asked for, counts that add up. */
function histogram(sum: number, positive: boolean, negative: boolean, zero: boolean, custom = false): V2Histogram {
  const h: V2Histogram = { ...emptyHistogram(), sum: numberToBits(sum), schema: custom ? -53 : 2, timestamp: T };
  let count = 0n;
  if (positive) {
    h.positiveSpans = [
      { offset: 0, length: 2 },
      { offset: 1, length: 1 },
    ];
    h.positiveDeltas = [2n, 1n, -2n]; // 2, 3, 1
    count += 6n;
  }
  if (negative && !custom) {
    h.negativeSpans = [{ offset: -1, length: 1 }];
    h.negativeDeltas = [4n];
    count += 4n;
  }
  if (zero && !custom) {
    h.zeroThreshold = numberToBits(1e-128);
    h.zeroCount = { kind: 'int', value: 1n };
    count += 1n;
  }
  if (custom) h.customValues = [0.1, 0.5, 1, 5].map(numberToBits);
  h.count = { kind: 'int', value: count };
  return h;
}

const floatHistogram: Histogram = {
  ...emptyHistogram(),
  count: { kind: 'float', bits: numberToBits(3.5) },
  sum: numberToBits(7.25),
  schema: 0,
  zeroCount: { kind: 'float', bits: numberToBits(0.5) },
  positiveSpans: [{ offset: 1, length: 2 }],
  positiveCounts: [numberToBits(1.5), numberToBits(1.5)],
  timestamp: T,
};

const hist = (l: Label[], h: V2Histogram, extra: Partial<V2Series> = {}): V2Series => ({ labels: l, samples: [], histograms: [h], exemplars: [], ...extra });
const exemplar = (l: Record<string, string>, value: number): Exemplar => ({ labels: labels(l), value: numberToBits(value), timestamp: T });
const meta = (type: number, help: string, unit: string): V2Metadata => ({ type, help, unit });

interface Case {
  name: string;
  series?: V2Series[];
  body?: Buffer;
  headers?: Record<string, string>;
  status: number;
  /** samples, histograms, exemplars answered as written; undefined: no Written headers */
  written?: [number, number, number];
  reason?: RegExp;
}

const corrupt = (): Buffer => {
  const b = compressSync(encodeV2Request([sample(basic('up'))]));
  b[0] = 0x30; // the compliance suite's corruption: '0' over the first byte
  return b;
};

const values: [string, Float64Bits][] = [
  ['1.0', one],
  ['StaleNaN', staleMarkerBits],
  ['NaN', normalNaNBits],
  ['Inf', 0x7ff0000000000000n],
  ['-Inf', 0xfff0000000000000n],
];

const CASES: Case[] = [
  // requests
  ...['application/json', 'image/png'].map((ct): Case => ({
    name: `bad content type ${ct}`,
    body: corrupt(),
    headers: { ...V2_HEADERS, 'content-type': ct },
    status: 415,
    reason: /Content-Type/,
  })),
  ...['gzip', 'deflate'].map((ce): Case => ({
    name: `bad content encoding ${ce}`,
    body: corrupt(),
    headers: { ...V2_HEADERS, 'content-encoding': ce },
    status: 415,
    reason: new RegExp(`"${ce}" is not supported`),
  })),
  { name: 'corrupt body', body: corrupt(), status: 400, written: [0, 0, 0], reason: /snappy/ },
  // metrics, every special value
  ...values.flatMap(([what, v]): Case[] => [
    { name: `simple metric ${what}`, series: [sample(labels({ __name__: 'up' }), v)], status: 204, written: [1, 0, 0] },
    { name: `metric with several labels ${what}`, series: [sample(basic('up'), v)], status: 204, written: [1, 0, 0] },
    {
      name: `metric with newlines in a value ${what}`,
      series: [sample(labels({ __name__: 'up', job: 'test\njob\n', instance: 'localhost:9090' }), v)],
      status: 204,
      written: [1, 0, 0],
    },
    {
      name: `four metrics ${what}`,
      series: ['9090', '9091', '9092', '9093'].map((p) => sample(labels({ __name__: 'up', job: 'testjob', instance: `localhost:${p}` }), v)),
      status: 204,
      written: [4, 0, 0],
    },
  ]),
  // Deviations from the suite, by design: names are held to 1.0's (and Azure's) rules, and one
  // bad series refuses the whole request, so a "partial write" writes nothing.
  {
    name: 'metric with dots in names (suite: accepted; here the 1.0 name rules hold)',
    series: [sample(labels({ __name__: 'resource.cpu.usage', 'job.name': 'x' }))],
    status: 400,
    written: [0, 0, 0],
    reason: /does not match/,
  },
  {
    name: 'metric without __name__',
    series: [sample(labels({ job: 'testjob', instance: 'localhost:9090' }))],
    status: 400,
    written: [0, 0, 0],
    reason: /series has no __name__ label: \{instance="localhost:9090",job="testjob"\}/,
  },
  { name: 'empty metric (no labels)', series: [sample([])], status: 400, written: [0, 0, 0], reason: /no __name__/ },
  {
    name: 'four metrics, one without __name__ (suite: 3 written; here none)',
    series: [sample(labels({ job: 'testjob' })), ...['1', '2', '3'].map((i) => sample(labels({ __name__: 'up', instance: i })))],
    status: 400,
    written: [0, 0, 0],
    reason: /no __name__/,
  },
  {
    name: 'counter with a start timestamp',
    series: [
      sample(labels({ __name__: 'http_requests_total', job: 'api' }), numberToBits(100), {
        samples: [{ value: numberToBits(100), timestamp: T, startTimestamp: T - 3_600_000n }],
      }),
    ],
    status: 204,
    written: [1, 0, 0],
  },
  {
    name: "counter with the drafts' series created_timestamp",
    series: [sample(labels({ __name__: 'http_requests_total' }), one, { createdTimestamp: T - 60_000n })],
    status: 204,
    written: [1, 0, 0],
  },
  // histograms of every shape
  {
    name: 'histogram: positive, negative and zero buckets',
    series: [hist(basic('test_histogram'), histogram(1, true, true, true))],
    status: 204,
    written: [0, 1, 0],
  },
  { name: 'histogram: custom buckets', series: [hist(basic('test_histogram'), histogram(1, true, false, false, true))], status: 204, written: [0, 1, 0] },
  {
    name: 'histogram: positive and zero only',
    series: [hist(labels({ __name__: 'test_histogram', job: 'test' }), histogram(1, true, false, true))],
    status: 204,
    written: [0, 1, 0],
  },
  {
    name: 'histogram: negative only',
    series: [hist(labels({ __name__: 'test_histogram', instance: 'localhost' }), histogram(1, false, true, false))],
    status: 204,
    written: [0, 1, 0],
  },
  { name: 'histogram: zero bucket only', series: [hist(basic('minimal_hist'), histogram(1, false, false, true))], status: 204, written: [0, 1, 0] },
  { name: 'histogram: no buckets', series: [hist(basic('empty_hist'), histogram(0, false, false, false))], status: 204, written: [0, 1, 0] },
  { name: 'histogram: float counts', series: [hist(basic('float_hist'), floatHistogram)], status: 204, written: [0, 1, 0] },
  {
    name: 'histogram with a start timestamp',
    series: [hist(labels({ __name__: 'request_duration_seconds', job: 'api' }), { ...histogram(1.5, true, true, true), startTimestamp: T - 1_800_000n })],
    status: 204,
    written: [0, 1, 0],
  },
  {
    name: 'two histograms',
    series: [
      hist(labels({ __name__: 'hist1', job: 'test' }), histogram(10.5, true, false, true)),
      hist(labels({ __name__: 'hist2', job: 'test' }), histogram(5.2, false, true, false)),
    ],
    status: 204,
    written: [0, 2, 0],
  },
  {
    name: 'histogram with metadata and an exemplar',
    series: [
      hist(labels({ __name__: 'response_size_bytes', service: 'upload' }), histogram(10485760, true, true, true), {
        metadata: meta(MetricType.HISTOGRAM, 'HTTP response size in bytes', 'bytes'),
        exemplars: [exemplar({ trace_id: 'large_upload_trace', user_id: 'user456' }, 10485760)],
      }),
    ],
    status: 204,
    written: [0, 1, 1],
  },
  {
    name: 'samples and histograms in one series',
    series: [{ ...sample(basic('mixed')), histograms: [histogram(1, true, false, false)] }],
    status: 400,
    written: [0, 0, 0],
    reason: /both samples and histograms.*: series #0 mixed\{/,
  },
  // exemplars
  {
    name: 'sample with an exemplar',
    series: [sample(basic('http_requests_total'), one, { exemplars: [exemplar({ trace_id: 'abc123def456', span_id: 'span789' }, 1)] })],
    status: 204,
    written: [1, 0, 1],
  },
  {
    name: 'exemplar without labels or timestamp',
    series: [sample(basic('http_requests_total'), one, { exemplars: [{ labels: [], value: one, timestamp: 0n }] })],
    status: 204,
    written: [1, 0, 1],
  },
  // metadata of every type
  ...(
    [
      ['counter', MetricType.COUNTER, 'http_requests_total', 'Total number of HTTP requests', 'requests'],
      ['gauge', MetricType.GAUGE, 'cpu_usage_percent', 'Current CPU usage percentage', 'percent'],
      ['histogram', MetricType.HISTOGRAM, 'request_duration_seconds', 'Request duration in seconds', 'seconds'],
      ['no help, no unit', MetricType.COUNTER, 'simple_counter', '', ''],
      ['special characters in help', MetricType.GAUGE, 'test_metric', 'Test metric with\nnewlines and "quotes"', 'bytes/sec'],
      ['unspecified type', 0, 'unknown_metric', 'Unknown metric type', ''],
      ['info', MetricType.INFO, 'build_info', 'Build information', ''],
      ['stateset', MetricType.STATESET, 'node_state', 'Node state information', ''],
      ['summary', MetricType.SUMMARY, 'request_latency_summary', 'Request latency summary', 'seconds'],
      ['gauge histogram', MetricType.GAUGEHISTOGRAM, 'temperature_histogram', 'Temperature distribution gauge histogram', 'celsius'],
    ] as const
  ).map(([what, type, name, help, unit]): Case =>
    type === MetricType.HISTOGRAM
      ? {
          name: `metadata: ${what}`,
          series: [hist(basic(name), histogram(1, true, true, true), { metadata: meta(type, help, unit) })],
          status: 204,
          written: [0, 1, 0],
        }
      : { name: `metadata: ${what}`, series: [sample(basic(name), one, { metadata: meta(type, help, unit) })], status: 204, written: [1, 0, 0] },
  ),
  {
    name: 'metadata on a series without __name__',
    series: [sample(labels({ job: 'test' }), one, { metadata: meta(MetricType.COUNTER, 'Test help', 'unit') })],
    status: 400,
    written: [0, 0, 0],
    reason: /no __name__/,
  },
  {
    name: 'metadata on a series with an empty __name__',
    series: [sample(labels({ __name__: '' }), one, { metadata: meta(MetricType.GAUGE, 'Test help', 'unit') })],
    status: 400,
    written: [0, 0, 0],
    reason: /no __name__|empty metric name/,
  },
];

// With the native module (the plain cases then take its 2.0 path) and without it: the same answers.
for (const native of ['auto', 'off'])
  describe(`remote-write 2.0 at the relay: the compliance suite's receiver cases (NATIVE_FAST_PATH=${native})`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ workspaces: 2, env: { CLUSTER: 'c1', NATIVE_FAST_PATH: native } });
    });
    after(() => h.close());
    beforeEach(() => {
      for (const ws of h.workspaces) {
        ws.requests.length = 0;
        ws.series.clear();
        ws.metadata.clear();
        ws.timelines.clear();
        ws.fault = undefined;
      }
    });

    for (const c of CASES) {
      it(`${c.name} → ${c.status}`, async () => {
        const body = c.body ?? compressSync(encodeV2Request(c.series ?? []));
        const res = await h.write(body, c.headers ?? V2_HEADERS);
        assert.equal(res.status, c.status, res.body);
        if (c.reason) assert.match(res.body, c.reason);
        assert.ok(!res.body.includes('\n') || c.status === 204, 'a reason is one line');
        if (c.written) {
          assert.deepEqual(
            [
              res.headers['x-prometheus-remote-write-samples-written'],
              res.headers['x-prometheus-remote-write-histograms-written'],
              res.headers['x-prometheus-remote-write-exemplars-written'],
            ],
            c.written.map(String),
          );
        } else {
          assert.equal(res.headers['x-prometheus-remote-write-samples-written'], undefined);
        }
        for (const ws of h.workspaces) {
          if (c.status !== 204) {
            assert.equal(ws.requests.length, 0, `${ws.name} got a refused request`);
            continue;
          }
          // what the workspace holds: the series as 1.0, with the cluster label, values bit-exact
          for (const s of c.series ?? []) {
            const key = seriesKey(labels({ ...Object.fromEntries(s.labels.map((l) => [l.name, l.value])), cluster: 'c1' }));
            const stored = ws.series.get(key);
            assert.ok(stored, `${ws.name} lacks ${key}`);
            for (const x of s.samples) assert.equal(stored.samples.get(x.timestamp), x.value);
            assert.equal(stored.histograms >= s.histograms.length, true);
            if (s.metadata && (s.metadata.type !== 0 || s.metadata.help || s.metadata.unit)) {
              const name = s.labels.find((l) => l.name === '__name__')!.value;
              assert.deepEqual(ws.metadata.get(name), { type: s.metadata.type, metricFamilyName: name, help: s.metadata.help, unit: s.metadata.unit });
            }
          }
        }
      });
    }
  });

describe('remote-write 2.0 at the relay: the 1.0 path behind it', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ workspaces: 2, env: { CLUSTER: 'c1', MAX_UPSTREAM_BYTES: '64KiB' } });
  });
  after(() => h.close());

  it('captured traffic as 2.0: arrives as 1.0 in every workspace, split over MAX_UPSTREAM_BYTES, counts answered', async () => {
    const fixtures = loadFixtures().slice(0, 20);
    let samples = 0;
    for (const f of fixtures) {
      const req = decodeWriteRequest(uncompressSync(f.body, { asBuffer: true }) as Buffer);
      const res = await h.write(compressSync(encodeV2Request(v2SeriesOf(req))), V2_HEADERS);
      assert.equal(res.status, 204, `${f.name}: ${res.body}`);
      const n = req.timeseries.reduce((s, ts) => s + ts.samples.length, 0);
      assert.equal(res.headers['x-prometheus-remote-write-samples-written'], String(n));
      samples += n;
    }
    for (const ws of h.workspaces) {
      assert.equal(
        ws.requests.reduce((s, r) => s + r.samples, 0),
        samples,
        `${ws.name}: every sample arrived`,
      );
      assert.ok(ws.requests.length > fixtures.length, `${ws.name}: large requests were split (${ws.requests.length} parts)`);
      for (const s of ws.series.values())
        assert.ok(
          s.labels.some((l) => l.name === 'cluster'),
          `${ws.name}: ${seriesKey(s.labels)} has no cluster label`,
        );
    }
  });

  it('partial: one workspace failing → 503 naming it, Written counts (the data is in the other)', async () => {
    h.workspaces[1].fault = { status: 500, times: 1 };
    const res = await h.write(
      compressSync(encodeV2Request([sample(basic('partial_total'), one, { exemplars: [exemplar({ trace_id: 't' }, 1)] })])),
      V2_HEADERS,
    );
    assert.equal(res.status, 503, res.body);
    assert.ok(res.headers['x-relay-failed-endpoints']);
    assert.deepEqual([res.headers['x-prometheus-remote-write-samples-written'], res.headers['x-prometheus-remote-write-exemplars-written']], ['1', '1']);
  });

  it('every workspace failing → 503 with nothing written', async () => {
    for (const ws of h.workspaces) ws.fault = { status: 500, times: 1 };
    const res = await h.write(compressSync(encodeV2Request([sample(basic('down_total'))])), V2_HEADERS);
    assert.equal(res.status, 503, res.body);
    assert.equal(res.headers['x-prometheus-remote-write-samples-written'], '0');
  });

  it('1.0 answers carry no 2.0 headers', async () => {
    const res = await h.write(loadFixtures()[0].body);
    assert.equal(res.status, 204);
    assert.equal(res.headers['x-prometheus-remote-write-samples-written'], undefined);
  });
});

describe('remote-write 2.0 at the relay: tenants', () => {
  const KEY = 'tenant-key-for-remote-write-2-tests';
  let h: Harness;
  before(async () => {
    h = await startHarness({
      workspaces: 1,
      env: (ws) => ({
        RELAY_TENANTS: JSON.stringify({
          tenants: [
            {
              name: 'team-v2',
              cluster: 'aks-v2',
              clusterConflict: 'reject',
              keySha256: [createHash('sha256').update(KEY).digest('hex')],
              ingestionUrls: [ws[0].url],
              limits: { samplesPerSecond: 1, burstSamples: 3 },
            },
          ],
        }),
      }),
    });
  });
  after(() => h.close());
  const as = { ...V2_HEADERS, 'x-relay-key': KEY };

  it("the tenant's cluster label is added, another cluster refused (403), the quota counts 2.0 samples and histograms (429)", async () => {
    const ok = await h.write(compressSync(encodeV2Request([sample(basic('a')), hist(basic('b'), histogram(1, true, false, false))])), as);
    assert.equal(ok.status, 204, ok.body);
    assert.ok([...h.workspaces[0].series.values()].every((s) => s.labels.some((l) => l.name === 'cluster' && l.value === 'aks-v2')));
    const foreign = await h.write(compressSync(encodeV2Request([sample(labels({ __name__: 'x', cluster: 'other' }))])), as);
    assert.equal(foreign.status, 403, foreign.body);
    assert.equal(foreign.headers['x-prometheus-remote-write-samples-written'], '0');
    // 2 of the 3-sample burst spent above; 9 more samples put the bucket 8 s in debt: the next write waits
    const nine = await h.write(compressSync(encodeV2Request(Array.from({ length: 9 }, (_, i) => sample(basic(`m${i}`))))), as);
    assert.equal(nine.status, 204, nine.body);
    const over = await h.write(compressSync(encodeV2Request([sample(basic('late'))])), as);
    assert.equal(over.status, 429, over.body);
    assert.match(over.body, /tenant "team-v2" is over its 1 samples\/s quota/);
    assert.equal(over.headers['x-prometheus-remote-write-samples-written'], '0');
  });
});
