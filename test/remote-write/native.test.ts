// The native fast path (native/fastpath.c) may only ever say "valid" where the JS path
// (decompressBounded + validateWriteRequest) accepts with the same counts, and when it
// adds the cluster label its request must be byte for byte rewriteLabels's; everything
// else it must leave to the JS path. Checked on every capture, the
// bench's synthetic requests, random requests, and tens of thousands of mutated ones.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { syntheticPayloads } from '../../bench/lib/payloads';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type FastScanner, createFastScanner, nativeStatus } from '../../shared/remote-write/native';
import { seriesHashes } from '../../shared/remote-write/partition';
import { rewriteLabels } from '../../shared/remote-write/rewrite';
import { compress, decompressBounded } from '../../shared/remote-write/snappy';
import { AZURE_MONITOR_LIMITS, type ForeignClusterPolicy, type SeriesLimits } from '../../shared/remote-write/validate';
import { Rng, rawFixed64, rawLabel, rawLen, rawSample, rawSeries, rawVarintField, randomWriteRequest } from '../../dev/kit/random-write-request';
import { loadFixtures } from '../../dev/kit/repo';
import { assertSameCounts, mutate as mutateBytes, plainRequest, sameBlocksInThreads, underEveryPolicy, viaJsValidation } from '../helpers/native-cases';

const MAX_DECODED = 32 << 20;
const status = nativeStatus();
// Off a machine with a C compiler and Node's headers the build is skipped and the JS path
// serves alone; CI builds it, so there the tests must run.
const skip = !status.loaded && process.env.CI !== 'true' ? `native fast path not built here (${status.reason})` : false;

type Outcome = { ok: true; series: number; samples: number; minTime: number; maxTime: number; onlyMissingCluster: boolean; sent?: Buffer } | { ok: false };

/** What the JS path makes of a block: accepted or not, and the request it would send if rewritten. */
function viaJs(block: Buffer, limits: SeriesLimits, cluster: string | undefined, policy: ForeignClusterPolicy): Outcome {
  try {
    const { rewritten, ...counted } = viaJsValidation(decompressBounded(block, MAX_DECODED), limits, cluster, policy);
    return { ok: true, ...counted, sent: rewritten };
  } catch {
    return { ok: false };
  }
}

/** Checks the soundness rule on one block; returns whether native took it. */
function agree(scanner: FastScanner, block: Buffer, limits: SeriesLimits, cluster: string | undefined, policy: ForeignClusterPolicy, what: string): boolean {
  const fast = scanner.scan(block);
  if (fast === undefined) return false;
  const js = viaJs(block, limits, cluster, policy);
  assert.ok(js.ok, `${what}: native said valid, the JS path rejects`);
  assertSameCounts(fast, js, what);
  if (fast.rewrittenBlock) {
    assert.ok(js.sent && js.onlyMissingCluster, `${what}: native added the cluster label, the JS path would not (or would do more)`);
    const decoded = decompressBounded(fast.rewrittenBlock, MAX_DECODED);
    assert.ok(decoded.equals(js.sent), `${what}: the native rewrite decodes to other bytes than rewriteLabels returns`);
    assert.equal(fast.rawLength, js.sent.length, `${what}: rewritten length`);
    // every element written stands for at least half its own size (the splice's buffer bound)
    assert.ok(
      fast.rewrittenBlock.length <= 2 * js.sent.length + 16,
      `${what}: spliced block ${fast.rewrittenBlock.length} bytes for ${js.sent.length} decoded`,
    );
  } else {
    assert.equal(js.sent, undefined, `${what}: native said forward as is, the JS path would rewrite`);
    assert.equal(fast.rawLength, decompressBounded(block, MAX_DECODED).length, `${what}: decoded length`);
  }
  assertHashesOfSent(scanner, block, what);
  return true;
}

/**
 * The series hashes scan() gives with the request are those the forwarder's lanes would
 * compute for the request it sends (the rewritten one when the cluster label was added),
 * by the native seriesHashes and by the JS one alike.
 */
function assertHashesOfSent(scanner: FastScanner, block: Buffer, what: string): void {
  const hashed = scanner.scan(block, true)!;
  assert.ok(hashed, `${what}: taken without hashes, deferred with them`);
  if (hashed.seriesHashes === undefined) {
    assert.ok(hashed.series > 4096, `${what}: no hashes for ${hashed.series} series`);
    return;
  }
  const sent = hashed.rewrittenBlock ?? block;
  assert.equal(hashed.seriesHashes.length, hashed.series, `${what}: one hash per series`);
  assert.deepEqual(
    [...hashed.seriesHashes],
    [...seriesHashes(sent, { native: false })!],
    `${what}: hashes differ from the JS seriesHashes of the request sent`,
  );
  assert.deepEqual([...hashed.seriesHashes], [...seriesHashes(sent)!], `${what}: hashes differ from the native seriesHashes`);
}

const mutate = (rng: Rng, buf: Buffer): Buffer => mutateBytes(rng, buf, [0x0a, 0x12, 0x09, 0x10, 0x80, 0x00, 0x7f, 0xff]);

describe('native fast path', { skip }, () => {
  const fixtures = loadFixtures();
  const withCluster = syntheticPayloads({ requests: 8, series: 2000, withCluster: true });
  const withoutCluster = syntheticPayloads({ requests: 8, series: 2000, withCluster: false });
  const L = AZURE_MONITOR_LIMITS;

  test('is built and loaded (CI)', () => {
    assert.ok(status.loaded, `native/fastpath.c did not load: ${status.reason}`);
  });

  test('takes the common request and agrees with the JS path on it', () => {
    const scanner = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false)!;
    for (const p of withCluster.payloads)
      assert.ok(agree(scanner, p.body, L, 'bench-weu-1', 'keep', 'synthetic'), 'a plain request with its cluster label must take the fast path');
    // the synthetic set's k-th request spans t0 + 15 s × k + [0, 14 s]
    withCluster.payloads.forEach((p, k) => {
      const fast = scanner.scan(p.body)!;
      assert.deepEqual([fast.minTime, fast.maxTime], [1_764_000_000_000 + k * 15_000, 1_764_000_000_000 + k * 15_000 + 14_000]);
    });
    // without CLUSTER configured every plain request qualifies, including the captures' series-only ones
    const noCluster = createFastScanner(L, MAX_DECODED, undefined, false)!;
    let taken = 0;
    for (const f of fixtures) if (agree(noCluster, f.body, L, undefined, 'keep', f.name)) taken++;
    assert.ok(taken > fixtures.length / 2, `only ${taken} of ${fixtures.length} captures took the fast path`);
  });

  test('adds a missing cluster label exactly as rewriteLabels does', () => {
    const scanner = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false)!;
    for (const p of withoutCluster.payloads) {
      assert.ok(
        agree(scanner, p.body, L, 'bench-weu-1', 'keep', 'synthetic without cluster'),
        'a plain request without its cluster label must take the fast path',
      );
      const fast = scanner.scan(p.body);
      assert.ok(fast?.rewrittenBlock, 'and come back rewritten');
      // close to a fresh compression of the rewritten request: the sender's copies survive
      const fresh = compress(rewriteLabels(decompressBounded(p.body, MAX_DECODED), { cluster: 'bench-weu-1' })).length;
      assert.ok(fast.rewrittenBlock.length < fresh * 1.25, `spliced ${fast.rewrittenBlock.length} bytes against ${fresh} recompressed`);
    }
    // the captures carry cluster="capture-test": a tenant enforcing that value forwards them as they are
    const tenant = createFastScanner(L, MAX_DECODED, 'capture-test', true)!;
    let taken = 0;
    for (const f of fixtures) if (agree(tenant, f.body, L, 'capture-test', 'overwrite', f.name)) taken++;
    assert.ok(taken > fixtures.length / 2, `only ${taken} of ${fixtures.length} captures took the fast path`);
    const other = createFastScanner(L, MAX_DECODED, 'tenant-a', true)!;
    for (const f of fixtures) assert.equal(other.scan(f.body), undefined, 'another cluster under reject/overwrite is the JS path');
  });

  test('the cluster label added decodes exactly at every request length near the compressor’s edges', () => {
    // The C compressor works in 64 KiB fragments, searches 16 positions at a time and moves
    // literals of up to 16 bytes as one 16-byte copy: requests of every short length, tails of
    // every length before a fragment's end, and incompressible next to repeating label values.
    const rng = new Rng(20261205);
    const scanner = createFastScanner(L, MAX_DECODED, 'c1', false)!;
    const text = (n: number, repeating: boolean): string => {
      let s = '';
      for (let i = 0; i < n; i++) s += repeating ? 'abcab'[i % 5] : String.fromCharCode(rng.int(0x21, 0x7e));
      return s;
    };
    const request = (values: readonly string[]): Buffer =>
      encodeWriteRequest({
        timeseries: values.map((v, i) => ({
          labels: [
            { name: '__name__', value: 'm' },
            { name: 'a', value: v },
          ],
          samples: [{ value: BigInt(rng.int(0, 2 ** 31)) << 20n, timestamp: BigInt(i) }],
          exemplars: [],
          histograms: [],
        })),
        metadata: [],
      });
    let checked = 0;
    for (let n = 1; n <= 200; n++) {
      for (const repeating of [false, true]) {
        assert.ok(agree(scanner, compress(request([text(n, repeating)])), L, 'c1', 'keep', `one value of ${n} bytes`), 'must take the fast path');
        checked++;
      }
    }
    // 600 values of 100-120 bytes (~72 KiB, with the cluster label added): the first
    // fragment's end falls at another place in a series for every extra length
    for (let extra = 0; extra < 120; extra += 3) {
      const values = Array.from({ length: 600 }, (_, i) => text(100 + (i === 0 ? extra : rng.int(0, 20)), rng.chance(0.5)));
      assert.ok(agree(scanner, compress(request(values)), L, 'c1', 'keep', `600 values, first ${100 + extra} bytes`), 'must take the fast path');
      checked++;
    }
    assert.equal(checked, 440);
  });

  test('with an allocator the rewritten block is written into the Buffer it hands out (the relay leases it)', () => {
    const plain = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false)!;
    const given: Buffer[] = [];
    const leased = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false, true, (n) => {
      const b = Buffer.alloc(n, 0xee);
      given.push(b);
      return b;
    })!;
    for (const p of withoutCluster.payloads) {
      const expected = plain.scan(p.body)!.rewrittenBlock!;
      const got = leased.scan(p.body)!.rewrittenBlock!;
      assert.equal(got, given.at(-1), "the allocator's own Buffer comes back");
      assert.deepEqual(got, expected);
    }
    const before = given.length;
    assert.equal(leased.scan(withCluster.payloads[0].body)?.rewrittenBlock, undefined);
    assert.equal(given.length, before, 'nothing is allocated when nothing changes');
    const wrong = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false, true, (n) => Buffer.alloc(n + 1))!;
    assert.throws(() => wrong.scan(withoutCluster.payloads[0].body), /alloc\(n\) must return a Buffer of n bytes/);
    const failing = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false, true, () => {
      throw new Error('pool exhausted');
    })!;
    assert.throws(() => failing.scan(withoutCluster.payloads[0].body), /pool exhausted/);
  });

  test('gives each series’ hash of the request to send, also past the size of its reused array', () => {
    const scanner = createFastScanner(L, MAX_DECODED, 'bench-weu-1', false)!;
    const big = syntheticPayloads({ requests: 1, series: 6000, withCluster: false }).payloads[0].body;
    const first = scanner.scan(big, true)!;
    assert.equal(first.series, 6000);
    assert.equal(first.seriesHashes, undefined, 'more series than the array holds: this one goes without');
    const again = scanner.scan(big, true)!;
    assert.ok(again.rewrittenBlock, 'the cluster label was added');
    assert.deepEqual([...again.seriesHashes!], [...seriesHashes(again.rewrittenBlock)!], 'the array grew: hashes of the rewritten request');
    assert.notDeepEqual([...again.seriesHashes!], [...seriesHashes(big)!], 'not those of the request as it came');
    assert.equal(scanner.scan(big)!.seriesHashes, undefined, 'only when asked');
  });

  test('defers what needs a closer look', () => {
    const enforcing = createFastScanner(L, MAX_DECODED, 'other-cluster', true)!;
    for (const p of withCluster.payloads) assert.equal(enforcing.scan(p.body), undefined, 'another cluster under reject/overwrite is the JS path');
    const tight = createFastScanner({ ...L, maxLabelsPerSeries: 9 }, MAX_DECODED, 'bench-weu-1', false)!;
    assert.equal(tight.scan(withCluster.payloads[0].body), undefined, '10 labels over a limit of 9');
    const small = createFastScanner(L, 1000, 'bench-weu-1', false)!;
    assert.equal(small.scan(withCluster.payloads[0].body), undefined, 'over MAX_DECODED_BYTES');
    const unsorted = encodeWriteRequest({
      timeseries: [
        {
          labels: [
            { name: '__name__', value: 'up' },
            { name: 'job', value: 'a' },
            { name: 'instance', value: 'b' },
          ],
          samples: [{ value: 0n, timestamp: 1n }],
          exemplars: [],
          histograms: [],
        },
      ],
      metadata: [],
    });
    const noName = createFastScanner(L, MAX_DECODED, undefined, false)!;
    assert.equal(noName.scan(compress(unsorted)), undefined, 'unsorted labels');
    for (const [what, labels] of [
      [
        'non-ASCII value',
        [
          { name: '__name__', value: 'up' },
          { name: 'job', value: 'é' },
        ],
      ],
      [
        'bad label name',
        [
          { name: '__name__', value: 'up' },
          { name: 'jo-b', value: 'a' },
        ],
      ],
      ['bad metric name', [{ name: '__name__', value: 'u p' }]],
      ['no metric name', [{ name: 'job', value: 'a' }]],
      [
        'duplicate name',
        [
          { name: '__name__', value: 'up' },
          { name: 'job', value: 'a' },
          { name: 'job', value: 'b' },
        ],
      ],
    ] as const) {
      const raw = encodeWriteRequest({
        timeseries: [{ labels: [...labels], samples: [{ value: 0n, timestamp: 1n }], exemplars: [], histograms: [] }],
        metadata: [],
      });
      assert.equal(noName.scan(compress(raw)), undefined, what);
    }
  });

  test('worker threads each get their own buffers: the same answers side by side', async () => {
    // each worker scans every payload many times, interleaved with the other worker and with this thread
    await sameBlocksInThreads(
      'scan',
      withoutCluster.payloads.map((p) => p.body),
      L,
      MAX_DECODED,
      20,
    );
  });

  test('never says valid where the JS path disagrees: random and mutated requests', () => {
    const rng = new Rng(20261126);
    const { check, taken, cases } = underEveryPolicy(L, MAX_DECODED, agree);
    for (let i = 0; i < 1500; i++) {
      const req = randomWriteRequest(rng, { maxMetadata: rng.chance(0.7) ? 0 : 2, clusterProbability: 0.5 });
      for (const ts of req.timeseries) if (rng.chance(0.5)) ts.labels = ts.labels.map((l) => (l.name === 'cluster' ? { ...l, value: 'c1' } : l));
      const raw = encodeWriteRequest(req);
      check(compress(raw), `random ${i}`);
      check(compress(mutate(rng, raw)), `random ${i}, mutated before compression`);
      check(mutate(rng, compress(raw)), `random ${i}, mutated after compression`);
    }
    for (let i = 0; i < 3000; i++) {
      const raw = plainRequest(rng);
      check(compress(raw), `plain ${i}`);
      check(compress(mutate(rng, raw)), `plain ${i}, mutated before compression`);
      check(mutate(rng, compress(raw)), `plain ${i}, mutated after compression`);
    }
    const bases = [...withCluster.payloads.map((p) => p.raw), ...fixtures.slice(0, 60).map((f) => decompressBounded(f.body, MAX_DECODED))];
    for (let i = 0; i < 1500; i++) {
      const base = bases[i % bases.length];
      check(compress(mutate(rng, base)), `mutated base ${i}`);
      if (i % 5 === 0) check(mutate(rng, compress(base)), `mutated compressed base ${i}`);
    }
    assert.ok(taken() > cases() / 20, `the fast path took only ${taken()} of ${cases()} cases: the comparison proves little`);
  });
});

// The scan's shortcuts (native/fastpath.c): label values checked for ASCII 8 bytes at a
// time, names and metric names met earlier in the request taken from a table of names
// already checked (with their order keys), one-byte lengths and canonical samples read
// without the general walk. Each must give the general walk's verdict: these requests sit
// on their edges, and every one the scan takes is compared with the JS path.
describe('native fast path: the scan’s shortcuts keep its verdicts', { skip }, () => {
  const L = AZURE_MONITOR_LIMITS;
  const series = (labels: ReadonlyArray<readonly [string | Buffer, string | Buffer]>, timestamps: readonly bigint[] = [1000n]): Buffer =>
    rawSeries(...labels.map(([n, v]) => rawLabel(n, v)), ...timestamps.map((t) => rawSample(0n, t)));
  const noCluster = (): FastScanner => createFastScanner(L, MAX_DECODED, undefined, false)!;
  /** taken (and then agreeing with the JS path) or deferred */
  /** what the scanner makes of these raw series (or requests) as one request */
  const scanned = (scanner: FastScanner, ...raw: Buffer[]): ReturnType<FastScanner['scan']> => scanner.scan(compress(Buffer.concat(raw)));
  const verdict = (scanner: FastScanner, raw: Buffer, what: string, cluster?: string): boolean => agree(scanner, compress(raw), L, cluster, 'keep', what);

  test('a non-ASCII byte anywhere in a label value or metric name defers, at every offset in an 8-byte word', () => {
    const s = noCluster();
    const first = series([
      ['__name__', 'up'],
      ['job', 'a'],
    ]);
    for (let n = 1; n <= 40; n++) {
      const plain = Buffer.alloc(n, 'a');
      assert.ok(
        verdict(
          s,
          series([
            ['__name__', 'up'],
            ['job', plain],
          ]),
          `ASCII value of ${n}`,
        ),
        `an ASCII value of ${n} bytes is taken`,
      );
      assert.ok(verdict(s, series([['__name__', plain]]), `metric name of ${n}`), `an ASCII metric name of ${n} bytes is taken`);
      for (let at = 0; at < n; at++) {
        for (const bad of [0x80, 0xc3, 0xff]) {
          const value = Buffer.from(plain);
          value[at] = bad;
          const what = `byte ${bad} at ${at} of ${n}`;
          // alone, and after a series that put the name (and metric name) in the table
          assert.equal(
            scanned(
              s,
              series([
                ['__name__', 'up'],
                ['job', value],
              ]),
            ),
            undefined,
            `value: ${what}`,
          );
          assert.equal(
            scanned(
              s,
              first,
              series([
                ['__name__', 'up'],
                ['job', value],
              ]),
            ),
            undefined,
            `value after a known name: ${what}`,
          );
          assert.equal(scanned(s, series([['__name__', plain]]), series([['__name__', value]])), undefined, `metric name: ${what}`);
        }
      }
    }
  });

  test('a name met before is trusted only when every byte matches: one differing byte is checked anew', () => {
    const s = noCluster();
    // pairs that differ in one byte; the table slot hangs on the length and the first and last
    // four bytes, so a differing middle byte lands on the valid name's own slot
    const pairs: Array<[string, string]> = [
      ['job', 'jo-'],
      ['a_b', 'a-b'],
      ['namespace', 'namespac-'],
      ['abcd_efgh', 'abcd-efgh'],
      ['abcdefgh_ijkl', 'abcdefgh-ijkl'],
      ['x', '-'],
    ];
    for (const [good, bad] of pairs) {
      const before = series([
        ['__name__', 'up'],
        [good, 'v'],
      ]);
      assert.ok(verdict(s, Buffer.concat([before, before]), `${good} twice`), `${good} repeated is taken`);
      assert.equal(
        scanned(
          s,
          before,
          series([
            ['__name__', 'up'],
            [bad, 'v'],
          ]),
        ),
        undefined,
        `label name ${bad} after ${good}`,
      );
      assert.equal(scanned(s, series([['__name__', good]]), series([['__name__', bad]])), undefined, `metric name ${bad} after ${good}`);
      const other = good.slice(0, -1) + (good.endsWith('z') ? 'y' : 'z');
      assert.ok(
        verdict(
          s,
          Buffer.concat([
            before,
            series([
              ['__name__', 'up'],
              [other, 'v'],
            ]),
          ]),
          `${other} after ${good}`,
        ),
        `${other} (valid) is taken`,
      );
    }
    // a metric name may hold ':', a label name may not, though the bytes are the same
    assert.ok(verdict(s, series([['__name__', 'a:b']]), 'a:b as metric name'));
    assert.equal(
      scanned(
        s,
        series([['__name__', 'a:b']]),
        series([
          ['__name__', 'up'],
          ['a:b', 'v'],
        ]),
      ),
      undefined,
      'a:b as label name',
    );
    // (first in its series: nothing before it to order it against)
    assert.equal(
      scanned(
        s,
        series([['__name__', 'A:B']]),
        series([
          ['A:B', 'v'],
          ['__name__', 'up'],
        ]),
      ),
      undefined,
      'A:B as label name',
    );
    // over the name length limit, after the same name within it as a metric name
    const long = 'n'.repeat(L.maxLabelNameLength + 1);
    assert.equal(
      scanned(
        s,
        series([['__name__', long]]),
        series([
          ['__name__', 'up'],
          [long, 'v'],
        ]),
      ),
      undefined,
      'name over the limit',
    );
    assert.equal(
      scanned(
        s,
        series([
          ['__name__', 'up'],
          ['', 'v'],
        ]),
      ),
      undefined,
      'empty name',
    );
    assert.equal(
      scanned(
        s,
        series([
          ['__name__', 'up'],
          ['a', ''],
        ]),
      ),
      undefined,
      'empty value',
    );
  });

  test('label order is checked in full behind repeated names: unsorted and duplicate names defer', () => {
    const s = noCluster();
    const sorted: Array<readonly string[]> = [
      ['ab', 'abc'],
      ['instance', 'instance_x'],
      ['instance_a', 'instance_b'],
      ['abcdefgh', 'abcdefgi'],
      ['a', 'b', 'c'],
    ];
    for (const names of sorted) {
      const labels = (order: readonly string[]): Array<readonly [string, string]> => [['__name__', 'up'], ...order.map((n) => [n, 'v'] as const)];
      const ok = series(labels(names));
      assert.ok(verdict(s, Buffer.concat([ok, ok]), names.join(',')), `${names.join(',')} is taken`);
      const swapped = [...names].reverse();
      const twice = [names[0], ...names];
      for (const [what, order] of [
        ['unsorted', swapped],
        ['duplicate', twice],
        ['duplicate last', [...names, names.at(-1)!]],
      ] as const) {
        // alone, and after a series with the same names in order (all of them in the table)
        assert.equal(scanned(s, series(labels(order))), undefined, `${what}: ${order.join(',')}`);
        assert.equal(scanned(s, ok, series(labels(order))), undefined, `${what} after sorted: ${order.join(',')}`);
      }
    }
  });

  test('the cluster label goes in at the same place whether the names are new or met before', () => {
    const s = createFastScanner(L, MAX_DECODED, 'c1', false)!;
    for (const names of [['clustea', 'clusterz'], ['cluste', 'clustes'], ['cluster_a'], ['a', 'b'], ['zz']]) {
      const one = series([['__name__', 'up'], ...names.map((n) => [n, 'v'] as const)]);
      assert.ok(verdict(s, Buffer.concat([one, one, one]), names.join(','), 'c1'), `${names.join(',')} is taken, and rewritten as rewriteLabels does`);
    }
  });

  test('sample timestamps of every varint length, and what is not a plain sample', () => {
    const s = noCluster();
    const times = [0n, 1n, 127n, 128n, 2n ** 35n, 2n ** 42n, 2n ** 53n - 1n, 2n ** 63n - 1n, -1n, -(2n ** 63n), 1_764_000_000_000n];
    for (const t of times) {
      const raw = series([['__name__', 'up']], [t, 5n]);
      assert.ok(verdict(s, raw, `timestamp ${t}`), `timestamp ${t} is taken`);
      const fast = scanned(s, raw)!;
      assert.deepEqual([fast.minTime, fast.maxTime], [Math.min(Number(t), 5), Math.max(Number(t), 5)]);
    }
    const sample = (...payload: Buffer[]): Buffer => rawSeries(rawLabel('__name__', 'up'), rawLen(2, ...payload));
    const value = rawFixed64(1, 0n);
    const over = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]); // 11 bytes
    assert.equal(scanned(s, sample(value, Buffer.of(0x10), over)), undefined, 'an 11-byte varint');
    assert.equal(scanned(s, sample(value, Buffer.of(0x10, 0x80, 0x80))), undefined, 'a varint cut short at the sample’s end');
    // bits past 64 dropped, as decoders do: a 10th byte of 0x7f
    verdict(s, sample(value, Buffer.of(0x10), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), '10th byte 0x7f');
    // the canonical shape followed by more fields: the general walk (last timestamp wins)
    assert.ok(verdict(s, sample(value, rawVarintField(2, 7n), rawVarintField(2, 9n)), 'two timestamps'));
    assert.deepEqual([scanned(s, sample(value, rawVarintField(2, 7n), rawVarintField(2, 9n)))!.minTime], [9]);
    assert.equal(scanned(s, sample(value, rawVarintField(2, 7n), rawVarintField(3, 1n))), undefined, 'an unknown field after the timestamp');
  });

  test('label lengths around one varint byte, and a length byte that only looks like one', () => {
    const s = noCluster();
    for (const n of [1, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 200, 300]) {
      assert.ok(
        verdict(
          s,
          series([
            ['__name__', 'up'],
            ['v', 'x'.repeat(n)],
          ]),
          `value of ${n}`,
        ),
        `a value of ${n} bytes is taken`,
      );
      assert.ok(
        verdict(
          s,
          series([
            ['__name__', 'up'],
            ['n'.repeat(Math.min(n, L.maxLabelNameLength)), 'v'],
          ]),
          `name of ${n}`,
        ),
      );
    }
    // a field length of two bytes, the second 0x0a (1 280-1 407), then a 9-byte name: the bytes line
    // up with a one-byte-length label's, and only the first length byte's top bit tells them apart
    const roomy = { ...L, maxLabelValueLength: 2048 };
    const wide = createFastScanner(roomy, MAX_DECODED, undefined, false)!;
    const long = series([
      ['__name__', 'up'],
      ['namespace', 'x'.repeat(1300)],
    ]);
    assert.ok(agree(wide, compress(long), roomy, undefined, 'keep', '1 300-byte value'), 'a 1 300-byte value is taken');
    // Label { 0a 01 'a' 12 85 <133 bytes> }: 0x85 counted as one byte would make the value the
    // field's remaining 133 bytes; it is a two-byte length (0x85, 0x01: 133) of 132 bytes left
    const rest = Buffer.concat([Buffer.of(0x01), Buffer.alloc(132, 'x')]);
    const label = rawLen(1, Buffer.of(0x0a, 0x01, 0x61, 0x12, 0x85), rest);
    const raw = rawSeries(rawLabel('__name__', 'up'), label, rawSample(0n, 1n));
    assert.equal(scanned(s, raw), undefined, 'a multi-byte value length');
  });
});
