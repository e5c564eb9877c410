// The hand-written WriteRequest codec (decode.ts / encode.ts) cross-checked against
// protobufjs over proto/remote.proto, on random requests and on real Prometheus 2.42
// traffic. Doubles are compared by bit pattern, except that protobufjs's NaNs are
// only checked for NaN-ness (it carries doubles as JS numbers).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeWriteRequest, emptyHistogram } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { decompressBounded } from '../../shared/remote-write/snappy';
import { WireError } from '../../shared/remote-write/wire';
import {
  type Histogram,
  type WriteRequest,
  bitsToNumber,
  isNaNBits,
  isStaleMarker,
  normalNaNBits,
  numberToBits,
  staleMarkerBits,
} from '../../shared/remote-write/model/types';
import { canonical, canonicalPb, loadFixtures, referenceCodec } from '../../dev/kit/repo';
import {
  I64_MAX,
  I64_MIN,
  Rng,
  SPECIAL_DOUBLE_BITS,
  U64_MAX,
  randomWriteRequest,
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

const RANDOM_REQUESTS = 250;
const MAX_DECODED = 64 * 1024 * 1024;

/** Runs `check` for seeds 1..n, naming the seed when one fails. */
function forSeeds(n: number, check: (req: WriteRequest, seed: number) => void): void {
  for (let seed = 1; seed <= n; seed++) {
    const req = randomWriteRequest(new Rng(seed));
    try {
      check(req, seed);
    } catch (err) {
      if (err instanceof Error) err.message = `seed ${seed}: ${err.message}`;
      throw err;
    }
  }
}

describe('double bit helpers', () => {
  it('staleMarkerBits is the Prometheus stale NaN', () => {
    assert.equal(staleMarkerBits, 0x7ff0000000000002n);
    assert.ok(Number.isNaN(bitsToNumber(staleMarkerBits)));
    assert.ok(isNaNBits(staleMarkerBits) && isStaleMarker(staleMarkerBits));
    assert.ok(isNaNBits(normalNaNBits) && !isStaleMarker(normalNaNBits));
  });

  it('numberToBits / bitsToNumber are inverse for non-NaN values, -0 included', () => {
    for (const n of [0, -0, 1, -1, 0.1, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, Infinity, -Infinity, 2 ** 53 + 2]) {
      assert.ok(Object.is(bitsToNumber(numberToBits(n)), n), `${n}`);
    }
    assert.equal(numberToBits(-0), 0x8000000000000000n);
    assert.equal(numberToBits(Infinity), 0x7ff0000000000000n);
    for (const bits of SPECIAL_DOUBLE_BITS) {
      if (!isNaNBits(bits)) assert.equal(numberToBits(bitsToNumber(bits)), bits);
      else assert.ok(Number.isNaN(bitsToNumber(bits)));
    }
  });

  it('why bits and not numbers: the stale marker is a signalling NaN', () => {
    // quiet bit (51) clear: engines may quiet it (V8 does when a number is stored in a
    // double-elements array), after which Prometheus no longer sees a stale marker
    assert.equal(staleMarkerBits & (1n << 51n), 0n);
    // our decoder keeps it exact even in repeated doubles, where protobufjs builds a
    // JS array of numbers
    const h = rawLen(4, rawLen(13, rawFixed64(1, staleMarkerBits).subarray(1), rawFixed64(1, staleMarkerBits).subarray(1)));
    const decoded = decodeWriteRequest(rawSeries(rawLabel('__name__', 'h'), h));
    assert.deepStrictEqual(decoded.timeseries[0].histograms[0].positiveCounts, [staleMarkerBits, staleMarkerBits]);
    assert.ok(encodeWriteRequest(decoded).equals(rawSeries(rawLabel('__name__', 'h'), h)));
  });

  it('isNaNBits: exponent all ones and a non-zero mantissa, either sign', () => {
    assert.ok(!isNaNBits(0x7ff0000000000000n)); // +Inf
    assert.ok(!isNaNBits(0xfff0000000000000n)); // -Inf
    assert.ok(isNaNBits(0xfff0000000000001n));
    assert.ok(isNaNBits(0x7fffffffffffffffn));
    assert.ok(!isNaNBits(0x7fefffffffffffffn));
  });
});

describe('codec against protobufjs, random requests', () => {
  const ref = referenceCodec();

  it(`(a) our encode → protobufjs decode agrees field by field (${RANDOM_REQUESTS} requests)`, () => {
    forSeeds(RANDOM_REQUESTS, (req) => {
      const bytes = encodeWriteRequest(req);
      assert.deepEqual(canonicalPb(ref.decode(bytes)), canonical(req));
    });
  });

  it(`(b) protobufjs encode → our decode agrees field by field (${RANDOM_REQUESTS} requests)`, () => {
    forSeeds(RANDOM_REQUESTS, (req) => {
      const bytes = ref.encode(req);
      assert.deepEqual(canonical(decodeWriteRequest(bytes)), canonical(req));
    });
  });

  it(`(c) our encode → our decode round-trips bit-exact (${RANDOM_REQUESTS} requests)`, () => {
    let nanValues = 0;
    let stale = 0;
    let histograms = 0;
    forSeeds(RANDOM_REQUESTS, (req) => {
      const bytes = encodeWriteRequest(req);
      const back = decodeWriteRequest(bytes);
      assert.deepStrictEqual(back, req);
      // and canonical: re-encoding reproduces the same bytes
      assert.ok(encodeWriteRequest(back).equals(bytes));
      for (const ts of req.timeseries) {
        histograms += ts.histograms.length;
        for (const s of ts.samples) {
          if (isNaNBits(s.value)) nanValues++;
          if (isStaleMarker(s.value)) stale++;
        }
      }
    });
    // the generator really exercised the interesting cases
    assert.ok(nanValues > 50, `only ${nanValues} NaN samples generated`);
    assert.ok(stale > 5, `only ${stale} stale markers generated`);
    assert.ok(histograms > 50, `only ${histograms} histograms generated`);
  });

  it('our encoder writes the same bytes as protobufjs when nothing is a default', () => {
    // protobufjs writes every field that is set (defaults included) while ours omits
    // proto3 defaults; on a message with no default-valued scalars they must match.
    const req: WriteRequest = {
      timeseries: [
        {
          labels: [
            { name: '__name__', value: 'up' },
            { name: 'job', value: 'node €' },
          ],
          samples: [
            { value: numberToBits(1), timestamp: 1700000000000n },
            { value: numberToBits(-0.5), timestamp: -5n },
          ],
          exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: numberToBits(3), timestamp: I64_MAX }],
          histograms: [],
        },
      ],
      metadata: [{ type: 1, metricFamilyName: 'up', help: 'h', unit: 'u' }],
    };
    assert.ok(encodeWriteRequest(req).equals(ref.encode(req)));
  });
});

describe('codec edge cases', () => {
  const ref = referenceCodec();

  it('an empty request is zero bytes and decodes back', () => {
    const empty: WriteRequest = { timeseries: [], metadata: [] };
    assert.equal(encodeWriteRequest(empty).length, 0);
    assert.deepStrictEqual(decodeWriteRequest(Buffer.alloc(0)), empty);
  });

  it('NaN payloads, -0, ±Inf and int64 extremes survive bit-exact', () => {
    const req: WriteRequest = {
      timeseries: [
        {
          labels: [{ name: '__name__', value: 'x' }],
          samples: SPECIAL_DOUBLE_BITS.map((value, i) => ({ value, timestamp: [I64_MIN, I64_MAX, -1n, 0n][i % 4] })),
          exemplars: [{ labels: [], value: staleMarkerBits, timestamp: I64_MIN }],
          histograms: [],
        },
      ],
      metadata: [],
    };
    const back = decodeWriteRequest(encodeWriteRequest(req));
    assert.deepStrictEqual(back, req);
    assert.equal(back.timeseries[0].samples[2].value, 0x7ff0000000000002n);
    assert.deepEqual(canonicalPb(ref.decode(encodeWriteRequest(req))), canonical(req));
  });

  it('histogram oneofs: set-to-zero is kept distinct from unset, last member wins', () => {
    const zeroInt: Histogram = { ...emptyHistogram(), count: { kind: 'int', value: 0n }, zeroCount: { kind: 'float', bits: 0n } };
    const unset = emptyHistogram();
    const req: WriteRequest = {
      timeseries: [{ labels: [{ name: '__name__', value: 'h' }], samples: [], exemplars: [], histograms: [zeroInt, unset] }],
      metadata: [],
    };
    const bytes = encodeWriteRequest(req);
    assert.deepStrictEqual(decodeWriteRequest(bytes), req);
    const pb = ref.decode(bytes).timeseries[0].histograms;
    assert.equal(pb[0].count, 'countInt');
    assert.equal(pb[0].zeroCount, 'zeroCountFloat');
    assert.equal(pb[1].count, undefined);
    assert.equal(pb[1].zeroCount, undefined);

    // count_int then count_float on the wire: the float wins
    const h = Buffer.concat([rawVarintField(1, 7), rawFixed64(2, numberToBits(2.5)), rawVarintField(6, 1), rawFixed64(7, 0n), rawVarintField(6, 3)]);
    const decoded = decodeWriteRequest(rawSeries(rawLabel('__name__', 'h'), rawLen(4, h))).timeseries[0].histograms[0];
    assert.deepStrictEqual(decoded.count, { kind: 'float', bits: numberToBits(2.5) });
    assert.deepStrictEqual(decoded.zeroCount, { kind: 'int', value: 3n });
  });

  it('32-bit histogram fields and enums at their extremes', () => {
    const h: Histogram = {
      ...emptyHistogram(),
      count: { kind: 'int', value: U64_MAX },
      schema: -2147483648,
      negativeSpans: [
        { offset: -2147483648, length: 0xffffffff },
        { offset: 2147483647, length: 1 },
      ],
      negativeDeltas: [I64_MIN, I64_MAX, -1n, 1n, 0n],
      positiveSpans: [{ offset: 0, length: 0 }],
      positiveDeltas: [0n],
      resetHint: 3,
      timestamp: I64_MIN,
    };
    const h2: Histogram = { ...emptyHistogram(), schema: 2147483647, resetHint: -1, positiveCounts: [staleMarkerBits, 0n, 0x8000000000000000n] };
    const req: WriteRequest = {
      timeseries: [{ labels: [{ name: '__name__', value: 'h' }], samples: [], exemplars: [], histograms: [h, h2] }],
      metadata: [
        { type: -1, metricFamilyName: 'a', help: '', unit: '' },
        { type: 2147483647, metricFamilyName: '', help: 'ünïcødé 😀', unit: 'seconds' },
      ],
    };
    const bytes = encodeWriteRequest(req);
    assert.deepStrictEqual(decodeWriteRequest(bytes), req);
    assert.deepEqual(canonicalPb(ref.decode(bytes)), canonical(req));
    // protobufjs's verify refuses enum values outside the declared ones (proto3 enums
    // are open on the wire, and both decoders keep them), so encode with valid ones.
    const known: WriteRequest = {
      timeseries: [{ ...req.timeseries[0], histograms: [h, { ...h2, resetHint: 2 }] }],
      metadata: req.metadata.map((m) => ({ ...m, type: 7 })),
    };
    assert.deepEqual(canonical(decodeWriteRequest(ref.encode(known))), canonical(known));
  });

  it('repeated scalars decode the same packed, unpacked and mixed', () => {
    const deltas = [5n, -3n, I64_MIN];
    const counts = [numberToBits(1), staleMarkerBits];
    const zz = (v: bigint): bigint => BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    const packed = Buffer.concat([rawLen(12, ...deltas.map((d) => rawVarint(zz(d)))), rawLen(13, ...counts.map((c) => rawFixed64(1, c).subarray(1)))]);
    const unpacked = Buffer.concat([...deltas.map((d) => rawVarintField(12, zz(d))), ...counts.map((c) => rawFixed64(13, c))]);
    const mixed = Buffer.concat([
      rawVarintField(12, zz(5n)),
      rawLen(12, rawVarint(zz(-3n)), rawVarint(zz(I64_MIN))),
      rawFixed64(13, counts[0]),
      rawLen(13, rawFixed64(1, counts[1]).subarray(1)),
    ]);
    for (const body of [packed, unpacked, mixed]) {
      const h = decodeWriteRequest(rawSeries(rawLabel('__name__', 'h'), rawLen(4, body))).timeseries[0].histograms[0];
      assert.deepStrictEqual(h.positiveDeltas, deltas);
      assert.deepStrictEqual(h.positiveCounts, counts);
    }
  });

  it('unknown fields at every level are skipped (and dropped)', () => {
    const u = rawUnknownFields();
    const span = rawLen(11, rawVarintField(1, 2), rawVarintField(2, 3), u);
    const hist = rawLen(4, rawVarintField(1, 9), u, span, rawVarintField(15, 77));
    const exemplar = rawLen(3, rawLabel('trace_id', 'abc', u), u, rawFixed64(2, staleMarkerBits), rawVarintField(3, 5));
    const series = rawSeries(rawLabel('__name__', 'up', u), u, rawSample(staleMarkerBits, 123n, u), exemplar, hist);
    const metadata = rawLen(3, rawVarintField(1, 2), u, rawLen(2, 'up'), rawLen(4, 'help'), rawLen(5, 'unit'));
    const withUnknown = Buffer.concat([u, series, u, metadata, rawLen(2, 'reserved field 2'), u]);
    const expected: WriteRequest = {
      timeseries: [
        {
          labels: [{ name: '__name__', value: 'up' }],
          samples: [{ value: staleMarkerBits, timestamp: 123n }],
          exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: staleMarkerBits, timestamp: 5n }],
          histograms: [{ ...emptyHistogram(), count: { kind: 'int', value: 9n }, positiveSpans: [{ offset: 1, length: 3 }], timestamp: 77n }],
        },
      ],
      metadata: [{ type: 2, metricFamilyName: 'up', help: 'help', unit: 'unit' }],
    };
    const decoded = decodeWriteRequest(withUnknown);
    assert.deepStrictEqual(decoded, expected);
    assert.deepEqual(canonicalPb(ref.decode(withUnknown)), canonical(expected));
    // re-encoding drops them: the result is smaller and has none of the unknown bytes
    const reencoded = encodeWriteRequest(decoded);
    assert.ok(reencoded.length < withUnknown.length);
    assert.equal(reencoded.indexOf(Buffer.from('unknown bytes')), -1);
  });

  it('malformed input throws WireError', () => {
    const ok = rawSeries(rawLabel('__name__', 'up'));
    const cases: [string, Buffer][] = [
      ['truncated varint', Buffer.from([0x0a, 0x80])],
      ['length past the end', Buffer.from([0x0a, 0x05, 0x00])],
      ['field number 0', Buffer.from([0x02, 0x00])],
      ['timeseries as varint', Buffer.from([0x08, 0x01])],
      ['labels as fixed64', rawSeries(rawFixed64(1, 0n))],
      ['label name as varint', rawSeries(rawLen(1, rawVarintField(1, 5)))],
      ['sample value as varint', rawSeries(rawLen(2, rawVarintField(1, 5)))],
      ['sample timestamp as fixed64', rawSeries(rawLen(2, rawFixed64(2, 5n)))],
      ['truncated sample value', rawSeries(rawLen(2, Buffer.from([0x09, 1, 2, 3])))],
      ['histogram count_int as LEN', rawSeries(rawLen(4, rawLen(1, 'x')))],
      ['packed doubles not a multiple of 8', rawSeries(rawLen(4, rawLen(13, Buffer.alloc(12))))],
      ['metadata as varint', Buffer.from([0x18, 0x01])],
      ['invalid UTF-8 in a label value', rawSeries(rawLabel('__name__', Buffer.from([0x75, 0xff])))],
      ['invalid UTF-8 in metadata help', rawLen(3, rawLen(4, Buffer.from([0xc0, 0x80])))],
      ['group wire type', Buffer.concat([ok, rawTag(7, 3), rawTag(7, 4)])],
      ['varint longer than 10 bytes', rawSeries(rawLen(2, rawTag(2, 0), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])))],
      ['field number beyond 2^29-1', Buffer.concat([rawTag(2 ** 29, 0), rawVarint(1)])],
    ];
    for (const [what, buf] of cases) {
      assert.throws(() => decodeWriteRequest(buf), WireError, what);
    }
    assert.doesNotThrow(() => decodeWriteRequest(ok));
  });

  it('the encoder refuses values outside their wire types', () => {
    const series = (h: Histogram): WriteRequest => ({
      timeseries: [{ labels: [], samples: [], exemplars: [], histograms: [h] }],
      metadata: [],
    });
    const sample = (value: bigint, timestamp: bigint): WriteRequest => ({
      timeseries: [{ labels: [], samples: [{ value, timestamp }], exemplars: [], histograms: [] }],
      metadata: [],
    });
    assert.throws(() => encodeWriteRequest(sample(1n << 64n, 0n)), RangeError);
    assert.throws(() => encodeWriteRequest(sample(-1n, 0n)), RangeError);
    assert.throws(() => encodeWriteRequest(sample(0n, I64_MAX + 1n)), RangeError);
    assert.throws(() => encodeWriteRequest(series({ ...emptyHistogram(), schema: 2 ** 31 })), RangeError);
    assert.throws(() => encodeWriteRequest(series({ ...emptyHistogram(), count: { kind: 'int', value: -1n } })), RangeError);
    assert.throws(() => encodeWriteRequest(series({ ...emptyHistogram(), positiveSpans: [{ offset: 0, length: -1 }] })), RangeError);
    assert.throws(() => encodeWriteRequest(series({ ...emptyHistogram(), positiveDeltas: [I64_MIN - 1n] })), RangeError);
  });
});

describe('codec on captured Prometheus 2.42 traffic', () => {
  const ref = referenceCodec();
  const fixtures = loadFixtures().map((f) => ({ ...f, raw: decompressBounded(f.body, MAX_DECODED) }));

  it('every fixture decodes identically with our decoder and protobufjs', () => {
    assert.equal(fixtures.length, 291);
    for (const f of fixtures) {
      assert.deepEqual(canonical(decodeWriteRequest(f.raw)), canonicalPb(ref.decode(f.raw)), f.name);
    }
  });

  it('re-encoding a decoded fixture reproduces its bytes exactly', () => {
    // Prometheus (gogo-protobuf) writes canonical proto3, as our encoder does, so this
    // proves nothing was lost or rounded, NaN payloads included.
    for (const f of fixtures) {
      assert.ok(encodeWriteRequest(decodeWriteRequest(f.raw)).equals(f.raw), f.name);
    }
  });

  it('totals match the shared README: 114188 samples, 27827 metadata entries', () => {
    let samples = 0;
    let metadata = 0;
    for (const f of fixtures) {
      const req = decodeWriteRequest(f.raw);
      for (const ts of req.timeseries) samples += ts.samples.length;
      metadata += req.metadata.length;
    }
    assert.equal(samples, 114188);
    assert.equal(metadata, 27827);
  });

  it('exactly 507 stale markers (bits 0x7ff0000000000002), all in the last requests', () => {
    let stale = 0;
    let otherNaN = 0;
    const staleIn: string[] = [];
    for (const f of fixtures) {
      let here = 0;
      for (const ts of decodeWriteRequest(f.raw).timeseries) {
        for (const s of ts.samples) {
          if (s.value === staleMarkerBits) here++;
          else if (isNaNBits(s.value)) otherNaN++;
        }
      }
      if (here > 0) staleIn.push(f.name);
      stale += here;
    }
    assert.equal(stale, 507);
    // all stale markers sit in the tail, after node-exporter was stopped
    const firstStale = fixtures.findIndex((f) => f.name === staleIn[0]);
    assert.ok(firstStale >= fixtures.length - 10, `first stale marker in ${staleIn[0]}`);
    // the other NaNs (empty summary quantiles) are Prometheus's NormalNaN, not stale markers
    assert.ok(otherNaN > 0);
    for (const f of fixtures) {
      for (const ts of decodeWriteRequest(f.raw).timeseries) {
        for (const s of ts.samples) if (isNaNBits(s.value) && s.value !== staleMarkerBits) assert.equal(s.value, normalNaNBits);
      }
    }
  });
});
