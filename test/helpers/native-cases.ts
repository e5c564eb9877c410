// What the native fast path's tests (native.test.ts, native-v2.test.ts, relabel/native-around.test.ts)
// share: requests of the fast path's shape, byte mutations at the edges of the wire format, and the four cluster configurations each
// block is compared under.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { type FastScan, type FastScanner, createFastScanner } from '../../shared/remote-write/native';
import { rewriteLabels } from '../../shared/remote-write/rewrite';
import { type ForeignClusterPolicy, type SeriesLimits, validateWriteRequest } from '../../shared/remote-write/validate';
import { type Rng, randomTimestamp } from '../../dev/kit/random-write-request';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';

/** One to four flipped, replaced or deleted bytes; `tags` are the bytes worth planting (field tags, varint edges). */
export function mutate(rng: Rng, buf: Buffer, tags: readonly number[]): Buffer {
  const b = Buffer.from(buf);
  const n = rng.int(1, 4);
  for (let i = 0; i < n && b.length > 0; i++) {
    const at = rng.int(0, b.length - 1);
    const how = rng.int(0, 3);
    if (how === 0) b[at] ^= 1 << rng.int(0, 7);
    else if (how === 1) b[at] = rng.int(0, 255);
    else if (how === 2) b[at] = tags[rng.int(0, tags.length - 1)];
    else return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  }
  return b;
}

export type Agree = (
  scanner: FastScanner,
  block: Buffer,
  limits: SeriesLimits,
  cluster: string | undefined,
  policy: ForeignClusterPolicy,
  what: string,
) => boolean;

/**
 * Checks each block with `agree` under no cluster, and cluster "c1" kept, enforced by
 * rejection and by overwriting; counts the cases and how many native took.
 */
export function underEveryPolicy(
  limits: SeriesLimits,
  maxDecoded: number,
  agree: Agree,
): { check(block: Buffer, what: string): void; taken(): number; cases(): number } {
  const configs: Array<[string | undefined, ForeignClusterPolicy]> = [
    [undefined, 'keep'],
    ['c1', 'keep'],
    ['c1', 'reject'],
    ['c1', 'overwrite'],
  ];
  const scanners = configs.map(([c, p]) => createFastScanner(limits, maxDecoded, c, p !== 'keep')!);
  let taken = 0;
  let cases = 0;
  return {
    check(block, what) {
      for (let k = 0; k < configs.length; k++) {
        cases++;
        if (agree(scanners[k], block, limits, configs[k][0], configs[k][1], what)) taken++;
      }
    },
    taken: () => taken,
    cases: () => cases,
  };
}

/** What the JS validator counted, as a fast scan reports it. */
export interface Counted {
  series: number;
  samples: number;
  minTime: number;
  maxTime: number;
}

/** The native scan's counts are the JS path's. */
export function assertSameCounts(fast: FastScan, js: Counted, what: string): void {
  assert.deepEqual(
    [fast.series, fast.samples, fast.minTime, fast.maxTime],
    [js.series, js.samples, js.minTime, js.maxTime],
    `${what}: series, samples, oldest and newest sample time`,
  );
}

/** What the JS path makes of a decompressed 1.0 request (throws where it refuses): its counts, and the request rewritten if it rewrites it. */
export function viaJsValidation(
  raw: Buffer,
  limits: SeriesLimits,
  cluster: string | undefined,
  policy: ForeignClusterPolicy,
): Counted & { onlyMissingCluster: boolean; rewritten?: Buffer } {
  const r = validateWriteRequest(raw, limits, cluster, policy);
  const rewrite = r.unsorted + r.missingCluster + r.foreignCluster > 0;
  const rewritten = rewrite ? rewriteLabels(raw, { cluster, overwriteCluster: policy === 'overwrite' }) : undefined;
  return {
    series: r.series,
    samples: r.samples + r.histograms,
    minTime: r.minTime,
    maxTime: r.maxTime,
    onlyMissingCluster: r.unsorted + r.foreignCluster === 0,
    rewritten,
  };
}

/**
 * Two worker threads and this one each run `method` ('scan' or 'scanV2', cluster
 * "bench-weu-1") over every body `rounds` times, interleaved: every thread must get the same
 * block for each body (the native buffers are per thread). Resolves once both workers agree.
 */
export async function sameBlocksInThreads(
  method: 'scan' | 'scanV2',
  bodies: readonly Buffer[],
  limits: SeriesLimits,
  maxDecoded: number,
  rounds: number,
): Promise<void> {
  const scanner = createFastScanner(limits, maxDecoded, 'bench-weu-1', false)!;
  const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const expected = bodies.map((b) => hash(scanner[method](b)!.rewrittenBlock!));
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { createHash } = require('node:crypto');
    const { createFastScanner } = require(workerData.native);
    const s = createFastScanner(workerData.limits, workerData.max, 'bench-weu-1', false);
    const seen = new Set();
    for (let round = 0; round < workerData.rounds; round++)
      workerData.bodies.forEach((b, i) => seen.add(i + ':' + createHash('sha256').update(s[workerData.method](Buffer.from(b)).rewrittenBlock).digest('hex')));
    parentPort.postMessage([...seen]);`;
  const run = (): Promise<string[]> =>
    new Promise((ok, fail) => {
      const w = new Worker(source, {
        eval: true,
        workerData: { native: require.resolve('../../shared/remote-write/native'), limits, max: maxDecoded, bodies, rounds, method },
      });
      w.once('message', ok);
      w.once('error', fail);
    });
  const pending = [run(), run()];
  for (let round = 0; round < rounds; round++) bodies.forEach((b, i) => assert.equal(hash(scanner[method](b)!.rewrittenBlock!), expected[i]));
  for (const seen of await Promise.all(pending)) assert.deepEqual(seen.sort(), expected.map((x, i) => `${i}:${x}`).sort());
}

/** Requests of the fast path's own shape (ASCII, sorted, canonical), to mutate at its edges. */
export function plainRequest(rng: Rng): Buffer {
  const pick = (alphabet: string, lo: number, hi: number): string => {
    let out = '';
    for (let i = rng.int(lo, hi); i > 0; i--) out += alphabet[rng.int(0, alphabet.length - 1)];
    return out;
  };
  const timeseries = Array.from({ length: rng.int(1, 12) }, () => {
    const names = new Set<string>();
    for (let i = rng.int(0, 9); i > 0; i--) names.add(pick('abcdefghijklmnopqrstuvwxyz_', 1, 12));
    if (rng.chance(0.6)) names.add('cluster');
    const labels = [
      { name: '__name__', value: pick('abcdefghijklmnopqrstuvwxyz_:', 1, 40) },
      ...[...names].map((name) => ({ name, value: name === 'cluster' && rng.chance(0.7) ? 'c1' : pick(' !#%+-./0123456789:=ABCXYZabcxyz~', 1, 30) })),
    ];
    labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const samples = Array.from({ length: rng.int(1, 3) }, () => ({
      value: BigInt(rng.int(0, 2 ** 31)) << 20n,
      timestamp: rng.chance(0.8) ? BigInt(rng.int(0, 2 ** 31)) * 1000n : randomTimestamp(rng),
    }));
    return { labels, samples, exemplars: [], histograms: [] };
  });
  return encodeWriteRequest({ timeseries, metadata: [] });
}
