// translateV2Request: a 2.0 request and its 1.0 translation carry the same series,
// samples, histograms and exemplars (random requests, and the captured Prometheus
// traffic converted to 2.0); what 1.0 cannot carry is dropped and nothing else; every
// 2.0 rule broken is a 400 naming the series.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from '../../shared/errors';
import { decodeWriteRequest, emptyHistogram } from '../../shared/remote-write/model/decode';
import { decompressBounded } from '../../shared/remote-write/snappy';
import { type TimeSeries, type WriteRequest, MetricType, staleMarkerBits } from '../../shared/remote-write/model/types';
import { AZURE_MONITOR_LIMITS, validateWriteRequest } from '../../shared/remote-write/validate';
import { translateV2Request } from '../../shared/remote-write/v2';
import { loadFixtures } from '../../dev/kit/repo';
import { Rng, randomWriteRequest, rawFixed64, rawLen, rawVarint, rawVarintField } from '../../dev/kit/random-write-request';
import { type V2Series, encodeV2Request, v2SeriesOf } from '../../dev/kit/v2-request';

const MAX = 64 * 1024 * 1024;

function translate(series: V2Series[], max = MAX): WriteRequest {
  return decodeWriteRequest(translateV2Request(encodeV2Request(series), max).request);
}

/** The 1.0 series a 2.0 series should become: start timestamps gone, empty series left out. */
function expected(series: readonly V2Series[]): TimeSeries[] {
  return series
    .filter((s) => s.samples.length + s.histograms.length + s.exemplars.length > 0)
    .map((s) => ({
      labels: s.labels,
      samples: s.samples.map(({ value, timestamp }) => ({ value, timestamp })),
      exemplars: s.exemplars,
      histograms: s.histograms.map(({ customValues: _c, startTimestamp: _s, ...h }) => h),
    }));
}

function rejects(body: Buffer, message: RegExp, status = 400): void {
  assert.throws(
    () => translateV2Request(body, MAX),
    (err: unknown) => {
      assert.ok(err instanceof HttpError, String(err));
      assert.equal(err.status, status);
      assert.match(err.message, message);
      return true;
    },
  );
}

const up = [
  { name: '__name__', value: 'up' },
  { name: 'job', value: 'node' },
];
const T = 1_700_000_000_000n;

describe('remote-write 2.0 → 1.0: the same data', () => {
  it('random requests: series, samples, histograms and exemplars equal after translation', () => {
    const rng = new Rng(0x2002);
    let samples = 0;
    for (let i = 0; i < 300; i++) {
      const req = randomWriteRequest(rng);
      const series = v2SeriesOf(req, rng.chance(0.5) ? T - 60_000n : undefined);
      const t = translateV2Request(encodeV2Request(series, { unpackedRefs: rng.chance(0.2) }), MAX);
      const back = decodeWriteRequest(t.request);
      assert.deepStrictEqual(back.timeseries, expected(series), `request ${i}`);
      assert.deepStrictEqual(t.counts, {
        samples: series.reduce((n, s) => n + s.samples.length, 0),
        histograms: series.reduce((n, s) => n + s.histograms.length, 0),
        exemplars: series.reduce((n, s) => n + s.exemplars.length, 0),
      });
      // what the 1.0 path then checks holds for every translation of a valid request
      validateWriteRequest(t.request, AZURE_MONITOR_LIMITS);
      samples += t.counts.samples;
    }
    assert.ok(samples > 500, `only ${samples} samples generated`);
  });

  it('the captured Prometheus 2.42 traffic converted to 2.0 translates back to the same series', () => {
    // every third request (all 291 take 5 s, mostly in the test's own 2.0 encoder)
    for (const f of loadFixtures().filter((_, i) => i % 3 === 0)) {
      const req = decodeWriteRequest(decompressBounded(f.body, MAX));
      const series = v2SeriesOf(req);
      const back = translate(series);
      assert.deepStrictEqual(back.timeseries, expected(series), f.name);
      // 2.0 carries metadata per series, 1.0 per family: every family that has series comes back
      const families = new Set(back.metadata.map((m) => m.metricFamilyName));
      for (const s of series) {
        const name = s.labels.find((l) => l.name === '__name__')!.value;
        if (s.metadata && (s.metadata.type !== 0 || s.metadata.help || s.metadata.unit)) {
          assert.ok(families.has(name) || families.has(name.replace(/_(bucket|sum|count)$/, '')), `${f.name}: no metadata for ${name}`);
        }
      }
    }
  });

  it('keeps the stale marker bit for bit and drops start timestamps (1.0 has no place for them)', () => {
    const raw = translateV2Request(
      encodeV2Request([{ labels: up, samples: [{ value: staleMarkerBits, timestamp: T, startTimestamp: T - 5000n }], histograms: [], exemplars: [] }]),
      MAX,
    ).request;
    assert.deepStrictEqual(decodeWriteRequest(raw).timeseries[0].samples, [{ value: staleMarkerBits, timestamp: T }]);
    assert.equal(raw.indexOf(rawVarint(T - 5000n)), -1, 'start timestamp left in the 1.0 bytes');
  });

  it("tolerates the drafts' series-level created_timestamp, and drops it", () => {
    const back = translate([
      { labels: up, samples: [{ value: 0x3ff0000000000000n, timestamp: T }], histograms: [], exemplars: [], createdTimestamp: T - 1000n },
    ]);
    assert.deepStrictEqual(back.timeseries, [{ labels: up, samples: [{ value: 0x3ff0000000000000n, timestamp: T }], exemplars: [], histograms: [] }]);
  });

  it('custom-bucket histograms keep their bounds (custom_values, field 16 in 1.0 too)', () => {
    const h = {
      ...emptyHistogram(),
      schema: -53,
      count: { kind: 'int' as const, value: 3n },
      positiveSpans: [{ offset: 0, length: 2 }],
      positiveDeltas: [1n, 1n],
      timestamp: T,
    };
    const bounds = [0x3fe0000000000000n, 0x3ff0000000000000n]; // 0.5, 1
    const raw = translateV2Request(
      encodeV2Request([{ labels: up, samples: [], histograms: [{ ...h, customValues: bounds, startTimestamp: T - 1n }], exemplars: [] }]),
      MAX,
    ).request;
    assert.deepStrictEqual(decodeWriteRequest(raw).timeseries[0].histograms, [h]);
    const packed = Buffer.alloc(16);
    packed.writeBigUInt64LE(bounds[0], 0);
    packed.writeBigUInt64LE(bounds[1], 8);
    assert.ok(raw.includes(rawLen(16, packed)), 'custom_values missing from the 1.0 histogram');
    validateWriteRequest(raw, AZURE_MONITOR_LIMITS);
  });

  it('metadata becomes one 1.0 entry per family, strings resolved', () => {
    const meta = { type: MetricType.HISTOGRAM, help: 'Request latency.', unit: 'seconds' };
    const s = (name: string): V2Series => ({
      labels: [{ name: '__name__', value: name }],
      samples: [{ value: 0n, timestamp: T }],
      histograms: [],
      exemplars: [],
      metadata: meta,
    });
    const back = translate([
      s('rpc_seconds_bucket'),
      s('rpc_seconds_sum'),
      s('rpc_seconds_count'),
      { ...s('up'), metadata: { type: MetricType.GAUGE, help: '', unit: '' } },
    ]);
    assert.deepStrictEqual(back.metadata, [
      { type: MetricType.HISTOGRAM, metricFamilyName: 'rpc_seconds', help: 'Request latency.', unit: 'seconds' },
      { type: MetricType.GAUGE, metricFamilyName: 'up', help: '', unit: '' },
    ]);
  });

  it('a series with only metadata sends its metadata, no empty series', () => {
    const back = translate([{ labels: up, samples: [], histograms: [], exemplars: [], metadata: { type: MetricType.GAUGE, help: 'h', unit: '' } }]);
    assert.deepStrictEqual(back.timeseries, []);
    assert.equal(back.metadata.length, 1);
  });

  it('an empty request is an empty 1.0 request', () => {
    assert.equal(translateV2Request(Buffer.alloc(0), MAX).request.length, 0);
  });
});

describe('remote-write 2.0 rules: 400 naming the series', () => {
  const sample = rawLen(2, rawFixed64(1, 0x3ff0000000000000n), rawVarintField(2, T));
  const symbols = (...s: string[]): Buffer => Buffer.concat(s.map((x) => rawLen(4, x)));
  const series = (refs: number[], ...fields: Buffer[]): Buffer => rawLen(5, rawLen(1, Buffer.concat(refs.map((r) => rawVarint(r)))), ...fields);

  it('symbols[0] must be the empty string', () => {
    rejects(
      encodeV2Request([{ labels: up, samples: [{ value: 0n, timestamp: T }], histograms: [], exemplars: [] }], { symbols: ['__name__'] }),
      /symbols\[0\] must be the empty string/,
    );
  });
  it('a label reference past the symbols', () => {
    rejects(
      Buffer.concat([symbols('', '__name__', 'up'), series([1, 2, 1, 9], sample)]),
      /label reference 9 is out of range \(the request has 3 symbols\): series #0 up\{\}/,
    );
  });
  it('an odd number of label references', () => {
    rejects(Buffer.concat([symbols('', '__name__', 'up', 'job'), series([1, 2, 3], sample)]), /odd number \(3\) of references: series #0 up\{\}/);
  });
  it('labels not sorted by name', () => {
    rejects(
      Buffer.concat([symbols('', '__name__', 'up', 'zone', 'a', 'job'), series([1, 2, 3, 4, 5, 4], sample)]),
      /not sorted by name.*series #0 up\{zone="a",job="a"\}/,
    );
  });
  it('a label name twice', () => {
    rejects(
      Buffer.concat([symbols('', '__name__', 'up', 'job', 'a', 'b'), series([1, 2, 3, 4, 3, 5], sample)]),
      /duplicate label name "job".*up\{job="a",job="b"\}/,
    );
  });
  it('samples and histograms in one series', () => {
    rejects(Buffer.concat([symbols('', '__name__', 'up'), series([1, 2], sample, rawLen(3, rawVarintField(1, 1)))]), /both samples and histograms.*up\{\}/);
  });
  it('an exemplar label reference past the symbols', () => {
    rejects(
      Buffer.concat([symbols('', '__name__', 'up'), series([1, 2], sample, rawLen(4, rawLen(1, rawVarint(1), rawVarint(7))))]),
      /exemplar label reference 7 is out of range.*up\{\}/,
    );
  });
  it('a metadata reference past the symbols', () => {
    rejects(
      Buffer.concat([symbols('', '__name__', 'up'), series([1, 2], sample, rawLen(5, rawVarintField(1, 2), rawVarintField(3, 5)))]),
      /metadata reference 5 is out of range.*up\{\}/,
    );
  });
  it('malformed protobuf: truncated, wrong wire types', () => {
    rejects(Buffer.concat([symbols('', '__name__', 'up'), series([1, 2], sample)]).subarray(0, 20), /malformed protobuf io\.prometheus\.write\.v2\.Request/);
    rejects(Buffer.concat([symbols('', '__name__', 'up'), rawVarintField(5, 1)]), /Request\.timeseries has the wrong wire type/);
    rejects(Buffer.concat([symbols('', '__name__', 'up'), series([1, 2], rawLen(2, rawLen(1, 'x')))]), /Sample field has the wrong wire type/);
  });
  it('a translation over MAX_DECODED_BYTES is 413: one long symbol referenced many times', () => {
    const long = 'v'.repeat(1000);
    const many = Array.from({ length: 200 }, (): V2Series => ({
      labels: [
        { name: '__name__', value: 'up' },
        { name: 'x', value: long },
      ],
      samples: [{ value: 0n, timestamp: T }],
      histograms: [],
      exemplars: [],
    }));
    const body = encodeV2Request(many);
    assert.ok(body.length < 20_000);
    rejects(body, /spelt out as 1\.0.*over MAX_DECODED_BYTES=100000/, 413);
    function rejects(b: Buffer, m: RegExp, status: number): void {
      assert.throws(
        () => translateV2Request(b, 100_000),
        (err: unknown) => err instanceof HttpError && err.status === status && m.test(err.message),
      );
    }
  });
});
