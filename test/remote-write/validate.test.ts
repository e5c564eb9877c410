// validateWriteRequest: one test per rejection rule (status 400, the reason code, and
// for series rules a message that names the series), then what it must accept:
// captured Prometheus traffic, random valid requests, unknown fields everywhere,
// unsorted label sets; and that its counts agree with the materialising decoder.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { HttpError, type RejectReason } from '../../shared/errors';
import { AZURE_MONITOR_LIMITS, type ScanResult, type SeriesLimits, validateWriteRequest } from '../../shared/remote-write/validate';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { sampleTimeRange } from '../../shared/remote-write/partition';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { decompressBounded } from '../../shared/remote-write/snappy';
import { type WriteRequest, staleMarkerBits } from '../../shared/remote-write/model/types';
import { loadFixtures } from '../../dev/kit/repo';
import {
  Rng,
  randomWriteRequest,
  rawFixed32,
  rawFixed64,
  rawLabel,
  rawLen,
  rawSample,
  rawSeries,
  rawTag,
  rawUnknownFields,
  rawVarint,
  rawVarintField,
} from '../../dev/kit/random-write-request';

const LIMITS = AZURE_MONITOR_LIMITS;

interface RejectOptions {
  cluster?: string;
  limits?: SeriesLimits;
}

/** Asserts a 400 HttpError with this reason and returns it. */
function rejects(buf: Buffer, reason: RejectReason, opts: RejectOptions = {}): HttpError {
  let caught: unknown;
  try {
    validateWriteRequest(buf, opts.limits ?? LIMITS, opts.cluster);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof HttpError, `expected HttpError(${reason}), got ${caught === undefined ? 'no error' : inspect(caught)}`);
  assert.equal(caught.status, 400);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}

/** Asserts rejection as malformed protobuf. */
function malformed(buf: Buffer, what: string): void {
  const err = rejects(buf, 'bad_protobuf');
  assert.match(err.message, /malformed protobuf/, what);
}

/** A WriteRequest with one series of these labels (in this order) and extra TimeSeries fields. */
function series(labels: readonly (readonly [string | Buffer, string | Buffer])[], ...fields: Buffer[]): Buffer {
  return rawSeries(...labels.map(([n, v]) => rawLabel(n, v)), ...fields);
}

const NAME = ['__name__', 'probe_metric'] as const;
const SAMPLE = rawSample(0x3ff0000000000000n, 1700000000000n);

function validLabels(n: number): [string, string][] {
  // __name__ sorts after upper case and before lower case: keep all names lower case
  const labels: [string, string][] = [['__name__', 'probe_metric']];
  for (let i = 1; i < n; i++) labels.push([`l${String(i).padStart(3, '0')}`, `v${i}`]);
  return labels;
}

describe('validateWriteRequest rejects malformed protobuf (400 bad_protobuf)', () => {
  it('truncated varint', () => {
    malformed(Buffer.from([0x0a, 0x80]), 'length varint cut off at the top level');
    malformed(Buffer.from([0x80]), 'tag varint cut off');
    malformed(series([NAME], rawLen(2, Buffer.from([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x80]))), 'timestamp varint cut off inside a sample');
  });

  it('length past the end', () => {
    malformed(Buffer.from([0x0a, 0x05, 0x00]), 'series longer than the body');
    // a label whose declared length runs past its series
    const inner = Buffer.concat([rawTag(1, 2), rawVarint(50), Buffer.from('abc')]);
    malformed(rawLen(1, inner), 'label longer than its series');
    malformed(series([NAME], rawLen(2, Buffer.from([0x09, 1, 2, 3]))), 'truncated fixed64 sample value');
  });

  it('wrong wire type for WriteRequest.timeseries', () => {
    malformed(Buffer.from([0x08, 0x01]), 'timeseries as varint');
    malformed(rawFixed64(1, 0n), 'timeseries as fixed64');
  });

  it('wrong wire type for TimeSeries.labels and Label fields', () => {
    malformed(rawSeries(rawVarintField(1, 1)), 'labels as varint');
    malformed(rawSeries(rawFixed32(1, 1)), 'labels as fixed32');
    malformed(rawSeries(rawLen(1, rawVarintField(1, 5))), 'Label.name as varint');
    malformed(rawSeries(rawLabel('__name__', 'x'), rawLen(1, rawLen(1, 'job'), rawFixed64(2, 0n))), 'Label.value as fixed64');
  });

  it('wrong wire type for TimeSeries.samples and Sample fields', () => {
    malformed(series([NAME], rawVarintField(2, 1)), 'samples as varint');
    malformed(series([NAME], rawLen(2, rawVarintField(1, 5))), 'Sample.value as varint');
    malformed(series([NAME], rawLen(2, rawFixed64(2, 5n))), 'Sample.timestamp as fixed64');
  });

  it('wrong wire types for exemplars, histograms, metadata and their fields', () => {
    malformed(series([NAME], rawVarintField(3, 1)), 'exemplars as varint');
    malformed(series([NAME], rawLen(3, rawVarintField(2, 1))), 'Exemplar.value as varint');
    malformed(series([NAME], rawLen(3, rawLen(1, rawVarintField(2, 1)))), 'exemplar Label.value as varint');
    malformed(series([NAME], rawFixed64(4, 1n)), 'histograms as fixed64');
    malformed(series([NAME], rawLen(4, rawLen(1, 'x'))), 'Histogram.count_int as LEN');
    malformed(series([NAME], rawLen(4, rawLen(13, Buffer.alloc(12)))), 'packed doubles not a multiple of 8');
    malformed(series([NAME], rawLen(4, rawLen(11, rawFixed64(1, 0n)))), 'BucketSpan.offset as fixed64');
    malformed(Buffer.from([0x18, 0x01]), 'metadata as varint');
    malformed(rawLen(3, rawLen(1, 'x')), 'MetricMetadata.type as LEN');
  });

  it('group wire types (3, 4) and the undefined wire types (6, 7)', () => {
    const ok = series([NAME], SAMPLE);
    for (const wire of [3, 4, 6, 7]) {
      malformed(Buffer.concat([ok, rawTag(5, wire)]), `wire type ${wire} at the top level`);
      malformed(series([NAME], rawTag(9, wire)), `wire type ${wire} inside a series`);
      malformed(series([NAME], rawLen(2, rawTag(9, wire))), `wire type ${wire} inside a sample`);
      malformed(rawLen(3, rawTag(9, wire)), `wire type ${wire} inside metadata`);
    }
  });

  it('field number 0', () => {
    malformed(Buffer.from([0x02, 0x00]), 'top level');
    malformed(series([NAME], Buffer.from([0x00, 0x00])), 'inside a series');
  });

  it('a tag wider than 32 bits is not aliased onto a real field', () => {
    // 2^32 + 10 read with `>>> 3` would be field 1 / LEN: validated as a series, yet
    // rewriteLabels (which compares whole tags) would forward it untouched, and a Go
    // receiver would see field 2^29+1 and drop it. Field numbers stop at 2^29-1.
    const body = series([NAME]).subarray(1); // drop the 0x0a tag, keep length + payload
    malformed(Buffer.concat([rawVarint(2n ** 32n + 10n), body]), 'tag 2^32+10');
    malformed(Buffer.concat([rawTag(2 ** 29, 2), body]), 'field number 2^29');
    // the largest legal field number is fine (an unknown field)
    assert.doesNotThrow(() => validateWriteRequest(Buffer.concat([rawTag(2 ** 29 - 1, 2), body]), LIMITS));
  });
});

describe('validateWriteRequest rejects series that break the label rules', () => {
  it('missing __name__', () => {
    const err = rejects(
      series(
        [
          ['instance', 'host:9100'],
          ['job', 'node'],
        ],
        SAMPLE,
      ),
      'missing_metric_name',
    );
    assert.match(err.message, /instance="host:9100"/);
    assert.match(err.message, /job="node"/);
    // a series with no labels at all
    rejects(rawSeries(SAMPLE), 'missing_metric_name');
  });

  it('invalid metric name', () => {
    for (const bad of ['1abc', 'a-b', 'a b', 'a.b', 'caf\u00e9', 'a{b}', '']) {
      const err = rejects(
        series(
          [
            ['__name__', bad],
            ['job', 'node'],
          ],
          SAMPLE,
        ),
        'invalid_metric_name',
      );
      assert.ok(err.message.includes(`job="node"`), err.message);
      if (bad !== '') assert.ok(err.message.includes(`${bad}{`), err.message);
    }
    // colons are allowed in metric names, anywhere
    for (const good of [':x', 'a:b:c', 'job:rate5m:sum', '_', 'A9']) {
      assert.doesNotThrow(() => validateWriteRequest(series([['__name__', good]], SAMPLE), LIMITS), good);
    }
  });

  it('invalid label name', () => {
    for (const bad of ['1x', 'a-b', 'a:b', 'a.b', 'caf\u00e9', 'a b']) {
      const err = rejects(series([NAME, [bad, 'v']], SAMPLE), 'invalid_label_name');
      assert.match(err.message, /probe_metric\{/);
    }
    assert.doesNotThrow(() => validateWriteRequest(series([['A', 'v'], NAME, ['_x9', 'v']], SAMPLE), LIMITS));
  });

  it('empty label name', () => {
    const err = rejects(series([NAME, ['', 'v']], SAMPLE), 'invalid_label_name');
    assert.match(err.message, /empty label name/);
    assert.match(err.message, /probe_metric\{/);
    // a Label with no name field at all is the same thing
    const noName = rejects(rawSeries(rawLabel('__name__', 'probe_metric'), rawLen(1, rawLen(2, 'v')), SAMPLE), 'invalid_label_name');
    assert.match(noName.message, /probe_metric\{/);
  });

  it('invalid UTF-8 in a label value', () => {
    const cases: [string, number[]][] = [
      ['stray continuation byte', [0x80]],
      ['0xff', [0x61, 0xff]],
      ['overlong NUL', [0xc0, 0x80]],
      ['truncated 3-byte sequence', [0xe2, 0x82]],
      ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
      ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ];
    for (const [what, bytes] of cases) {
      const err = rejects(series([NAME, ['job', Buffer.from(bytes)]], SAMPLE), 'invalid_utf8');
      assert.match(err.message, /value of label "job"/, what);
      assert.match(err.message, /probe_metric\{/, what);
    }
    // also in exemplar labels and metadata strings
    rejects(series([NAME], SAMPLE, rawLen(3, rawLabel('trace_id', Buffer.from([0xff])))), 'invalid_utf8');
    rejects(rawLen(3, rawVarintField(1, 1), rawLen(2, 'up'), rawLen(4, Buffer.from([0xc3]))), 'invalid_utf8');
    // valid multi-byte values pass
    assert.doesNotThrow(() => validateWriteRequest(series([NAME, ['job', 'ünï €😀 中文']], SAMPLE), LIMITS));
  });

  it('duplicate label name, sorted (adjacent)', () => {
    const err = rejects(series([NAME, ['job', 'a'], ['job', 'b']], SAMPLE), 'duplicate_label_name');
    assert.match(err.message, /duplicate label name "job"/);
    assert.match(err.message, /probe_metric\{/);
  });

  it('duplicate label name, unsorted (not adjacent)', () => {
    const err = rejects(series([NAME, ['job', 'a'], ['instance', 'x'], ['job', 'b']], SAMPLE), 'duplicate_label_name');
    assert.match(err.message, /duplicate label name "job"/);
    assert.match(err.message, /probe_metric\{/);
    // a duplicated __name__, out of order
    rejects(series([NAME, ['a', 'x'], ['__name__', 'other']], SAMPLE), 'duplicate_label_name');
    // duplicated cluster label with a different value
    rejects(series([['cluster', 'a'], NAME, ['cluster', 'b']], SAMPLE), 'duplicate_label_name', { cluster: 'c' });
  });

  it('too many labels', () => {
    assert.doesNotThrow(() => validateWriteRequest(series(validLabels(63), SAMPLE), LIMITS));
    const err = rejects(series(validLabels(64), SAMPLE), 'too_many_labels');
    assert.match(err.message, /series has 64 labels, the limit is 63/);
    assert.match(err.message, /probe_metric\{/);
    const small = rejects(series(validLabels(4), SAMPLE), 'too_many_labels', { limits: { ...LIMITS, maxLabelsPerSeries: 3 } });
    assert.match(small.message, /4 labels, the limit is 3/);
  });

  it('too many labels once the cluster label is added', () => {
    const labels63 = validLabels(63);
    // 63 labels without cluster: fine without injection, too many with it
    assert.doesNotThrow(() => validateWriteRequest(series(labels63, SAMPLE), LIMITS));
    const err = rejects(series(labels63, SAMPLE), 'too_many_labels', { cluster: 'prod' });
    assert.match(err.message, /series has 64 labels \(with the cluster label\), the limit is 63/);
    assert.match(err.message, /probe_metric\{/);
    // 62 without cluster + injection = 63: fine
    const r = validateWriteRequest(series(validLabels(62), SAMPLE), LIMITS, 'prod');
    assert.equal(r.missingCluster, 1);
    // 63 that already include cluster: nothing is added, fine
    const withCluster = validLabels(62);
    withCluster.splice(1, 0, ['cluster', 'own']);
    withCluster.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
    const r2 = validateWriteRequest(series(withCluster, SAMPLE), LIMITS, 'prod');
    assert.equal(r2.missingCluster, 0);
    assert.equal(r2.unsorted, 0);
  });

  it('label name too long', () => {
    const ok = `a${'b'.repeat(510)}`; // 511
    assert.doesNotThrow(() => validateWriteRequest(series([NAME, [ok, 'v']], SAMPLE), LIMITS));
    const err = rejects(series([NAME, [`${ok}c`, 'v']], SAMPLE), 'label_name_too_long');
    assert.match(err.message, /label name is 512 characters, the limit is 511/);
    assert.match(err.message, /probe_metric\{/);
  });

  it('label value too long, counted in characters not bytes', () => {
    assert.doesNotThrow(() => validateWriteRequest(series([NAME, ['job', 'x'.repeat(1023)]], SAMPLE), LIMITS));
    const ascii = rejects(series([NAME, ['job', 'x'.repeat(1024)]], SAMPLE), 'label_value_too_long');
    assert.match(ascii.message, /value of label "job" is 1024 characters, the limit is 1023/);
    assert.match(ascii.message, /probe_metric\{/);
    // 1023 characters of 2, 3 and 4 bytes each (up to 4092 bytes): still within the limit
    for (const ch of ['é', '€', '😀']) {
      assert.doesNotThrow(() => validateWriteRequest(series([NAME, ['job', ch.repeat(1023)]], SAMPLE), LIMITS), ch);
      const err = rejects(series([NAME, ['job', ch.repeat(1024)]], SAMPLE), 'label_value_too_long');
      assert.match(err.message, /is 1024 characters/);
    }
    // the metric name's value is bounded by the metric-name rule instead
  });

  it('metric name too long', () => {
    const ok = `m${'_'.repeat(509)}x`; // 511
    assert.doesNotThrow(() => validateWriteRequest(series([['__name__', ok]], SAMPLE), LIMITS));
    const err = rejects(
      series(
        [
          ['__name__', `${ok}y`],
          ['job', 'node'],
        ],
        SAMPLE,
      ),
      'metric_name_too_long',
    );
    assert.match(err.message, /metric name is 512 characters, the limit is 511/);
    assert.ok(err.message.includes(`: m___`), err.message); // the rendered series starts with the name
  });

  it('the first bad series is the one named', () => {
    const good = series([['__name__', 'good_metric']], SAMPLE);
    const bad = series(
      [
        ['__name__', 'bad_metric'],
        ['1x', 'v'],
      ],
      SAMPLE,
    );
    const err = rejects(Buffer.concat([good, bad, good]), 'invalid_label_name');
    assert.match(err.message, /bad_metric\{/);
    assert.doesNotMatch(err.message, /good_metric/);
  });
});

function decodedCounts(raw: Buffer, cluster?: string): ScanResult {
  const req = decodeWriteRequest(raw);
  const r: ScanResult = {
    series: 0,
    samples: 0,
    histograms: 0,
    exemplars: 0,
    metadata: req.metadata.length,
    unsorted: 0,
    missingCluster: 0,
    foreignCluster: 0,
    minTime: Infinity,
    maxTime: -Infinity,
  };
  for (const ts of req.timeseries) {
    // Number(bigint) rounds to the nearest double, as the validator must
    for (const t of [...ts.samples.map((x) => x.timestamp), ...ts.histograms.map((h) => h.timestamp)]) {
      r.minTime = Math.min(r.minTime, Number(t));
      r.maxTime = Math.max(r.maxTime, Number(t));
    }
    r.series++;
    r.samples += ts.samples.length;
    r.histograms += ts.histograms.length;
    r.exemplars += ts.exemplars.length;
    const names = ts.labels.map((l) => Buffer.from(l.name));
    if (names.some((n, i) => i > 0 && Buffer.compare(names[i - 1], n) > 0)) r.unsorted++;
    if (cluster !== undefined && !ts.labels.some((l) => l.name === 'cluster')) r.missingCluster++;
  }
  return r;
}

describe('validateWriteRequest accepts valid traffic', () => {
  const fixtures = loadFixtures().map((f) => ({ name: f.name, raw: decompressBounded(f.body, 64 * 1024 * 1024) }));

  it("every captured Prometheus 2.42 request passes, with the decoder's counts", () => {
    const total = { series: 0, samples: 0, metadata: 0 };
    for (const f of fixtures) {
      const r = validateWriteRequest(f.raw, LIMITS, 'capture-test');
      assert.deepEqual(r, decodedCounts(f.raw, 'capture-test'), f.name);
      assert.deepEqual(sampleTimeRange(f.raw), { minTime: r.minTime, maxTime: r.maxTime, samples: r.samples + r.histograms }, `${f.name}: sampleTimeRange`);
      assert.equal(r.unsorted, 0, f.name);
      assert.equal(r.missingCluster, 0, f.name); // external_labels put cluster on every series
      total.series += r.series;
      total.samples += r.samples;
      total.metadata += r.metadata;
    }
    assert.deepEqual(total, { series: 114188, samples: 114188, metadata: 27827 });
  });

  it("random valid requests pass, with the decoder's counts", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const raw = encodeWriteRequest(randomWriteRequest(new Rng(seed)));
      assert.deepEqual(validateWriteRequest(raw, LIMITS), decodedCounts(raw), `seed ${seed}`);
      assert.deepEqual(validateWriteRequest(raw, LIMITS, 'c'), decodedCounts(raw, 'c'), `seed ${seed}`);
      const r = validateWriteRequest(raw, LIMITS);
      assert.deepEqual(sampleTimeRange(raw), { minTime: r.minTime, maxTime: r.maxTime, samples: r.samples + r.histograms }, `seed ${seed}: sampleTimeRange`);
    }
  });

  it('unknown fields at every level are accepted', () => {
    const u = rawUnknownFields();
    const span = rawLen(11, rawVarintField(1, 2), rawVarintField(2, 3), u);
    const hist = rawLen(4, rawVarintField(1, 9), u, span, rawLen(12, rawVarint(2), rawVarint(4), rawVarint(6)), rawVarintField(15, 77));
    const exemplar = rawLen(3, rawLabel('trace_id', 'abc', u), u, rawFixed64(2, staleMarkerBits), rawVarintField(3, 5));
    const s1 = rawSeries(rawLabel('__name__', 'up', u), u, rawLabel('job', 'x', u), rawSample(staleMarkerBits, 123n, u), exemplar, u);
    const s2 = rawSeries(u, rawLabel('__name__', 'h'), hist, u);
    const metadata = rawLen(3, rawVarintField(1, 2), u, rawLen(2, 'up'), rawLen(4, 'help'), rawLen(5, 'unit'), u);
    const raw = Buffer.concat([u, s1, u, s2, metadata, rawLen(2, 'reserved field 2'), u]);
    const r = validateWriteRequest(raw, LIMITS, 'c');
    // the exemplar's timestamp (5) is not counted; the histogram's (77) and the sample's (123) are
    assert.deepEqual(r, {
      series: 2,
      samples: 1,
      histograms: 1,
      exemplars: 1,
      metadata: 1,
      unsorted: 0,
      missingCluster: 2,
      foreignCluster: 0,
      minTime: 77,
      maxTime: 123,
    });
    assert.deepEqual(r, decodedCounts(raw, 'c'));
  });

  it('reports the oldest and newest sample and histogram time, int64s of any size and sign', () => {
    const range = (...fields: Buffer[]): [number, number] => {
      const raw = series([NAME], ...fields);
      const r = validateWriteRequest(raw, LIMITS);
      for (const native of [true, false]) {
        const again = sampleTimeRange(raw, { native }); // the validator-free reader must say the same
        assert.deepEqual([again.minTime, again.maxTime, again.samples], [r.minTime, r.maxTime, r.samples + r.histograms]);
      }
      return [r.minTime, r.maxTime];
    };
    const at = (t: bigint): Buffer => rawSample(0n, t);
    assert.deepEqual(range(at(1700000000000n), at(1699999999000n), at(1700000005000n)), [1699999999000, 1700000005000]);
    assert.deepEqual(range(at(-1n)), [-1, -1]);
    assert.deepEqual(range(at(-(2n ** 63n)), at(2n ** 63n - 1n)), [-(2 ** 63), 2 ** 63]);
    assert.deepEqual(range(at(2n ** 53n + 1n)), [2 ** 53, 2 ** 53]); // rounded to the nearest double
    assert.deepEqual(range(at(2n ** 49n - 1n), at(2n ** 49n)), [2 ** 49 - 1, 2 ** 49]); // 7 and 8 varint bytes
    assert.deepEqual(range(at(0x1234_5678_9abcn), at(-0x1234_5678_9abcn)), [-0x1234_5678_9abc, 0x1234_5678_9abc]);
    // every varint length, read away from the request's end (the word-wise reader) and at it
    for (let k = 0n; k <= 63n; k++) {
      for (const t of [2n ** k - 1n, 2n ** k, -(2n ** k)]) {
        const n = Number(BigInt.asIntN(64, t)); // 2^63 wraps to -2^63
        assert.deepEqual(range(at(t), at(5n)), [Math.min(n, 5), Math.max(n, 5)], `${t} then 5`);
        assert.deepEqual(range(at(5n), at(t)), [Math.min(n, 5), Math.max(n, 5)], `5 then ${t}`);
      }
    }
    // no timestamp is 0; a repeated one: the last wins; a non-minimal tag still counts
    assert.deepEqual(range(rawLen(2, rawFixed64(1, 0n))), [0, 0]);
    assert.deepEqual(range(rawLen(2, rawVarintField(2, 5n), rawFixed64(1, 0n), rawVarintField(2, 9n))), [9, 9]);
    assert.deepEqual(range(rawLen(2, Buffer.from([0x90, 0x00]), rawVarint(42n))), [42, 42]);
    // an 11th varint byte over 64 bits: the bits beyond 64 are dropped, as decoders do
    assert.deepEqual(range(rawLen(2, Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))), [-1, -1]);
    assert.deepEqual(range(rawLen(4, rawVarintField(1, 1), rawVarintField(15, -5n)), at(3n)), [-5, 3]);
    const none = validateWriteRequest(series([NAME]), LIMITS);
    assert.deepEqual([none.minTime, none.maxTime], [Infinity, -Infinity]);
    const empty = validateWriteRequest(Buffer.alloc(0), LIMITS);
    assert.deepEqual([empty.minTime, empty.maxTime], [Infinity, -Infinity]);
  });

  it('unsorted label sets are accepted and counted in `unsorted`', () => {
    let unsortedSeen = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const rng = new Rng(seed);
      const req: WriteRequest = randomWriteRequest(rng, { maxLabels: 8 });
      for (const ts of req.timeseries) if (rng.chance(0.5)) rng.shuffle(ts.labels);
      const raw = encodeWriteRequest(req);
      const r = validateWriteRequest(raw, LIMITS);
      assert.deepEqual(r, decodedCounts(raw), `seed ${seed}`);
      unsortedSeen += r.unsorted;
    }
    assert.ok(unsortedSeen > 50, `only ${unsortedSeen} unsorted series generated`);
    // a hand-made one: upper case sorts before __name__, which sorts before lower case
    const r = validateWriteRequest(series([['job', 'x'], NAME, ['A', 'y']], SAMPLE), LIMITS);
    assert.equal(r.unsorted, 1);
    assert.equal(validateWriteRequest(series([['A', 'y'], NAME, ['job', 'x']], SAMPLE), LIMITS).unsorted, 0);
  });

  it('missingCluster counts series without a cluster label, only when one is to be injected', () => {
    const withC = series([NAME, ['cluster', 'own']], SAMPLE);
    const without = series([NAME, ['job', 'x']], SAMPLE);
    const raw = Buffer.concat([withC, without, without]);
    assert.equal(validateWriteRequest(raw, LIMITS).missingCluster, 0);
    assert.equal(validateWriteRequest(raw, LIMITS, 'prod').missingCluster, 2);
    assert.equal(validateWriteRequest(raw, LIMITS, '').missingCluster, 2); // an empty value is still "inject"
    assert.equal(validateWriteRequest(Buffer.alloc(0), LIMITS, 'prod').series, 0);
  });

  it('does not modify its input', () => {
    const raw = encodeWriteRequest(randomWriteRequest(new Rng(7)));
    const copy = Buffer.from(raw);
    validateWriteRequest(raw, LIMITS, 'c');
    assert.ok(raw.equals(copy));
  });
});
