// Splits a WriteRequest by series into `shards` WriteRequests, each series always into the
// same one (a hash of its label bytes), so that lanes sending the parts concurrently each
// keep their series' samples in order, as Prometheus's shards do. Optionally drops samples
// older than a cut-off (Azure drops them silently past its 20-minute window).
//
// Series that need no change are copied as raw byte ranges; only a series that loses
// samples is re-encoded (its other fields copied as they are). The walk is done in C when
// the native module is loaded (native/fastpath.c `partition`), else here; both give the
// same bytes (test/remote-write/partition.test.ts).

import { type Cursor, WireError, readLenEnd, readTag, skipField, varintSize, writeVarint } from './wire';
import { decompress } from './snappy';
import { fieldInt64 } from './count';
import { nativeBinding } from './native';

export interface Partitioned {
  /** one uncompressed WriteRequest per shard (length 0 when empty); parts may share one backing buffer */
  parts: Buffer[];
  /** samples + histograms per part */
  samples: number[];
  /** oldest / newest sample time per part (+Infinity / -Infinity when it has none) */
  minTime: number[];
  maxTime: number[];
  /** samples and histograms removed as older than opts.minTime */
  droppedTooOld: number;
}

export interface PartitionOptions {
  /** drop samples and histograms whose timestamp (ms) is below this; a series left with none is dropped whole */
  minTime?: number;
  /** use the native walk when the module is loaded (default true; false as under NATIVE_FAST_PATH=off) */
  native?: boolean;
  /**
   * Where the parts go when they are not `raw` itself: alloc(n) returns a Buffer of exactly
   * n bytes (a pool's lease, say) which the parts then view; default a fresh Buffer. It
   * must not call partitionBySeries.
   */
  alloc?: (length: number) => Buffer;
  /**
   * The part of each series by its index among the request's series (metadata still goes
   * to part 0), instead of its hash: how the forwarder splits a record whose series it
   * already placed (series-owners.ts). RangeError if too short or naming a part >= shards.
   */
  assign?: Uint8Array;
}

/** Oldest and newest sample time of a request, with its sample count. */
export interface SampleTimeRange {
  /** ms since the epoch; +Infinity when the request holds no samples or histograms */
  minTime: number;
  /** -Infinity when none */
  maxTime: number;
  /** samples + histograms */
  samples: number;
}

/**
 * The sample time range of an already validated WriteRequest, as validateWriteRequest
 * reports it (every sample's and histogram's timestamp, exemplars not counted), for
 * records spooled before the spool kept it: the partitioner's walk with one part, which
 * returns the request itself (no copy).
 */
export function sampleTimeRange(raw: Buffer, opts: { native?: boolean } = {}): SampleTimeRange {
  const r = partitionBySeries(raw, 1, opts);
  return { minTime: r.minTime[0], maxTime: r.maxTime[0], samples: r.samples[0] };
}

/** Most shards a request is split into. */
export const MAX_SHARDS = 65_536;

/**
 * The shard of a series: hashLabels(its label fields' bytes) % shards. The label fields
 * are the series' field-1 entries, tag and length included, in order; a canonical series
 * has them first and together (any others are hashed concatenated, so the value depends
 * only on those bytes).
 */
export function seriesShard(labelBytes: Buffer, shards: number): number {
  return hashLabels(labelBytes, new DataView(labelBytes.buffer, labelBytes.byteOffset, labelBytes.length), 0, labelBytes.length) % shards;
}

/**
 * Splits `raw` (a valid uncompressed remote-write 1.0 WriteRequest, as validated and
 * spooled) by series. Metadata and unknown top-level fields go to part 0. shards = 1
 * without minTime returns `raw` itself; so does any split that leaves everything in one
 * part. Throws WireError on malformed input.
 */
export function partitionBySeries(raw: Buffer, shards: number, opts: PartitionOptions = {}): Partitioned {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new RangeError(`shards must be an integer in [1, ${MAX_SHARDS}], not ${shards}`);
  const minTime = opts.minTime ?? -Infinity;
  const alloc = opts.alloc ?? Buffer.allocUnsafe;
  // both walks keep per-call state in module-level (JS) or thread-local (C) arrays
  if (busy) throw new Error('partitionBySeries called from its own alloc');
  busy = true;
  try {
    const b = opts.native === false ? undefined : nativeBinding();
    if (b !== undefined) {
      const r = partitionNative(b.partition, raw, shards, minTime, alloc, opts.assign);
      if (r !== undefined) return r;
    }
    return partitionJs(raw, shards, minTime, alloc, opts.assign);
  } finally {
    busy = false;
  }
}

let busy = false;

let nativeOut = new Float64Array(4 * 8 + 2);

type NativePartition = (
  raw: Buffer,
  shards: number,
  minTime: number,
  out: Float64Array,
  alloc: (length: number) => Buffer,
  assign?: Uint8Array,
) => boolean | Buffer;

function partitionNative(
  partition: NativePartition,
  raw: Buffer,
  shards: number,
  minTime: number,
  alloc: (length: number) => Buffer,
  assign: Uint8Array | undefined,
): Partitioned | undefined {
  if (nativeOut.length < 4 * shards + 2) nativeOut = new Float64Array(4 * shards + 2);
  const out = nativeOut;
  const r = partition(raw, shards, minTime, out, alloc, assign);
  if (r === false) return undefined; // malformed: the JS walk says how
  const parts = new Array<Buffer>(shards);
  const samples = new Array<number>(shards);
  const mins = new Array<number>(shards);
  const maxs = new Array<number>(shards);
  let at = 0;
  for (let k = 0; k < shards; k++) {
    samples[k] = out[k];
    mins[k] = out[shards + k];
    maxs[k] = out[2 * shards + k];
    if (r === true) {
      parts[k] = k === out[4 * shards + 1] ? raw : raw.subarray(0, 0);
    } else {
      const size = out[3 * shards + k];
      parts[k] = r.subarray(at, at + size);
      at += size;
    }
  }
  return { parts, samples, minTime: mins, maxTime: maxs, droppedTooOld: out[4 * shards] };
}

// ---- the label hash (kept identical in native/fastpath.c `hash_labels`) ----

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, P1);
  return (h << 15) | (h >>> 17);
}

/**
 * 32-bit hash of buf[s, e): four independent lanes over 16-byte blocks (little-endian
 * words), the last block overlapping the one before when the length is not a multiple of
 * 16 (under 16 bytes: the bytes zero-padded into at most four words), the lanes folded and
 * finished with murmur3's fmix32. Lanes, not one chain: the multiplies of one block do not
 * wait on each other. `dv` is a view of exactly `buf`.
 */
export function hashLabels(buf: Buffer, dv: DataView, s: number, e: number): number {
  const n = e - s;
  let h1 = 0x27d4eb2f ^ n;
  let h2 = 0x165667b1;
  let h3 = 0xc2b2ae3d;
  let h4 = 0x61c88647;
  if (n >= 16) {
    let i = s;
    for (; i + 16 <= e; i += 16) {
      h1 = mix(h1, dv.getUint32(i, true));
      h2 = mix(h2, dv.getUint32(i + 4, true));
      h3 = mix(h3, dv.getUint32(i + 8, true));
      h4 = mix(h4, dv.getUint32(i + 12, true));
    }
    if (i < e) {
      h1 = mix(h1, dv.getUint32(e - 16, true));
      h2 = mix(h2, dv.getUint32(e - 12, true));
      h3 = mix(h3, dv.getUint32(e - 8, true));
      h4 = mix(h4, dv.getUint32(e - 4, true));
    }
  } else {
    let i = s;
    let lane = 0;
    while (i < e) {
      let w = 0;
      for (let k = 0; k < 4 && i < e; k++, i++) w |= buf[i] << (8 * k);
      if (lane === 0) h1 = mix(h1, w);
      else if (lane === 1) h2 = mix(h2, w);
      else if (lane === 2) h3 = mix(h3, w);
      else h4 = mix(h4, w);
      lane++;
    }
  }
  let h = h1 ^ ((h2 << 8) | (h2 >>> 24)) ^ ((h3 << 16) | (h3 >>> 16)) ^ ((h4 << 24) | (h4 >>> 8));
  h ^= h >>> 16;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---- the JS walk ----

// Per top-level entry of the request being split (reused): its byte range, its part, and
// for a series that loses samples its new payload length (-1: copied as it is).
let eStart = new Int32Array(1024);
let eEnd = new Int32Array(1024);
let ePart = new Int32Array(1024);
let eNewLen = new Int32Array(1024);

function growEntries(): void {
  const g = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
    const b = new Int32Array(a.length * 2);
    b.set(a);
    return b;
  };
  eStart = g(eStart);
  eEnd = g(eEnd);
  ePart = g(ePart);
  eNewLen = g(eNewLen);
}

/** A sample's timestamp: the canonical `09 <8 bytes> 10 <varint>` read directly, anything else field by field. */
function sampleTime(buf: Buffer, s: number, e: number): number {
  if (buf[s] === 0x09 && buf[s + 9] === 0x10 && e - s <= 17) {
    let p = s + 10;
    let v = 0;
    let mul = 1;
    let b = 0x80;
    while (p < e && b >= 0x80) {
      b = buf[p++];
      v += (b & 0x7f) * mul;
      mul *= 128;
    }
    if (b < 0x80 && p === e) return v;
  }
  return fieldInt64(buf, s, e, 0x10);
}

const sc: Cursor = { pos: 0 };

function partitionJs(raw: Buffer, shards: number, minTime: number, alloc: (length: number) => Buffer, assign: Uint8Array | undefined): Partitioned {
  const end = raw.length;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const sizes = new Array<number>(shards).fill(0);
  const samples = new Array<number>(shards).fill(0);
  const mins = new Array<number>(shards).fill(Infinity);
  const maxs = new Array<number>(shards).fill(-Infinity);
  const filter = minTime > -Infinity;
  const hashing = shards > 1;
  let seriesIndex = 0;
  let dropped = 0;
  let n = 0;
  let pos = 0;
  while (pos < end) {
    const begin = pos;
    let part = 0;
    let newLen = -1;
    let tag = raw[pos];
    if (tag < 0x80) pos++;
    else {
      sc.pos = pos;
      tag = readTag(raw, sc, end);
      pos = sc.pos;
    }
    if (tag !== 0x0a) {
      sc.pos = pos;
      skipField(raw, sc, end, tag & 7);
      pos = sc.pos;
    } else {
      sc.pos = pos;
      const tsEnd = readLenEnd(raw, sc, end);
      const start = sc.pos;
      // the leading run of label fields, then the rest
      let p = start;
      while (p < tsEnd && raw[p] === 0x0a) {
        const l = raw[p + 1];
        if (l < 0x80) p += 2 + l;
        else {
          sc.pos = p + 1;
          p = readLenEnd(raw, sc, tsEnd);
        }
      }
      const labelsEnd = p;
      let moreLabels = false;
      let kept = 0;
      let lost = 0;
      let lostBytes = 0;
      let tMin = Infinity;
      let tMax = -Infinity;
      while (p < tsEnd) {
        const f = p;
        sc.pos = p;
        const t = readTag(raw, sc, tsEnd);
        if (t === 0x12 || t === 0x22) {
          const fe = readLenEnd(raw, sc, tsEnd);
          const ts = t === 0x12 ? sampleTime(raw, sc.pos, fe) : fieldInt64(raw, sc.pos, fe, 0x78);
          if (filter && ts < minTime) {
            lost++;
            lostBytes += fe - f;
          } else {
            kept++;
            if (ts < tMin) tMin = ts;
            if (ts > tMax) tMax = ts;
          }
          p = fe;
        } else {
          if (t === 0x0a) moreLabels = true;
          skipField(raw, sc, tsEnd, t & 7);
          p = sc.pos;
        }
      }
      pos = tsEnd;
      if (assign !== undefined) {
        part = assign[seriesIndex++];
        if (!(part < shards)) throw new RangeError('partitionBySeries: assign has no part below shards for a series');
      } else if (hashing) {
        part = moreLabels ? hashLabelFields(raw, start, tsEnd) % shards : hashLabels(raw, dv, start, labelsEnd) % shards;
      }
      if (lost > 0) {
        dropped += lost;
        if (kept === 0) continue; // nothing left: the series goes, exemplars and all
        newLen = tsEnd - start - lostBytes;
      }
      samples[part] += kept;
      if (tMin < mins[part]) mins[part] = tMin;
      if (tMax > maxs[part]) maxs[part] = tMax;
    }
    if (n === eStart.length) growEntries();
    eStart[n] = begin;
    eEnd[n] = pos;
    ePart[n] = part;
    eNewLen[n] = newLen;
    sizes[part] += newLen < 0 ? pos - begin : 1 + varintSize(newLen) + newLen;
    n++;
  }

  // Everything in one part, unchanged: the request itself.
  let used = 0;
  let only = 0;
  for (let k = 0; k < shards; k++) {
    if (sizes[k] > 0) {
      used++;
      only = k;
    }
  }
  const parts = new Array<Buffer>(shards);
  if (dropped === 0 && used <= 1) {
    const empty = raw.subarray(0, 0);
    for (let k = 0; k < shards; k++) parts[k] = k === only ? raw : empty;
    return { parts, samples, minTime: mins, maxTime: maxs, droppedTooOld: dropped };
  }

  let total = 0;
  const offsets = new Array<number>(shards);
  for (let k = 0; k < shards; k++) {
    offsets[k] = total;
    total += sizes[k];
  }
  const out = alloc(total);
  if (out.length !== total) throw new TypeError('partitionBySeries: alloc(n) must return a Buffer of n bytes');
  for (let k = 0; k < shards; k++) parts[k] = out.subarray(offsets[k], offsets[k] + sizes[k]);
  for (let i = 0; i < n; i++) {
    const part = ePart[i];
    let at = offsets[part];
    if (eNewLen[i] < 0) {
      // a run of untouched, adjacent entries for the same part (no dropped series between): one copy
      let j = i;
      while (j + 1 < n && ePart[j + 1] === part && eNewLen[j + 1] < 0 && eStart[j + 1] === eEnd[j]) j++;
      at += raw.copy(out, at, eStart[i], eEnd[j]);
      i = j;
    } else {
      at = writeFiltered(raw, eStart[i], eEnd[i], eNewLen[i], minTime, out, at);
    }
    offsets[part] = at;
  }
  return { parts, samples, minTime: mins, maxTime: maxs, droppedTooOld: dropped };
}

/** Writes the series field raw[begin, end) without its samples and histograms older than minTime. */
function writeFiltered(raw: Buffer, begin: number, end: number, newLen: number, minTime: number, out: Buffer, at: number): number {
  sc.pos = begin;
  readTag(raw, sc, end);
  readLenEnd(raw, sc, end);
  out[at++] = 0x0a;
  at = writeVarint(out, at, newLen);
  let p = sc.pos;
  let run = p; // start of the bytes not yet copied
  while (p < end) {
    const f = p;
    sc.pos = p;
    const t = readTag(raw, sc, end);
    if (t === 0x12 || t === 0x22) {
      const fe = readLenEnd(raw, sc, end);
      const ts = t === 0x12 ? sampleTime(raw, sc.pos, fe) : fieldInt64(raw, sc.pos, fe, 0x78);
      if (ts < minTime) {
        at += raw.copy(out, at, run, f);
        run = fe;
      }
      p = fe;
    } else {
      skipField(raw, sc, end, t & 7);
      p = sc.pos;
    }
  }
  return at + raw.copy(out, at, run, end);
}

// ---- series hashes, for routing whole records ----

let hashesOut = new Uint32Array(4096);

/**
 * The hash partitionBySeries shards each series of a snappy-compressed WriteRequest by,
 * in order (a view on a reused array: valid until the next call); undefined when the block
 * is not snappy or the request is malformed. Decompresses into reused native memory when
 * the module is loaded (nothing for the GC), else decompresses and walks in JS.
 */
export function seriesHashes(block: Buffer, opts: { native?: boolean } = {}): Uint32Array | undefined {
  const b = opts.native === false ? undefined : nativeBinding();
  if (b !== undefined) {
    let n = b.seriesHashes(block, hashesOut);
    if (n === false) return undefined;
    if (n > hashesOut.length) {
      hashesOut = new Uint32Array(n);
      n = b.seriesHashes(block, hashesOut);
      if (n === false) return undefined;
    }
    return hashesOut.subarray(0, n);
  }
  let raw: Buffer;
  try {
    raw = decompress(block);
  } catch {
    return undefined;
  }
  try {
    return seriesHashesJs(raw);
  } catch (err) {
    if (err instanceof WireError) return undefined;
    throw err;
  }
}

function seriesHashesJs(raw: Buffer): Uint32Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const c: Cursor = { pos: 0 };
  let n = 0;
  while (c.pos < raw.length) {
    const tag = readTag(raw, c, raw.length);
    if (tag !== 0x0a) {
      skipField(raw, c, raw.length, tag & 7);
      continue;
    }
    const end = readLenEnd(raw, c, raw.length);
    const start = c.pos;
    let p = start;
    while (p < end && raw[p] === 0x0a) {
      c.pos = p + 1;
      p = readLenEnd(raw, c, end);
    }
    const labelsEnd = p;
    let more = false;
    c.pos = p;
    while (c.pos < end) {
      const t = readTag(raw, c, end);
      if (t === 0x0a) more = true;
      skipField(raw, c, end, t & 7);
    }
    if (n === hashesOut.length) {
      const g = new Uint32Array(2 * n);
      g.set(hashesOut);
      hashesOut = g;
    }
    hashesOut[n++] = more ? hashLabelFields(raw, start, end) : hashLabels(raw, dv, start, labelsEnd);
    c.pos = end;
  }
  return hashesOut.subarray(0, n);
}

/** The hash of a series' label fields gathered (labels not all at its start: rare). */
function hashLabelFields(raw: Buffer, start: number, end: number): number {
  const pieces: Buffer[] = [];
  const c: Cursor = { pos: start };
  while (c.pos < end) {
    const f = c.pos;
    const t = readTag(raw, c, end);
    skipField(raw, c, end, t & 7);
    if (t === 0x0a) pieces.push(raw.subarray(f, c.pos));
  }
  const all = Buffer.concat(pieces);
  return hashLabels(all, new DataView(all.buffer, all.byteOffset, all.length), 0, all.length);
}
