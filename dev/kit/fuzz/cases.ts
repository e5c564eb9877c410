// Hostile write bodies, generated from a seed: case `index` of seed `seed` is always
// the same bytes (each case has its own PRNG, seeded from both), so any failure is
// reproduced by its seed and index alone.
//
// Kinds: mutations of the real Prometheus 2.42 captures (bit flips, truncation,
// splicing, duplicated ranges; of the compressed body and of the protobuf inside),
// snappy headers that lie about the length, garbage under valid snappy, structure-aware
// protobuf damage (bad varints, wrong wire types at every nesting level, field numbers
// 0 / 2^29 / 2^32+, lying length prefixes, invalid UTF-8 in every string), odd and
// deep histograms, label-limit boundaries, 10 000 labels in a series, 1 MiB names and
// values, empty and one-byte bodies, wrong headers, and the heavy ones: bodies over
// MAX_BODY_BYTES, decompression bombs up to MAX_DECODED_BYTES, series of millions of
// labels.
//
// A case either states the status it must get (`expect`, by construction: the big
// ones) or leaves it to the oracle (oracle.ts), which judges the bytes independently.

import { compressSync, uncompressSync } from 'snappy';
import { encodeWriteRequest } from '../../../shared/remote-write/model/encode';
import type { Label, TimeSeries, WriteRequest } from '../../../shared/remote-write/model/types';
import { numberToBits } from '../../../shared/remote-write/model/types';
import {
  Rng,
  randomHistogram,
  randomLabelValue,
  randomWriteRequest,
  rawFixed64,
  rawLabel,
  rawLen,
  rawSample,
  rawSeries,
  rawVarint,
  rawVarintField,
} from '../random-write-request';
import { REMOTE_WRITE_HEADERS } from '../relay-harness';
import { type V2Series, encodeV2Request, v2SeriesOf } from '../v2-request';
import type { Fixture } from '../repo';
import type { OracleConfig } from './oracle';
import { INVALID_UTF8, MUTATION_OPS, type MutationOp, type PbNode, mutate, parseTree, serialize, varintBytes } from './pb-tree';

export interface FuzzFixture {
  name: string;
  /** as captured: snappy block */
  body: Buffer;
  /** decompressed WriteRequest */
  raw: Buffer;
  /** [start, end) of every top-level field of `raw` */
  fields: [number, number][];
}

export interface FuzzContext {
  fixtures: FuzzFixture[];
  cfg: OracleConfig;
}

export interface FuzzCase {
  seed: number;
  index: number;
  kind: CaseKind;
  /** what was done, for the report and reproduction */
  name: string;
  body: Buffer;
  /** request headers (default: a Prometheus remote-write 1.0 request) */
  headers: Record<string, string>;
  /** the status it must get, when known by construction; else the oracle decides */
  expect?: 204 | 400 | 401 | 403 | 413 | 415;
}

interface KindSpec {
  /** cases of this kind per round of the schedule */
  weight: number;
  /** costly (tens of MiB): only every `every`-th round */
  every?: number;
  make(rng: Rng, ctx: FuzzContext, index: number): Omit<FuzzCase, 'seed' | 'index' | 'kind' | 'headers'> & { headers?: Record<string, string> };
}

export function prepareFixtures(fixtures: readonly Fixture[]): FuzzFixture[] {
  return fixtures.map((f) => {
    const raw = uncompressSync(f.body, { asBuffer: true }) as Buffer;
    return { name: f.name, body: f.body, raw, fields: topLevelFields(raw) };
  });
}

function topLevelFields(raw: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = raw[pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (pos < raw.length) {
    const start = pos;
    varint(); // tag: the captures hold only LEN fields at the top
    const len = varint();
    pos += len;
    out.push([start, pos]);
  }
  return out;
}

// ---- byte-level mutation helpers ----

function flipBits(rng: Rng, src: Buffer, from = 0): { out: Buffer; what: string } {
  const out = Buffer.from(src);
  const n = rng.pick([1, 1, 1, 2, 3, 8]);
  const at: number[] = [];
  for (let i = 0; i < n && out.length > from; i++) {
    const p = rng.int(from, out.length - 1);
    out[p] ^= 1 << rng.int(0, 7);
    at.push(p);
  }
  return { out, what: `${n} bit flip(s) at ${at.join(',')}` };
}

function setBytes(rng: Rng, src: Buffer): { out: Buffer; what: string } {
  const out = Buffer.from(src);
  const n = rng.int(1, 4);
  for (let i = 0; i < n; i++) out[rng.int(0, out.length - 1)] = rng.pick([0x00, 0x01, 0x7f, 0x80, 0xff]);
  return { out, what: `${n} byte(s) set to edge values` };
}

function dupRange(rng: Rng, src: Buffer): { out: Buffer; what: string } {
  const a = rng.int(0, src.length - 1);
  const b = Math.min(src.length, a + rng.int(1, 256));
  const at = rng.int(0, src.length);
  const out = Buffer.concat([src.subarray(0, at), src.subarray(a, b), src.subarray(at)]);
  return { out, what: `bytes [${a},${b}) duplicated at ${at}` };
}

function splice(rng: Rng, x: Buffer, y: Buffer): { out: Buffer; what: string } {
  const i = rng.int(0, x.length);
  const j = rng.int(0, y.length);
  return { out: Buffer.concat([x.subarray(0, i), y.subarray(j)]), what: `first ${i} bytes of one + bytes from ${j} of another` };
}

/** Seeded filler for large bodies: a 64 KiB random block, tiled. */
function filler(rng: Rng, size: number): Buffer {
  const block = Buffer.alloc(65536);
  for (let i = 0; i < Math.min(size, block.length); i += 4) block.writeUInt32LE(rng.u32(), i);
  const out = Buffer.allocUnsafe(size);
  for (let o = 0; o < size; o += block.length) block.copy(out, o, 0, Math.min(block.length, size - o));
  return out;
}

function fixture(rng: Rng, ctx: FuzzContext): FuzzFixture {
  return rng.pick(ctx.fixtures);
}

/** A few consecutive top-level fields of a capture: a small, real template. */
function fixtureSlice(rng: Rng, ctx: FuzzContext): Buffer {
  const f = fixture(rng, ctx);
  const k = rng.int(1, Math.min(6, f.fields.length));
  const first = rng.int(0, f.fields.length - k);
  return f.raw.subarray(f.fields[first][0], f.fields[first + k - 1][1]);
}

function template(rng: Rng, ctx: FuzzContext): PbNode[] {
  if (rng.chance(0.5)) return parseTree(fixtureSlice(rng, ctx));
  return parseTree(encodeWriteRequest(randomWriteRequest(rng, { maxSeries: 4, maxMetadata: 2 })));
}

function treeCase(rng: Rng, ctx: FuzzContext, ops: readonly MutationOp[], count: number): { body: Buffer; name: string } {
  const root = template(rng, ctx);
  const did: string[] = [];
  for (let i = 0; i < count; i++) {
    for (let attempt = 0; attempt < 8; attempt++) {
      const what = mutate(rng, root, rng.pick(ops));
      if (what !== undefined) {
        did.push(what);
        break;
      }
    }
  }
  return { body: compressSync(serialize(root)), name: did.join('; ') || 'unmutated' };
}

const series = (labels: [string | Buffer, string | Buffer][], ...rest: Buffer[]): Buffer =>
  rawSeries(...labels.map(([n, v]) => rawLabel(n, v)), ...rest, rawSample(numberToBits(1), 1_700_000_000_000n));

function request(ts: TimeSeries[]): Buffer {
  return encodeWriteRequest({ timeseries: ts, metadata: [] });
}

// ---- the kinds ----

const V2_HEADERS = {
  ...REMOTE_WRITE_HEADERS,
  'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
  'x-prometheus-remote-write-version': '2.0.0',
};

/**
 * A remote-write 2.0 body: a random valid request (204), or one with a 2.0 rule broken
 * (400), or one whose label references spell out past MAX_DECODED_BYTES (413).
 */
function remoteWrite2(rng: Rng, ctx: FuzzContext): { body: Buffer; name: string; expect: 204 | 400 | 413 } {
  const series = v2SeriesOf(randomWriteRequest(rng, { maxSeries: 6 }), rng.chance(0.5) ? 1_700_000_000_000n : undefined);
  const v2 = (s: V2Series[], symbols?: string[]): Buffer => compressSync(encodeV2Request(s, { symbols, unpackedRefs: rng.chance(0.2) }));
  if (series.length === 0) series.push({ labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 0n, timestamp: 1n }], histograms: [], exemplars: [] });
  const target = series.find((s) => s.samples.length + s.histograms.length > 0);
  const variant = target ? rng.int(0, 7) : 0;
  if (variant === 0 || !target) return { body: v2(series), name: `valid 2.0 request of ${series.length} series`, expect: 204 };
  if (variant === 1) return { body: v2(series, ['__name__']), name: '2.0: symbols[0] is not the empty string', expect: 400 };
  if (variant === 2) {
    target.labels = [...target.labels].reverse();
    return { body: v2(series), name: "2.0: one series's labels in reverse order", expect: target.labels.length > 1 ? 400 : 204 };
  }
  if (variant === 3) {
    target.labels = [...target.labels, target.labels[target.labels.length - 1]];
    return { body: v2(series), name: '2.0: a label twice', expect: 400 };
  }
  if (variant === 4) {
    const both = { ...target, samples: [{ value: 0n, timestamp: 1n }], histograms: [randomHistogram(rng)] };
    return { body: v2([...series, both]), name: '2.0: samples and histograms in one series', expect: 400 };
  }
  if (variant === 5) {
    // a reference past the symbol table (far fewer than 10^6), in an extra series
    const body = encodeV2Request(series);
    const bad = rawLen(5, rawVarintField(1, 1), rawVarintField(1, 1_000_000 + rng.int(0, 1000)), rawSample(0n, 1n));
    return { body: compressSync(Buffer.concat([body, bad])), name: '2.0: a label reference past the symbols', expect: 400 };
  }
  if (variant === 6) {
    target.labels = [...target.labels.filter((l) => l.name !== '__name__')];
    return { body: v2(series), name: '2.0: a series without __name__ (the 1.0 rules apply after translation)', expect: 400 };
  }
  // one long symbol referenced by many series (2.0 allows a label set twice): small in 2.0,
  // over MAX_DECODED_BYTES spelt out
  const table = ['', '__name__', 'm', 'a', 'x'.repeat(1000)];
  const symbols = encodeV2Request([], { symbols: table });
  const one = encodeV2Request(
    [
      {
        labels: [
          { name: '__name__', value: 'm' },
          { name: 'a', value: table[4] },
        ],
        samples: [{ value: 0n, timestamp: 1n }],
        histograms: [],
        exemplars: [],
      },
    ],
    { symbols: table },
  );
  const n = Math.ceil(ctx.cfg.maxDecodedBytes / 1000) + 1;
  const body = Buffer.concat([symbols, ...Array.from({ length: n }, () => one.subarray(symbols.length))]);
  return { body: compressSync(body), name: `2.0: ${n} series referencing one 1000-byte symbol`, expect: 413 };
}

const KIND_SPECS = {
  'remote-write-2': {
    weight: 2,
    make(rng, ctx) {
      return { ...remoteWrite2(rng, ctx), headers: V2_HEADERS };
    },
  },
  'flip-compressed': {
    weight: 3,
    make(rng, ctx) {
      const f = fixture(rng, ctx);
      const m = flipBits(rng, f.body);
      return { body: m.out, name: `${f.name}: ${m.what} (compressed)` };
    },
  },
  'flip-raw': {
    weight: 3,
    make(rng, ctx) {
      const f = fixture(rng, ctx);
      const m = rng.chance(0.7) ? flipBits(rng, f.raw) : setBytes(rng, f.raw);
      return { body: compressSync(m.out), name: `${f.name}: ${m.what} (protobuf)` };
    },
  },
  'truncate-compressed': {
    weight: 2,
    make(rng, ctx) {
      const f = fixture(rng, ctx);
      const at = rng.chance(0.2) ? rng.int(0, 8) : rng.int(0, f.body.length - 1);
      return { body: f.body.subarray(0, at), name: `${f.name}: compressed body cut at ${at} of ${f.body.length}` };
    },
  },
  'truncate-raw': {
    weight: 2,
    make(rng, ctx) {
      const f = fixture(rng, ctx);
      // at a field boundary (still valid) or anywhere (mid-field)
      const at = rng.chance(0.2) ? rng.pick(f.fields)[1] : rng.int(1, f.raw.length - 1);
      return { body: compressSync(f.raw.subarray(0, at)), name: `${f.name}: protobuf cut at ${at} of ${f.raw.length}` };
    },
  },
  splice: {
    weight: 2,
    make(rng, ctx) {
      const a = fixture(rng, ctx);
      const b = fixture(rng, ctx);
      if (rng.chance(0.5)) {
        const m = splice(rng, a.body, b.body);
        return { body: m.out, name: `${a.name}+${b.name}: ${m.what} (compressed)` };
      }
      const m = splice(rng, a.raw, b.raw);
      return { body: compressSync(m.out), name: `${a.name}+${b.name}: ${m.what} (protobuf)` };
    },
  },
  'dup-range': {
    weight: 2,
    make(rng, ctx) {
      const f = fixture(rng, ctx);
      if (rng.chance(0.4)) {
        const m = dupRange(rng, f.body);
        return { body: m.out, name: `${f.name}: ${m.what} (compressed)` };
      }
      const m = dupRange(rng, f.raw);
      return { body: compressSync(m.out), name: `${f.name}: ${m.what} (protobuf)` };
    },
  },
  'tree-mutation': {
    weight: 4,
    make(rng, ctx) {
      return treeCase(rng, ctx, MUTATION_OPS, rng.int(1, 3));
    },
  },
  'wire-type': {
    weight: 3,
    make(rng, ctx) {
      return treeCase(rng, ctx, ['wire'], 1);
    },
  },
  'field-number': {
    weight: 2,
    make(rng, ctx) {
      return treeCase(rng, ctx, ['field'], 1);
    },
  },
  'bad-varint': {
    weight: 2,
    make(rng, ctx) {
      if (rng.chance(0.3)) {
        // a varint cut by the end of the body itself
        const f = fixture(rng, ctx);
        const field = rng.pick(f.fields);
        const body = Buffer.concat([f.raw.subarray(0, field[1]), Buffer.from([0x0a, 0x80 | rng.int(0, 0x7f)])]);
        return { body: compressSync(body), name: `${f.name}: length varint cut by the end of the body` };
      }
      return treeCase(rng, ctx, ['varint'], 1);
    },
  },
  'length-lie': {
    weight: 2,
    make(rng, ctx) {
      return treeCase(rng, ctx, ['len'], 1);
    },
  },
  'invalid-utf8': {
    weight: 2,
    make(rng, ctx) {
      if (rng.chance(0.5)) return treeCase(rng, ctx, ['utf8'], 1);
      const bad = Buffer.from(rng.pick(INVALID_UTF8));
      const where = rng.int(0, 7);
      const ok = 'fine';
      const word = (s: string): Buffer => Buffer.concat([Buffer.from(s.slice(0, 2)), bad, Buffer.from(s.slice(2))]);
      const bodies: [string, Buffer][] = [
        [
          'label value',
          series([
            ['__name__', 'up'],
            ['job', word('apiserver')],
          ]),
        ],
        [
          'label name',
          series([
            ['__name__', 'up'],
            [word('job'), ok],
          ]),
        ],
        ['metric name', series([['__name__', word('up_total')]])],
        ['metadata help', rawLen(3, rawVarintField(1, 1), rawLen(2, 'up'), rawLen(4, word('help text')))],
        ['metadata family name / unit', rawLen(3, rawVarintField(1, 1), rawLen(2, word('up_total')), rawLen(5, word('seconds')))],
        [
          'exemplar label',
          rawSeries(
            rawLabel('__name__', 'up'),
            rawSample(0n, 1n),
            rawLen(3, rawLabel(rng.chance(0.5) ? word('trace_id') : 'trace_id', word('abcdef')), rawFixed64(2, 0n)),
          ),
        ],
        // a repeated field inside one Label: the last occurrence wins, but the earlier one is forwarded too
        [
          'a label value superseded by a later value field',
          rawSeries(rawLabel('__name__', 'up'), rawLen(1, rawLen(1, 'job'), rawLen(2, word('first')), rawLen(2, 'second')), rawSample(0n, 1n)),
        ],
        [
          'a label name superseded by a later name field',
          rawSeries(rawLabel('__name__', 'up'), rawLen(1, rawLen(1, word('first')), rawLen(1, 'job'), rawLen(2, 'v')), rawSample(0n, 1n)),
        ],
      ];
      const [what, body] = bodies[where];
      return { body: compressSync(body), name: `invalid UTF-8 ${bad.toString('hex')} in ${what}`, expect: 400 };
    },
  },
  histogram: {
    weight: 2,
    make(rng) {
      const hist = encodeWriteRequest({
        timeseries: [
          {
            labels: [{ name: '__name__', value: 'h' }],
            samples: [],
            exemplars: [],
            histograms: Array.from({ length: rng.int(1, 3) }, () => randomHistogram(rng)),
          },
        ],
        metadata: [],
      });
      const odd: [string, Buffer][] = [
        ['packed doubles not a multiple of 8', rawLen(13, Buffer.alloc(rng.int(1, 7) + 8 * rng.int(0, 3)))],
        ['span as fixed64', rawFixed64(11, 1n)],
        ['span holding a wrong wire type', rawLen(8, Buffer.concat([rawVarint(1 * 8 + 1), Buffer.alloc(8)]))],
        ['100 000 positive deltas (valid)', rawLen(12, Buffer.alloc(100_000, 0x02))],
        ['count_int and count_float both (oneof, last wins: valid)', Buffer.concat([rawVarintField(1, 5), rawFixed64(2, numberToBits(5))])],
        ['schema as a 10-byte negative (valid)', rawVarintField(4, -53)],
        ['truncated packed varints', rawLen(9, Buffer.from([0x80, 0x80]))],
        ['group wire type', Buffer.concat([rawVarint(3 * 8 + 3), Buffer.from([0x00])])],
        ['empty histogram (valid)', Buffer.alloc(0)],
        ['unknown nested LEN 1000 deep (valid: skipped)', rawLen(99, nest(1000))],
        [
          'spans with 11-byte varints',
          rawLen(11, Buffer.concat([rawVarint(8), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])])),
        ],
        ['reset_hint as LEN', rawLen(14, 'x')],
      ];
      if (rng.chance(0.4)) {
        const root = parseTree(hist);
        const what = mutate(rng, root, rng.pick(MUTATION_OPS));
        return { body: compressSync(serialize(root)), name: `random histogram: ${what ?? 'unmutated'}` };
      }
      const [what, extra] = rng.pick(odd);
      const body = rawSeries(rawLabel('__name__', 'h'), rawLen(4, rawVarintField(1, 1), extra));
      return { body: compressSync(body), name: `histogram: ${what}` };
    },
  },
  'snappy-length-lie': {
    weight: 2,
    make(rng, ctx) {
      const f = fixture(rng, ctx);
      const max = ctx.cfg.maxDecodedBytes;
      let pos = 0;
      while (f.body[pos] >= 0x80) pos++;
      const real = f.raw.length;
      const declared = rng.pick([
        real - 1,
        real + 1,
        real - rng.int(2, 1000),
        real + rng.int(2, 100_000),
        0,
        1,
        real * 2,
        max,
        max + 1,
        2 ** 32 - 1,
        2 ** 35 - 1,
      ]);
      if (rng.chance(0.1)) {
        return {
          body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01, ...f.body.subarray(pos + 1, pos + 64)]),
          name: `${f.name}: 6-byte snappy length header`,
          expect: 400,
        };
      }
      const header = varintBytes(BigInt(Math.max(0, declared)));
      const dataOnly = rng.chance(0.15);
      const body = dataOnly ? header : Buffer.concat([header, f.body.subarray(pos + 1)]);
      // a header alone declaring 0 is a valid, empty request: the oracle judges that one
      const expect = Math.max(0, declared) > max ? 413 : dataOnly && declared <= 0 ? undefined : 400;
      return { body, name: `${f.name}: snappy header declares ${declared} for ${dataOnly ? 'no data' : `${real} bytes`}`, expect };
    },
  },
  'snappy-garbage': {
    weight: 1,
    make(rng) {
      const n = rng.int(1, 4096);
      const body = filler(rng, n);
      return { body, name: `${n} random bytes as a snappy body` };
    },
  },
  'garbage-protobuf': {
    weight: 2,
    make(rng) {
      const n = rng.int(1, 4096);
      const raw = filler(rng, n);
      // sometimes plausible-looking: field 1 LEN tags sprinkled in
      if (rng.chance(0.5)) for (let i = 0; i < n; i += rng.int(2, 40)) raw[i] = 0x0a;
      return { body: compressSync(raw), name: `valid snappy of ${n} random protobuf bytes` };
    },
  },
  tiny: {
    weight: 2,
    make(rng, _ctx, index) {
      const n = rng.pick([0, 1, 1, 1, 2, 3]);
      const body = n === 1 ? Buffer.from([index % 256]) : filler(rng, n);
      return { body, name: `${n}-byte body ${body.toString('hex')}` };
    },
  },
  'label-limits': {
    weight: 2,
    make(rng, ctx) {
      const l = ctx.cfg.limits;
      const char = rng.pick(['a', 'é', '中', '😀']);
      const name = (n: number): string => 'l'.repeat(n);
      const labels = (n: number, withCluster: boolean): Label[] => {
        const out: Label[] = [{ name: '__name__', value: 'm' }];
        if (withCluster) out.push({ name: 'cluster', value: rng.chance(0.3) ? '' : 'c' });
        for (let i = out.length; i < n; i++) out.push({ name: `l${String(i).padStart(3, '0')}`, value: 'v' });
        return out.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
      };
      const variants: [string, Label[]][] = [
        [`${l.maxLabelsPerSeries} labels, cluster included`, labels(l.maxLabelsPerSeries, true)],
        [`${l.maxLabelsPerSeries} labels, no cluster`, labels(l.maxLabelsPerSeries, false)],
        [`${l.maxLabelsPerSeries - 1} labels, no cluster`, labels(l.maxLabelsPerSeries - 1, false)],
        [`${l.maxLabelsPerSeries + 1} labels`, labels(l.maxLabelsPerSeries + 1, true)],
        [
          `label value of ${l.maxLabelValueLength} × ${char}`,
          [
            { name: '__name__', value: 'm' },
            { name: 'v', value: char.repeat(l.maxLabelValueLength) },
          ],
        ],
        [
          `label value of ${l.maxLabelValueLength + 1} × ${char}`,
          [
            { name: '__name__', value: 'm' },
            { name: 'v', value: char.repeat(l.maxLabelValueLength + 1) },
          ],
        ],
        [
          `label name of ${l.maxLabelNameLength}`,
          [
            { name: '__name__', value: 'm' },
            { name: name(l.maxLabelNameLength), value: 'v' },
          ],
        ],
        [
          `label name of ${l.maxLabelNameLength + 1}`,
          [
            { name: '__name__', value: 'm' },
            { name: name(l.maxLabelNameLength + 1), value: 'v' },
          ],
        ],
        [`metric name of ${l.maxMetricNameLength}`, [{ name: '__name__', value: 'm'.repeat(l.maxMetricNameLength) }]],
        [`metric name of ${l.maxMetricNameLength + 1}`, [{ name: '__name__', value: 'm'.repeat(l.maxMetricNameLength + 1) }]],
        ['empty metric name', [{ name: '__name__', value: '' }]],
        [
          'empty label name',
          [
            { name: '', value: 'x' },
            { name: '__name__', value: 'm' },
          ],
        ],
        ['metric name with a colon (valid)', [{ name: '__name__', value: ':a:b_c:' }]],
        [
          'label name with a colon',
          [
            { name: '__name__', value: 'm' },
            { name: 'a:b', value: 'x' },
          ],
        ],
        [
          'label name starting with a digit',
          [
            { name: '0a', value: 'x' },
            { name: '__name__', value: 'm' },
          ],
        ],
        [
          'reserved-looking __label (valid)',
          [
            { name: '__name__', value: 'm' },
            { name: '__x', value: 'x' },
          ],
        ],
        [
          'cluster only empty (valid)',
          [
            { name: '__name__', value: 'm' },
            { name: 'cluster', value: '' },
          ],
        ],
        [
          'unsorted labels (valid)',
          [
            { name: 'z', value: '1' },
            { name: '__name__', value: 'm' },
            { name: 'a', value: '2' },
          ],
        ],
        [
          'NUL and controls in a value (valid)',
          [
            { name: '__name__', value: 'm' },
            { name: 'v', value: '\u0000\u0001\n\u007f' },
          ],
        ],
        [
          'random valid value',
          [
            { name: '__name__', value: 'm' },
            { name: 'v', value: randomLabelValue(rng, 40) },
          ],
        ],
      ];
      const [what, ls] = rng.pick(variants);
      const samples = [{ value: 0n, timestamp: BigInt(rng.int(0, 1_000_000)) }];
      return { body: compressSync(request([{ labels: ls, samples, exemplars: [], histograms: [] }])), name: what };
    },
  },
  'valid-random': {
    weight: 1,
    make(rng) {
      const req: WriteRequest = randomWriteRequest(rng, { maxSeries: 6, maxMetadata: 3 });
      return { body: compressSync(encodeWriteRequest(req)), name: `random valid request (${req.timeseries.length} series, ${req.metadata.length} metadata)` };
    },
  },
  headers: {
    weight: 1,
    make(rng, ctx) {
      const f = fixture(rng, ctx);
      const h = (over: Record<string, string>, drop?: string): Record<string, string> => {
        const out: Record<string, string> = { ...REMOTE_WRITE_HEADERS, ...over };
        if (drop) delete out[drop];
        return out;
      };
      const variants: [string, Record<string, string>, 204 | 400 | 413 | 415][] = [
        ['Content-Encoding zstd', h({ 'content-encoding': 'zstd' }), 415],
        ['Content-Encoding gzip', h({ 'content-encoding': 'gzip' }), 415],
        ['no Content-Encoding', h({}, 'content-encoding'), 415],
        ['Content-Encoding " SNAPPY " (accepted)', h({ 'content-encoding': ' SNAPPY ' }), 204],
        ['Content-Encoding "snappy, gzip"', h({ 'content-encoding': 'snappy, gzip' }), 415],
        ['no Content-Type', h({}, 'content-type'), 415],
        ['Content-Type application/json', h({ 'content-type': 'application/json' }), 415],
        [
          'a 1.0 capture labelled proto=io.prometheus.write.v2.Request (2.0 reserves its fields)',
          h({ 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }),
          400,
        ],
        ['proto=io.prometheus.write.v3.Request', h({ 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' }), 415],
        ['proto= with no value', h({ 'content-type': 'application/x-protobuf; proto=' }), 415],
        ['Content-Type with odd case and v1 proto (accepted)', h({ 'content-type': 'Application/X-Protobuf ; proto=prometheus.WriteRequest' }), 204],
        // (over every limit: a tenant's smaller maxBodyBytes is checked on the body itself, once the caller is known)
        ['Content-Length of 1 TiB', h({ 'content-length': String(2 ** 40) }), 413],
        ['Content-Length 1e12', h({ 'content-length': '1e12' }), 413],
        ['Content-Length smaller than the body (ignored: the body decides)', h({ 'content-length': '3' }), 204],
        ['Content-Length not a number (ignored)', h({ 'content-length': 'lots' }), 204],
      ];
      const [what, headers, expect] = rng.pick(variants);
      return { body: f.body, headers, name: `${f.name}: ${what}`, expect };
    },
  },
  'many-labels': {
    weight: 1,
    make(rng) {
      const n = 10_000;
      const names = Array.from({ length: n }, (_, i) => `l${String(i).padStart(5, '0')}`);
      const variant = rng.int(0, 4);
      let labels: [string, string][];
      let what: string;
      if (variant === 0) {
        labels = [['__name__', 'm'], ...names.map((x): [string, string] => [x, 'v'])];
        what = 'sorted, distinct';
      } else if (variant === 1) {
        labels = rng.shuffle([['__name__', 'm'], ...names.map((x): [string, string] => [x, 'v'])]);
        what = 'shuffled';
      } else if (variant === 2) {
        labels = [['__name__', 'm'], ...names.map((): [string, string] => ['same', 'v'])];
        what = 'all the same name';
      } else if (variant === 3) {
        labels = names.map((x): [string, string] => [x, 'v']);
        what = 'no __name__';
      } else {
        labels = [['__name__', 'm'], ...names.map((x, i): [string, string] => [i % 2 ? 'a' : 'b', x])];
        what = 'two names alternating';
      }
      return { body: compressSync(series(labels)), name: `${n} labels in one series: ${what}`, expect: 400 };
    },
  },
  'giant-value': {
    weight: 1,
    make(rng) {
      const MiB = 1024 * 1024;
      const variants: [string, () => Buffer][] = [
        [
          '1 MiB ASCII label value',
          () =>
            series([
              ['__name__', 'm'],
              ['v', 'x'.repeat(MiB)],
            ]),
        ],
        [
          '1 Mi × "é" label value',
          () =>
            series([
              ['__name__', 'm'],
              ['v', 'é'.repeat(MiB)],
            ]),
        ],
        [
          '1 MiB label name',
          () =>
            series([
              ['__name__', 'm'],
              ['n'.repeat(MiB), 'v'],
            ]),
        ],
        ['1 MiB metric name', () => series([['__name__', 'm'.repeat(MiB)]])],
        ['1 MiB metadata help (valid)', () => rawLen(3, rawVarintField(1, 1), rawLen(2, 'm'), rawLen(4, 'h'.repeat(MiB)))],
        [
          '1 MiB exemplar label value (valid: only UTF-8 is checked)',
          () => rawSeries(rawLabel('__name__', 'm'), rawSample(0n, 1n), rawLen(3, rawLabel('trace_id', 't'.repeat(MiB)), rawFixed64(2, 0n))),
        ],
        ['1 MiB unknown field in a series (valid)', () => series([['__name__', 'm']], rawLen(77, Buffer.alloc(MiB, 0x41)))],
        [
          '1 MiB label value of invalid UTF-8',
          () =>
            series([
              ['__name__', 'm'],
              ['v', Buffer.alloc(MiB, 0xff)],
            ]),
        ],
      ];
      const [what, make] = rng.pick(variants);
      return { body: compressSync(make()), name: what };
    },
  },
  'huge-body': {
    weight: 1,
    every: 2,
    make(rng, ctx) {
      const size = ctx.cfg.maxBodyBytes + rng.pick([1, 2, rng.int(3, 1024 * 1024)]);
      const body = filler(rng, size);
      if (rng.chance(0.5)) varintBytes(1000n).copy(body); // a small, plausible header: the size alone must refuse it
      const withLength = rng.chance(0.5);
      return {
        body,
        headers: withLength ? { ...REMOTE_WRITE_HEADERS, 'content-length': String(size) } : undefined,
        name: `${size}-byte body (MAX_BODY_BYTES + ${size - ctx.cfg.maxBodyBytes})${withLength ? ' with its Content-Length' : ''}`,
        expect: 413,
      };
    },
  },
  'decompression-bomb': {
    weight: 1,
    every: 2,
    make(rng, ctx) {
      const max = ctx.cfg.maxDecodedBytes;
      const variant = rng.int(0, 5);
      if (variant === 0) {
        return { body: compressSync(Buffer.alloc(max)), name: `${max} zero bytes (exactly MAX_DECODED_BYTES): field number 0`, expect: 400 };
      }
      if (variant === 1) {
        return { body: compressSync(Buffer.alloc(max + 1)), name: `${max + 1} zero bytes: one over MAX_DECODED_BYTES`, expect: 413 };
      }
      if (variant === 2) {
        // valid series up to the limit, and one bad one at the very end: all of it is scanned
        const good = series([
          ['__name__', 'bomb'],
          ['i', `${rng.u32()}`],
        ]);
        const bad = series([['__name__', '0bad']]);
        const n = Math.floor((max - bad.length) / good.length);
        return {
          body: compressSync(Buffer.concat([...Array.from({ length: n }, () => good), bad])),
          name: `${n} valid series then a bad one (${n * good.length + bad.length} bytes)`,
          expect: 400,
        };
      }
      if (variant === 3) {
        const overhead = 64;
        const value = Buffer.alloc(max - overhead, 0x61);
        return {
          body: compressSync(
            series([
              ['__name__', 'm'],
              ['v', value],
            ]),
          ),
          name: `one label value of ${value.length} bytes`,
          expect: 400,
        };
      }
      if (variant === 4) {
        const full = compressSync(Buffer.alloc(max, 0x0a));
        const cut = full.subarray(0, rng.int(6, full.length - 1));
        return { body: cut, name: `snappy of ${max} bytes cut at ${cut.length} of ${full.length}`, expect: 400 };
      }
      return { body: compressSync(rawLen(9, Buffer.alloc(max - 16, 0x42))), name: `one unknown field of ${max - 16} bytes and nothing else`, expect: 400 };
    },
  },
  'label-flood': {
    weight: 1,
    every: 2,
    make(rng, ctx) {
      // One series with as many labels as MAX_DECODED_BYTES holds (millions): every
      // check on the way must stay linear and leave nothing behind.
      const max = ctx.cfg.maxDecodedBytes;
      const variant = rng.int(0, 4);
      const ab = Buffer.concat([rawLabel('a', ''), rawLabel('b', '')]);
      const pairs = Math.floor((max - 64) / ab.length);
      const flood = Buffer.alloc(pairs * ab.length, ab); // a="",b="",a="",… as one fill
      const parts: Buffer[] = [];
      let what: string;
      if (variant === 0) {
        parts.push(rawLabel('__name__', 'm'), flood);
        what = 'alternating a/b after __name__';
      } else if (variant === 1) {
        parts.push(flood);
        what = 'alternating a/b, no __name__ (the last rule checked)';
      } else if (variant === 2) {
        parts.push(rawLabel('__name__', 'm'), flood, rawLabel('bad-name', ''));
        what = 'alternating a/b, an invalid name at the end';
      } else if (variant === 4) {
        // the costliest valid shape: series at the label limit in reverse order (every
        // pair compared for duplicates), a quarter of MAX_DECODED_BYTES of them, and one
        // bad series at the end
        const n = ctx.cfg.limits.maxLabelsPerSeries - 1;
        const ls = Array.from({ length: n - 1 }, (_, i) => rawLabel(`l${String(n - i).padStart(3, '0')}`, ''));
        const s = rawSeries(rawLabel('__name__', 'm'), ...ls, rawSample(0n, 1n));
        const count = Math.floor(max / 4 / s.length);
        const bad = series([
          ['__name__', 'm'],
          ['bad-name', ''],
        ]);
        return {
          body: compressSync(Buffer.concat([...Array.from({ length: count }, () => s), bad])),
          name: `${count} series of ${n} labels in reverse order, then a bad one`,
          expect: 400,
        };
      } else {
        // many series, each just over the label limit, each unsorted: the cheap rule must fire first
        const over = ctx.cfg.limits.maxLabelsPerSeries + 1;
        const ls = Array.from({ length: over }, (_, i) => rawLabel(`l${String(over - i).padStart(3, '0')}`, ''));
        const s = rawSeries(rawLabel('__name__', 'm'), ...ls);
        const n = Math.floor(max / s.length);
        return { body: compressSync(Buffer.concat(Array.from({ length: n }, () => s))), name: `${n} series of ${over + 1} unsorted labels`, expect: 400 };
      }
      const payload = Buffer.concat(parts);
      const body = Buffer.concat([Buffer.from([0x0a]), rawVarint(payload.length), payload]);
      return { body: compressSync(body), name: `one series of ${pairs * 2 + parts.length - 1} labels: ${what}`, expect: 400 };
    },
  },
} satisfies Record<string, KindSpec>;

function nest(depth: number): Buffer {
  let payload = Buffer.from('deep');
  for (let i = 0; i < depth; i++) payload = Buffer.concat([rawVarint(1 * 8 + 2), rawVarint(payload.length), payload]);
  return payload;
}

export type Kind = keyof typeof KIND_SPECS;

/** The body kinds, and hostile credentials (tenant mode, tenant.ts). */
export type CaseKind = Kind | 'credentials';

export const KINDS = Object.keys(KIND_SPECS) as Kind[];

/** Kinds that allocate tens of MiB per case. */
export const HEAVY_KINDS: readonly Kind[] = KINDS.filter((k) => (KIND_SPECS[k] as KindSpec).every !== undefined);

/** The kinds of one round: each kind `weight` times, the heavy ones every `every`-th round. */
function round(r: number): Kind[] {
  const out: Kind[] = [];
  for (const k of KINDS) {
    const spec: KindSpec = KIND_SPECS[k];
    if (spec.every !== undefined && r % spec.every !== 0) continue;
    for (let i = 0; i < spec.weight; i++) out.push(k);
  }
  return out;
}

// Two rounds (with and without the heavy kinds), each in a fixed shuffled order.
const ROUNDS = [new Rng(6).shuffle(round(0)), new Rng(7).shuffle(round(1))];
const CYCLE = ROUNDS[0].length + ROUNDS[1].length;

/** The kind of case `index`: a fixed, interleaved schedule, so every run covers every kind. */
export function kindOf(index: number): Kind {
  const i = index % CYCLE;
  return i < ROUNDS[0].length ? ROUNDS[0][i] : ROUNDS[1][i - ROUNDS[0].length];
}

/** Cases in one full cycle of the schedule (every kind at least once). */
export const SCHEDULE_CYCLE = CYCLE;

/** One PRNG per case, from both the run's seed and the case's index. */
export function caseRng(seed: number, index: number): Rng {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return new Rng((h ^ (h >>> 16)) >>> 0);
}

export function generateCase(ctx: FuzzContext, seed: number, index: number): FuzzCase {
  const kind = kindOf(index);
  const spec: KindSpec = KIND_SPECS[kind];
  const made = spec.make(caseRng(seed, index), ctx, index);
  return { seed, index, kind, ...made, headers: made.headers ?? REMOTE_WRITE_HEADERS };
}

export function isHeavy(kind: CaseKind): boolean {
  return (HEAVY_KINDS as readonly CaseKind[]).includes(kind);
}
