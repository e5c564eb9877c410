// The native fast path (native/fastpath.c), when it was built: `npm ci` compiles it with
// node-gyp (package.json "install"); without a compiler the build is skipped and the JS
// path does everything. It only ever answers "valid, with these counts" (and, when series
// lack the cluster label, the request with it added) for the commonest shape of request,
// or defers: every rejection, and every request off that shape, goes through
// decompressBounded + validateWriteRequest (+ rewriteLabels) as before. Remote-write 2.0
// likewise: translateV2 takes plain series whole (translation, validation, cluster label)
// and defers the rest to translateV2Request + validateWriteRequest (+ rewriteLabels).

import * as path from 'node:path';
import { encodeLabelField } from './rewrite';
import { snappyCanHold, snappyDecodedLength, snappyHeaderBytes } from './snappy';
import { scratchBuffer } from '../buffers/scratch';
import type { WrittenCounts } from './v2';
import type { SeriesLimits } from './validate';

/** The arguments scan(), translateV2() and scanRaw() share (read_request_args in fastpath.c). */
type RequestArgs = [
  block: Buffer,
  maxDecoded: number,
  limits: Uint32Array,
  cluster: Buffer | null,
  enforce: boolean,
  out: Float64Array,
  clusterField: Buffer | null,
  alloc: ((length: number) => Buffer) | undefined,
];

export interface NativeBinding {
  version?: number;
  /** native/fastpath.c partition(): see partition.ts */
  partition(raw: Buffer, shards: number, minTime: number, out: Float64Array, alloc?: (length: number) => Buffer, assign?: Uint8Array): boolean | Buffer;
  /** native/fastpath.c seriesHashes(): see partition.ts */
  seriesHashes(block: Buffer, out: Uint32Array): number | false;
  /** with hashes (and out of 6): the series hashes of a valid request into hashes, their count into out[5] (-1: hashes too small) */
  scan(...args: [...RequestArgs, pack?: boolean, hashes?: Uint32Array]): boolean | Buffer;
  /** native/fastpath.c translateV2(): a 2.0 block to the valid 1.0 request as a snappy block, or false to defer */
  translateV2(...args: RequestArgs): false | Buffer;
  /** native/fastpath.c scanRaw(): a decompressed request (block: the request) checked as scan() checks a block; true (valid, pack false and nothing added), a snappy block of it, or false to defer */
  scanRaw(...args: [...RequestArgs, pack: boolean]): boolean | Buffer;
  /** native/fastpath.c decodeInto(): the block decompressed into dest (its declared length + 32 bytes at least); the length, or -1 */
  decodeInto(block: Buffer, maxDecoded: number, dest: Buffer): number;
  /** native/crc32.c: zlib's crc32(value, data), present only where the CPU has PCLMULQDQ */
  crc32?(data: Buffer, value?: number): number;
}

export interface FastScan {
  series: number;
  samples: number;
  /** length of the request to send, decompressed (the rewritten one when there is one) */
  rawLength: number;
  /** oldest and newest sample time, ms since the epoch, as ScanResult's (+Infinity / -Infinity: none) */
  minTime: number;
  maxTime: number;
  /**
   * Set when the request to send is not the sender's block: series lacked the cluster label
   * (the request with it added, built from the sender's block; it decodes byte for byte to
   * what rewriteLabels returns), or it came as remote-write 2.0 (the 1.0 translation).
   * Unset: forward the block as it came.
   */
  rewrittenBlock?: Buffer;
  /** remote-write 2.0: what the request holds, answered as X-Prometheus-Remote-Write-*-Written */
  written?: WrittenCounts;
  /**
   * When asked for (scan's `withHashes`): each series' hash as seriesHashes() gives it for
   * the request to send, in order. A view on memory the next scan reuses: copy to keep.
   */
  seriesHashes?: Uint32Array;
}

/** Where `npm ci` leaves the compiled module, from dist/shared/remote-write/. */
export const NATIVE_MODULE = path.join(__dirname, '../../../build/Release/fastpath.node');

/** The native module's interface version this code speaks (FASTPATH_VERSION in fastpath.c). */
const VERSION = 7;

let binding: NativeBinding | undefined;
let loadError: string | undefined;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional compiled .node file, found at run time
  const b = require(NATIVE_MODULE) as NativeBinding;
  // a module built from an older fastpath.c (build/ left over from before a pull) would
  // leave fields of `out` unwritten: treat it as absent
  if (b.version === VERSION) binding = b;
  else loadError = `${NATIVE_MODULE} is version ${b.version ?? 1}, this code needs ${VERSION}: rebuild it (npm ci, or npx node-gyp rebuild)`;
} catch (err) {
  loadError = (err as Error).message.split('\n')[0];
}

/** The loaded module, for the other native helpers (partition.ts); undefined when absent. */
export function nativeBinding(): NativeBinding | undefined {
  return binding;
}

/** Whether the native module loaded, and why not. */
export function nativeStatus(): { loaded: boolean; reason?: string } {
  return binding ? { loaded: true } : { loaded: false, reason: loadError };
}

const out = new Float64Array(6);
/** where scan() writes series hashes; grown (for the next call) when a request holds more series */
let hashesOut = new Uint32Array(4096);

/** Reusable arguments for one configuration (limits, cluster, policy). */
export interface FastScanner {
  /** `withHashes`: also each series' hash (FastScan.seriesHashes), unless the request holds more series than the reused array */
  scan(block: Buffer, withHashes?: boolean): FastScan | undefined;
  /** a remote-write 2.0 block: its 1.0 translation, valid, as rewrittenBlock; undefined to defer */
  scanV2(block: Buffer): FastScan | undefined;
  /**
   * A decompressed 1.0 request (what relabel rules left), checked as scan() checks a block:
   * valid, and (when it changed: `pack`, or the cluster label added) compressed natively as
   * rewrittenBlock; unset rewrittenBlock: valid as the sender's block is. undefined to defer.
   */
  scanRaw(raw: Buffer, pack: boolean): FastScan | undefined;
  /**
   * The block decompressed into memory reused from call to call: valid only until the next
   * call (the caller must not keep it, nor anything that views it), undefined when the
   * native decoder refuses it (decompressBounded then words why).
   */
  decompress(block: Buffer): Buffer | undefined;
}

/**
 * A scanner for these rules, or undefined when the native module is not loaded or
 * switched off. `enforce`: the cluster label must carry exactly `cluster` (tenants).
 * `alloc`: where a rewritten block goes (the relay leases it from a pool and gives it
 * back after its fan-out); without it each one is a fresh Buffer.
 */
export function createFastScanner(
  limits: SeriesLimits,
  maxDecodedBytes: number,
  cluster: string | undefined,
  enforce: boolean,
  enabled = true,
  alloc?: (length: number) => Buffer,
): FastScanner | undefined {
  const b = binding;
  if (!b || !enabled) return undefined;
  const lim = Uint32Array.of(limits.maxLabelsPerSeries, limits.maxLabelNameLength, limits.maxLabelValueLength, limits.maxMetricNameLength);
  const clusterBytes = cluster === undefined ? null : Buffer.from(cluster, 'utf8');
  const field = cluster === undefined ? null : encodeLabelField('cluster', cluster);
  return {
    scan(block, withHashes = false) {
      const r = withHashes
        ? b.scan(block, maxDecodedBytes, lim, clusterBytes, enforce, out, field, alloc, false, hashesOut)
        : b.scan(block, maxDecodedBytes, lim, clusterBytes, enforce, out, field, alloc);
      if (r === false) return undefined;
      const fast: FastScan = { series: out[0], samples: out[1], rawLength: out[2], minTime: out[3], maxTime: out[4] };
      if (r !== true) fast.rewrittenBlock = r;
      if (withHashes) {
        if (out[5] >= 0) fast.seriesHashes = hashesOut.subarray(0, out[5]);
        else if (out[0] > hashesOut.length) hashesOut = new Uint32Array(out[0]); // this one goes without
      }
      return fast;
    },
    scanV2(block) {
      const r = b.translateV2(block, maxDecodedBytes, lim, clusterBytes, enforce, out, field, alloc);
      if (r === false) return undefined;
      return {
        series: out[0],
        samples: out[1],
        rawLength: out[2],
        minTime: out[3],
        maxTime: out[4],
        rewrittenBlock: r,
        written: { samples: out[1], histograms: 0, exemplars: 0 },
      };
    },
    scanRaw(raw, pack) {
      const r = b.scanRaw(raw, maxDecodedBytes, lim, clusterBytes, enforce, out, field, alloc, pack);
      if (r === false) return undefined;
      const fast: FastScan = { series: out[0], samples: out[1], rawLength: out[2], minTime: out[3], maxTime: out[4] };
      if (r !== true) fast.rewrittenBlock = r;
      return fast;
    },
    decompress(block) {
      return decodeReused(b, block, maxDecodedBytes);
    },
  };
}

/** The decoder's slack past the decoded length (SLACK in fastpath.c). */
const DECODE_SLACK = 32;
/** A reused buffer grown past this for one large request is dropped after it (RETAIN_MAX in fastpath.c). */
const RETAIN_DECODED = 8 << 20;
// one per thread (each worker loads this module anew)
const decoded = scratchBuffer(RETAIN_DECODED);

function decodeReused(b: NativeBinding, block: Buffer, maxDecodedBytes: number): Buffer | undefined {
  const declared = snappyDecodedLength(block);
  // a header claiming more than snappy can expand to: refused before anything is allocated
  if (declared <= 0 || declared > maxDecodedBytes || !snappyCanHold(block.length - snappyHeaderBytes(block), declared)) return undefined;
  const dest = decoded(declared + DECODE_SLACK);
  const n = b.decodeInto(block, maxDecodedBytes, dest);
  return n < 0 ? undefined : dest.subarray(0, n);
}
