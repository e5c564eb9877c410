// Native histograms end to end: a remote-write 2.0 sender built on the schema
// (dev/kit/v2-request.ts) writes integer and float histograms, exponential schemas
// 0 and 3, to the forwarder; they travel as 1.0 through the relay to the Prometheus store
// (native histograms on), and the buckets read back must equal what was sent.

import { compressSync } from 'snappy';
import { emptyHistogram } from '../shared/remote-write/model/decode';
import { type BucketSpan, type Histogram, bitsToNumber, numberToBits } from '../shared/remote-write/model/types';
import { encodeV2Request } from '../dev/kit/v2-request';
import type { ApiHistogram, PromApi } from './lib/prom-api';
import { http } from './lib/util';
import { sleep } from '../dev/kit/wait';

const NAME = 'e2e_native_histogram';
/** the sender label of the 2.0 test sender's series (the label check allows it beside the real senders) */
export const V2_SENDER = 'e2e-v2';
const POINTS = 3;

/** The two histograms of round k (k = 1 … POINTS): counts grow with k, as a counter's do. */
function histogramsAt(k: number, t: bigint): { shape: string; h: Histogram }[] {
  const K = BigInt(k);
  const integer: Histogram = {
    ...emptyHistogram(),
    schema: 0,
    timestamp: t,
    sum: numberToBits(7.5 * k),
    count: { kind: 'int', value: 11n * K },
    zeroThreshold: numberToBits(0.001),
    zeroCount: { kind: 'int', value: K },
    positiveSpans: [{ offset: 0, length: 3 }],
    positiveDeltas: [2n * K, K, -2n * K], // 2k, 3k, k
    negativeSpans: [{ offset: 0, length: 1 }],
    negativeDeltas: [4n * K],
  };
  const float: Histogram = {
    ...emptyHistogram(),
    schema: 3,
    timestamp: t,
    sum: numberToBits(7.25 * k),
    count: { kind: 'float', bits: numberToBits(3.5 * k) },
    zeroCount: { kind: 'float', bits: numberToBits(0.5 * k) },
    positiveSpans: [
      { offset: 5, length: 2 },
      { offset: 3, length: 1 },
    ],
    positiveCounts: [1, 1.25, 0.25].map((c) => numberToBits(c * k)),
  };
  return [
    { shape: 'integer', h: integer },
    { shape: 'float', h: float },
  ];
}

/** Sends POINTS rounds as 2.0 to the forwarder, 1 s apart: their times, and problems with the answers. */
export async function sendNativeHistograms(forwarderUrl: string, sender: string): Promise<{ times: number[]; problems: string[] }> {
  const problems: string[] = [];
  const times: number[] = [];
  for (let k = 1; k <= POINTS; k++) {
    const t = BigInt(Date.now());
    times.push(Number(t));
    const series = histogramsAt(k, t).map(({ shape, h }) => ({
      labels: [
        { name: '__name__', value: NAME },
        { name: 'sender', value: sender },
        { name: 'shape', value: shape },
      ],
      samples: [],
      histograms: [{ ...h, startTimestamp: t - 60_000n }],
      exemplars: [],
    }));
    const res = await http(`${forwarderUrl}/api/v1/write`, {
      method: 'POST',
      body: compressSync(encodeV2Request(series)),
      headers: {
        'content-encoding': 'snappy',
        'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
        'x-prometheus-remote-write-version': '2.0.0',
      },
      timeoutMs: 10_000,
    });
    const written = res.headers.get('x-prometheus-remote-write-histograms-written');
    if (res.status !== 204 || written !== String(series.length))
      problems.push(
        `2.0 histograms: the forwarder answered ${res.status} with Histograms-Written ${written} (want 204, ${series.length}): ${res.text.slice(0, 200)}`,
      );
    await sleep(1000);
  }
  return { times, problems };
}

/** Every histogram sent (at `times`) must be in the store with its count, sum and buckets. */
export async function checkNativeHistograms(store: PromApi, sender: string, times: readonly number[]): Promise<{ problems: string[]; checked: number }> {
  const problems: string[] = [];
  let checked = 0;
  for (const shape of ['integer', 'float']) {
    for (const [i, t] of times.entries()) {
      const got = await store.histogramsAt(`${NAME}{sender="${sender}",shape="${shape}"}`, t);
      const at = got.find((g) => g.t === t);
      if (!at) {
        problems.push(
          `native histograms: the ${shape} histogram sent at ${new Date(t).toISOString()} is not in ${store.name}${got.length > 0 ? ` (the newest there is from ${new Date(got[0].t).toISOString()})` : ''}`,
        );
        continue;
      }
      const diff = compare(at.h, histogramsAt(i + 1, BigInt(t)).find((x) => x.shape === shape)!.h);
      if (diff) problems.push(`native histograms: ${shape} histogram ${i + 1} in ${store.name}: ${diff}`);
      checked++;
    }
  }
  return { problems, checked };
}

const close = (a: number, b: number): boolean => a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));

function compare(got: ApiHistogram, want: Histogram): string | undefined {
  const count = want.count?.kind === 'int' ? Number(want.count.value) : bitsToNumber(want.count?.kind === 'float' ? want.count.bits : 0n);
  if (Number(got.count) !== count) return `count ${got.count}, sent ${count}`;
  if (Number(got.sum) !== bitsToNumber(want.sum)) return `sum ${got.sum}, sent ${bitsToNumber(want.sum)}`;
  const expected = buckets(want);
  const actual = (got.buckets ?? []).map(([, lo, hi, c]) => [Number(lo), Number(hi), Number(c)]);
  const same = actual.length === expected.length && actual.every((b, i) => b.every((x, j) => close(x, expected[i][j])));
  return same ? undefined : `buckets ${JSON.stringify(actual)}, sent ${JSON.stringify(expected)}`;
}

/** [lower, upper, count] of every bucket as the query API lists them: negative (most negative first), zero, positive. */
function buckets(h: Histogram): number[][] {
  const base = (i: number): number => 2 ** (i * 2 ** -h.schema);
  const side = (spans: BucketSpan[], deltas: bigint[], counts: bigint[] | number[]): [number, number][] => {
    const out: [number, number][] = [];
    let index = 0;
    let n = 0;
    let running = 0n;
    for (const s of spans) {
      index += s.offset;
      for (let j = 0; j < s.length; j++, index++, n++) {
        let c: number;
        if (deltas.length > 0) {
          running += deltas[n];
          c = Number(running);
        } else {
          c = Number(counts[n]);
        }
        if (c !== 0) out.push([index, c]);
      }
    }
    return out;
  };
  const floats = (bits: bigint[]): number[] => bits.map(bitsToNumber);
  const neg = side(h.negativeSpans, h.negativeDeltas, floats(h.negativeCounts))
    .reverse()
    .map(([i, c]) => [-base(i), -base(i - 1), c]);
  const zeroCount = h.zeroCount?.kind === 'int' ? Number(h.zeroCount.value) : bitsToNumber(h.zeroCount?.kind === 'float' ? h.zeroCount.bits : 0n);
  const zt = bitsToNumber(h.zeroThreshold);
  const zero = zeroCount > 0 ? [[-zt, zt, zeroCount]] : [];
  const pos = side(h.positiveSpans, h.positiveDeltas, floats(h.positiveCounts)).map(([i, c]) => [base(i - 1), base(i), c]);
  return [...neg, ...zero, ...pos];
}
