// The native remote-write 2.0 path (native/fastpath.c translateV2) against the reference,
// the JS path the relay and the forwarder take without it: translateV2Request, then
// validateWriteRequest, then rewriteLabels when series lack the cluster label. Where native
// takes a request, its block must decode byte for byte to what the JS path sends, with the
// same counts; everything else (every rejection included) it must leave to the JS path.
// Checked on the bench's requests, the captures converted to 2.0 (with their metadata, as
// Prometheus 3 sends them), random requests of every shape, requests of the fast path's own
// shape, and mutations of all of these.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { syntheticPayloads } from '../../bench/lib/payloads';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { MetricType } from '../../shared/remote-write/model/types';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type FastScanner, createFastScanner, nativeStatus } from '../../shared/remote-write/native';
import { compress, decompressBounded } from '../../shared/remote-write/snappy';
import { translateV2Request } from '../../shared/remote-write/v2';
import { AZURE_MONITOR_LIMITS, type ForeignClusterPolicy, type SeriesLimits } from '../../shared/remote-write/validate';
import { Rng, randomTimestamp, randomWriteRequest } from '../../dev/kit/random-write-request';
import { loadFixtures } from '../../dev/kit/repo';
import { assertSameCounts, mutate as mutateBytes, sameBlocksInThreads, underEveryPolicy, viaJsValidation } from '../helpers/native-cases';
import { type V2Series, encodeV2Request, v2SeriesOf } from '../../dev/kit/v2-request';

const MAX_DECODED = 32 << 20;
const L = AZURE_MONITOR_LIMITS;
const status = nativeStatus();
// as in native.test.ts: CI builds the module, so there these tests must run
const skip = !status.loaded && process.env.CI !== 'true' ? `native fast path not built here (${status.reason})` : false;

type Reference =
  | {
      ok: true;
      sent: Buffer;
      series: number;
      samples: number;
      minTime: number;
      maxTime: number;
      written: { samples: number; histograms: number; exemplars: number };
    }
  | { ok: false };

/** What the JS path sends for a 2.0 block (as relay.ts does it), or that it refuses or sends nothing. */
function viaJs(block: Buffer, limits: SeriesLimits, cluster: string | undefined, policy: ForeignClusterPolicy): Reference {
  try {
    const t = translateV2Request(decompressBounded(block, MAX_DECODED), MAX_DECODED);
    if (t.request.length === 0) return { ok: false };
    const { rewritten, ...counted } = viaJsValidation(t.request, limits, cluster, policy);
    return { ok: true, ...counted, sent: rewritten ?? t.request, written: t.counts };
  } catch {
    return { ok: false };
  }
}

/** The soundness rule on one block; returns whether native took it. */
function agree(scanner: FastScanner, block: Buffer, limits: SeriesLimits, cluster: string | undefined, policy: ForeignClusterPolicy, what: string): boolean {
  const fast = scanner.scanV2(block);
  if (fast === undefined) return false;
  const js = viaJs(block, limits, cluster, policy);
  assert.ok(js.ok, `${what}: native took a request the JS path refuses (or sends nothing for)`);
  assert.ok(fast.rewrittenBlock, `${what}: no block to send`);
  const decoded = decompressBounded(fast.rewrittenBlock, MAX_DECODED);
  assert.ok(decoded.equals(js.sent), `${what}: the native block decodes to other bytes than the JS path sends`);
  assert.equal(fast.rawLength, js.sent.length, `${what}: decoded length`);
  assertSameCounts(fast, js, what);
  assert.deepEqual(fast.written, js.written, `${what}: Written counts`);
  return true;
}

const mutate = (rng: Rng, buf: Buffer): Buffer => mutateBytes(rng, buf, [0x0a, 0x12, 0x22, 0x2a, 0x08, 0x09, 0x10, 0x80, 0x00, 0x7f]);

/** 2.0 requests of the fast path's own shape (ASCII, sorted, plain samples), to mutate at its edges. */
function plainSeries(rng: Rng): V2Series[] {
  const pick = (alphabet: string, lo: number, hi: number): string => {
    let out = '';
    for (let i = rng.int(lo, hi); i > 0; i--) out += alphabet[rng.int(0, alphabet.length - 1)];
    return out;
  };
  // a few shared values, as real series share job and instance values
  const shared = Array.from({ length: 4 }, () => pick('abcxyz0123456789:./-', 1, 20));
  return Array.from({ length: rng.int(1, 12) }, () => {
    const names = new Set<string>();
    for (let i = rng.int(0, 9); i > 0; i--) names.add(pick('abcdefghijklmnopqrstuvwxyz_', 1, 12));
    if (rng.chance(0.6)) names.add('cluster');
    const labels = [
      { name: '__name__', value: pick('abcdefghijklmnopqrstuvwxyz_:', 1, 40) },
      ...[...names].map((name) => ({
        name,
        value:
          name === 'cluster' && rng.chance(0.7)
            ? 'c1'
            : rng.chance(0.5)
              ? shared[rng.int(0, 3)]
              : pick(' !#%+-./0123456789:=ABCXYZabcxyz~', 1, rng.chance(0.1) ? 200 : 30),
      })),
    ];
    labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const samples = Array.from({ length: rng.int(1, 3) }, () => ({
      value: BigInt(rng.int(0, 2 ** 31)) << 20n,
      timestamp: rng.chance(0.8) ? BigInt(rng.int(0, 2 ** 31)) * 1000n : randomTimestamp(rng),
    }));
    return { labels, samples, histograms: [], exemplars: [] };
  });
}

describe('native remote-write 2.0 path', { skip }, () => {
  const withCluster = syntheticPayloads({ requests: 4, series: 2000, withCluster: true });
  const withoutCluster = syntheticPayloads({ requests: 4, series: 2000, withCluster: false });
  const v2 = (raw: Buffer): Buffer => compress(encodeV2Request(v2SeriesOf(decodeWriteRequest(raw))));

  test("takes the bench's requests, with and without the cluster label, as the JS path sends them", () => {
    const scanner = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false)!;
    for (const p of withCluster.payloads)
      assert.ok(agree(scanner, v2(p.raw), L, 'bench-weu-1', 'keep', 'synthetic'), 'a plain 2.0 request must take the native path');
    for (const p of withoutCluster.payloads) {
      const block = v2(p.raw);
      assert.ok(
        agree(scanner, block, L, 'bench-weu-1', 'keep', 'synthetic without cluster'),
        'a plain 2.0 request lacking the cluster label must take the native path',
      );
      // the 1.0 request the relay then forwards: every series with the cluster label
      const sent = decodeWriteRequest(decompressBounded(scanner.scanV2(block)!.rewrittenBlock!, MAX_DECODED));
      assert.ok(sent.timeseries.every((ts) => ts.labels.some((l) => l.name === 'cluster' && l.value === 'bench-weu-1')));
      // compressed about as well as the snappy package does (the request goes upstream as it is)
      const fresh = compress(decompressBounded(scanner.scanV2(block)!.rewrittenBlock!, MAX_DECODED)).length;
      assert.ok(scanner.scanV2(block)!.rewrittenBlock!.length < fresh * 1.1, `native block larger than the snappy package's ${fresh}`);
    }
  });

  test('the captures converted to 2.0: taken where plain, the same bytes as the JS path', () => {
    const scanner = createFastScanner(L, MAX_DECODED, 'capture-test', true)!;
    let taken = 0;
    const fixtures = loadFixtures().slice(0, 60);
    for (const f of fixtures) {
      // as Prometheus 3 sends them: each series with its family's metadata
      const req = decodeWriteRequest(decompressBounded(f.body, MAX_DECODED));
      if (agree(scanner, compress(encodeV2Request(v2SeriesOf(req))), L, 'capture-test', 'overwrite', f.name)) taken++;
    }
    assert.ok(taken > fixtures.length / 2, `only ${taken} of ${fixtures.length} captures took the native path`);
  });

  test('metadata: one 1.0 entry per family, as the JS path writes it', () => {
    const scanner = createFastScanner(L, MAX_DECODED, 'c1', false)!;
    const series = (name: string, extra: Record<string, string>, type: number, help: string): V2Series => ({
      labels: [{ name: '__name__', value: name }, ...Object.entries(extra).map(([n, v]) => ({ name: n, value: v }))],
      samples: [{ value: 0n, timestamp: 1n }],
      histograms: [],
      exemplars: [],
      metadata: { type, help, unit: type === MetricType.GAUGE ? 'bytes' : '' },
    });
    const block = compress(
      encodeV2Request([
        series('req_seconds_bucket', { le: '0.5' }, MetricType.HISTOGRAM, 'Request time.'),
        series('req_seconds_bucket', { le: '+Inf' }, MetricType.HISTOGRAM, 'Request time.'),
        series('req_seconds_count', {}, MetricType.HISTOGRAM, 'Request time.'),
        series('rpc_quantile_sum', {}, MetricType.SUMMARY, 'RPC time.'),
        series('mem', { zone: 'a' }, MetricType.GAUGE, 'Memory.'),
        series('mem', { zone: 'b' }, MetricType.GAUGE, 'Other help: the first series speaks for the family.'),
        series('jobs_count', {}, MetricType.COUNTER, 'A counter keeps its _count.'),
        series('plain', {}, 0, ''),
      ]),
    );
    assert.ok(agree(scanner, block, L, 'c1', 'keep', 'families'), 'series with metadata take the native path');
    const sent = decodeWriteRequest(decompressBounded(scanner.scanV2(block)!.rewrittenBlock!, MAX_DECODED));
    assert.deepEqual(
      sent.metadata.map((m) => [m.metricFamilyName, m.type, m.help, m.unit]),
      [
        ['req_seconds', MetricType.HISTOGRAM, 'Request time.', ''],
        ['rpc_quantile', MetricType.SUMMARY, 'RPC time.', ''],
        ['mem', MetricType.GAUGE, 'Memory.', 'bytes'],
        ['jobs_count', MetricType.COUNTER, 'A counter keeps its _count.', ''],
      ],
    );
  });

  test('with an allocator the block is written into the Buffer it hands out (the relay leases it)', () => {
    const given: Buffer[] = [];
    const leased = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false, true, (n) => {
      const b = Buffer.alloc(n, 0xee);
      given.push(b);
      return b;
    })!;
    const plain = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false)!;
    const block = v2(withoutCluster.payloads[0].raw);
    const got = leased.scanV2(block)!.rewrittenBlock!;
    assert.equal(got, given.at(-1), "the allocator's own Buffer comes back");
    assert.deepEqual(got, plain.scanV2(block)!.rewrittenBlock);
    const failing = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false, true, () => {
      throw new Error('pool exhausted');
    })!;
    assert.throws(() => failing.scanV2(block), /pool exhausted/);
  });

  test('defers what the JS path must decide or word', () => {
    const scanner = createFastScanner(L, MAX_DECODED, undefined, false)!;
    const up = [
      { name: '__name__', value: 'up' },
      { name: 'job', value: 'a' },
    ];
    const s = (extra: Partial<V2Series> = {}, labels = up): V2Series => ({
      labels,
      samples: [{ value: 0n, timestamp: 1n }],
      histograms: [],
      exemplars: [],
      ...extra,
    });
    const defers = (what: string, raw: Buffer, sc = scanner): void => assert.equal(sc.scanV2(compress(raw)), undefined, what);
    assert.ok(scanner.scanV2(compress(encodeV2Request([s()]))), 'the plain series itself is taken');
    defers('symbols[0] not empty', encodeV2Request([s()], { symbols: ['x', ''] }));
    defers('unsorted labels', encodeV2Request([s({}, [up[1], up[0]])]));
    defers('duplicate label name', encodeV2Request([s({}, [...up, { name: 'job', value: 'b' }])]));
    defers('empty label value', encodeV2Request([s({}, [...up, { name: 'zone', value: '' }])]));
    defers('no metric name', encodeV2Request([s({}, [{ name: 'job', value: 'a' }])]));
    defers('no labels', encodeV2Request([s({}, [])]));
    defers('non-ASCII value', encodeV2Request([s({}, [up[0], { name: 'job', value: 'é' }])]));
    defers('bad label name', encodeV2Request([s({}, [up[0], { name: 'jo-b', value: 'a' }])]));
    defers('bad metric name', encodeV2Request([s({}, [{ name: '__name__', value: 'u p' }])]));
    defers('non-ASCII help (UTF-8 checks: the JS path)', encodeV2Request([s({ metadata: { type: 1, help: 'é', unit: '' } })]));
    defers('a start timestamp (dropped by the translation)', encodeV2Request([s({ samples: [{ value: 0n, timestamp: 1n, startTimestamp: 0n }] })]));
    defers('a series without samples', encodeV2Request([s({ samples: [] })]));
    defers('an exemplar', encodeV2Request([s({ exemplars: [{ labels: [], value: 0n, timestamp: 1n }] })]));
    defers('symbols only', encodeV2Request([]));
    defers(
      'a 1.0 body sent as 2.0',
      encodeWriteRequest({ timeseries: [{ labels: up, samples: [{ value: 0n, timestamp: 1n }], exemplars: [], histograms: [] }], metadata: [] }),
    );
    // one long value referenced by three series: a 2.0 body of ~350 bytes, ~1 070 spelt out as 1.0
    const long = ['a', 'b', 'c'].map((v) => s({}, [up[0], { name: 'job', value: v }, { name: 'path', value: 'p'.repeat(300) }]));
    assert.ok(createFastScanner(L, 2000, undefined, false)!.scanV2(compress(encodeV2Request(long))), 'under MAX_DECODED_BYTES');
    defers('over MAX_DECODED_BYTES once spelt out', encodeV2Request(long), createFastScanner(L, 700, undefined, false));
    defers('over the label limit', encodeV2Request([s()]), createFastScanner({ ...L, maxLabelsPerSeries: 1 }, MAX_DECODED, undefined, false));
    defers('no room for the cluster label', encodeV2Request([s()]), createFastScanner({ ...L, maxLabelsPerSeries: 2 }, MAX_DECODED, 'c1', false));
    defers(
      'another cluster under reject/overwrite',
      encodeV2Request([s({}, [up[0], { name: 'cluster', value: 'c2' }])]),
      createFastScanner(L, MAX_DECODED, 'c1', true),
    );
    const byteCheck = createFastScanner(L, MAX_DECODED, undefined, false)!;
    assert.equal(byteCheck.scanV2(Buffer.from([0x05, 0x10, 0x22, 0x00, 0x2a, 0x00])), undefined, 'a malformed snappy block');
  });

  test('worker threads each get their own buffers (symbols, families, output): the same blocks side by side', async () => {
    // with and without the cluster label, one with metadata: every buffer of translateV2 in use
    const bodies = [...withoutCluster.payloads.slice(0, 2), ...withCluster.payloads.slice(0, 1)].map((p) => v2(p.raw));
    const fixture = decodeWriteRequest(decompressBounded(loadFixtures()[0].body, MAX_DECODED));
    bodies.push(compress(encodeV2Request(v2SeriesOf(fixture))));
    await sameBlocksInThreads('scanV2', bodies, L, MAX_DECODED, 15);
  });

  test('never takes what the JS path refuses, never sends other bytes: random and mutated requests', () => {
    const rng = new Rng(20261204);
    const { check, taken, cases } = underEveryPolicy(L, MAX_DECODED, agree);
    for (let i = 0; i < 300; i++) {
      const req = randomWriteRequest(rng, { maxMetadata: rng.chance(0.7) ? 0 : 2, clusterProbability: 0.5 });
      for (const ts of req.timeseries) if (rng.chance(0.5)) ts.labels = ts.labels.map((l) => (l.name === 'cluster' ? { ...l, value: 'c1' } : l));
      const raw = encodeV2Request(v2SeriesOf(req, rng.chance(0.2) ? 1n : undefined), { unpackedRefs: rng.chance(0.2) });
      check(compress(raw), `random ${i}`);
      check(compress(mutate(rng, raw)), `random ${i}, mutated before compression`);
      check(mutate(rng, compress(raw)), `random ${i}, mutated after compression`);
    }
    for (let i = 0; i < 800; i++) {
      const raw = encodeV2Request(plainSeries(rng), { unpackedRefs: rng.chance(0.2) });
      check(compress(raw), `plain ${i}`);
      check(compress(mutate(rng, raw)), `plain ${i}, mutated before compression`);
      check(mutate(rng, compress(raw)), `plain ${i}, mutated after compression`);
    }
    const bases = withCluster.payloads.map((p) => encodeV2Request(v2SeriesOf(decodeWriteRequest(p.raw))));
    for (let i = 0; i < 200; i++) check(compress(mutate(rng, bases[i % bases.length])), `mutated bench request ${i}`);
    assert.ok(taken() > cases() / 10, `the native path took only ${taken()} of ${cases()} cases: the comparison proves little`);
  });
});
