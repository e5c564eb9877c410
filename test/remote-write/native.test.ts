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
import { Rng, randomWriteRequest } from '../../dev/kit/random-write-request';
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
