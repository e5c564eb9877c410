// Remote-write 2.0 in: one pass over a decompressed io.prometheus.write.v2.Request
// (prompb/io/prometheus/write/v2/types.proto, spec 2.0-rc.4) that checks 2.0's own
// rules and writes the equivalent prometheus.WriteRequest (1.0) wire bytes, so that
// everything after intake (1.0 validation, cluster label, tenants, quotas, splitting,
// spool, fan-out) is the 1.0 path unchanged. Azure's ingestion endpoint is documented
// for 1.0 only, so 2.0 never leaves the relay.
//
// Mapping (1.0 cannot carry the rest; docs/relay.md lists it):
//   labels_refs → Label{name, value} (an empty value is left out, as 1.0 encoders do)
//   Sample{value, timestamp}        → copied byte for byte; start_timestamp (3) dropped
//   Histogram fields 1-16           → copied byte for byte (same numbers in 1.0);
//                                     start_timestamp (17) dropped
//   Exemplar{labels_refs, value, ts} → Exemplar{labels, value, ts}
//   TimeSeries.metadata             → one MetricMetadata per metric family
//   TimeSeries.created_timestamp (6, the drafts before rc.4) → tolerated, dropped
// Values are copied as bytes, never read as numbers: stale markers stay bit-exact.

import { HttpError } from '../errors';
import { compareRanges, equalsBytes } from './bytes';
import { formatSeries } from './format';
import {
  type Cursor,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  WireError,
  readLenEnd,
  readTag,
  readVarint,
  skipField,
  skipVarint,
  varintSize,
  writeVarint,
} from './wire';

/** What a 2.0 request holds, answered as X-Prometheus-Remote-Write-*-Written. */
export interface WrittenCounts {
  samples: number;
  histograms: number;
  exemplars: number;
}

export interface V2Translation {
  /** the equivalent prometheus.WriteRequest, uncompressed */
  request: Buffer;
  counts: WrittenCounts;
}

export const V2_PROTO = 'io.prometheus.write.v2.Request';

const NAME = Buffer.from('__name__');
// 1.0 metadata names the metric family: a classic histogram's or summary's series
// (foo_bucket, foo_sum, foo_count) carry 2.0 metadata each, 1.0 wants it once for foo.
const FAMILY_SUFFIX = /_(bucket|sum|count|created)$/;
const TYPE_HISTOGRAM = 3;
const TYPE_GAUGEHISTOGRAM = 4;
const TYPE_SUMMARY = 5;

// Reused across requests (one request is translated at a time: no await inside).
let symStart: Int32Array = new Int32Array(1024);
let symEnd: Int32Array = new Int32Array(1024);
let refs = new Uint32Array(256);
// The output is written into `out` and handed over as it is (no copy of the request): each
// request starts a fresh one, sized from the previous request's translation.
const FIRST_SIZE = 64 * 1024;
let nextSize = FIRST_SIZE;
let out = Buffer.allocUnsafe(0);
let pos = 0;
let limit = 0;
let src: Buffer = out;
let nsym = 0;
const c: Cursor = { pos: 0 };
// the cursor inside a sample, histogram or exemplar (c stays on the series)
const sc: Cursor = { pos: 0 };

/**
 * Translates a decompressed 2.0 request to 1.0 wire bytes. Throws HttpError 400
 * naming the rule and the series, or 413 when the translation (labels spelt out in
 * full) would be over maxBytes.
 */
export function translateV2Request(buf: Buffer, maxBytes: number): V2Translation {
  src = buf;
  limit = maxBytes;
  out = Buffer.allocUnsafe(Math.max(1, Math.min(nextSize, maxBytes)));
  pos = 0;
  nsym = 0;
  const counts: WrittenCounts = { samples: 0, histograms: 0, exemplars: 0 };
  const series: number[] = [];
  const end = buf.length;
  c.pos = 0;
  try {
    while (c.pos < end) {
      const tag = readTag(buf, c, end);
      const field = tag >>> 3;
      if (field === 4 || field === 5) {
        if ((tag & 7) !== WIRE_LEN) throw new WireError(`Request.${field === 4 ? 'symbols' : 'timeseries'} has the wrong wire type`);
        const e = readLenEnd(buf, c, end);
        if (field === 4) addSymbol(c.pos, e);
        else series.push(c.pos, e);
        c.pos = e;
      } else {
        skipField(buf, c, end, tag & 7);
      }
    }
    // Fields 1-3 are reserved in 2.0 so that a 1.0 body read as 2.0 is empty: refused, never a 2xx that stored nothing
    if (nsym === 0 && series.length === 0 && end > 0) {
      throw new HttpError(
        400,
        'bad_protobuf',
        'io.prometheus.write.v2.Request holds no symbols and no timeseries, only unknown fields (a remote-write 1.0 body sent as 2.0?)',
      );
    }
    if (nsym > 0 && symEnd[0] !== symStart[0]) {
      throw new HttpError(
        400,
        'bad_protobuf',
        `symbols[0] must be the empty string (remote-write 2.0), it is ${JSON.stringify(buf.toString('utf8', symStart[0], Math.min(symEnd[0], symStart[0] + 64)))}`,
      );
    }
    const families = new Map<string, Meta>();
    for (let i = 0; i < series.length; i += 2) translateSeries(series[i], series[i + 1], i / 2, counts, families);
    for (const [family, meta] of families) writeMetadata(family, meta);
    nextSize = Math.max(FIRST_SIZE, pos + (pos >>> 3));
    return { request: out.subarray(0, pos), counts };
  } catch (err) {
    if (err instanceof WireError) throw new HttpError(400, 'bad_protobuf', `malformed protobuf io.prometheus.write.v2.Request: ${err.message}`);
    throw err;
  } finally {
    // keep neither the caller's buffer nor the request handed over
    src = out = Buffer.allocUnsafe(0);
  }
}

function addSymbol(s: number, e: number): void {
  if (nsym === symStart.length) {
    symStart = grow32(symStart);
    symEnd = grow32(symEnd);
  }
  symStart[nsym] = s;
  symEnd[nsym++] = e;
}

function grow32(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** A metric family's 2.0 metadata, its strings as symbol references. */
interface Meta {
  type: number;
  help: number;
  unit: number;
}

function translateSeries(start: number, end: number, index: number, counts: WrittenCounts, families: Map<string, Meta>): void {
  let nrefs = 0;
  let samples = 0;
  let histograms = 0;
  let exemplars = 0;
  let metaType = 0;
  let metaHelp = 0;
  let metaUnit = 0;
  let hasMeta = false;
  // first pass: label references, what the series holds, its metadata
  c.pos = start;
  while (c.pos < end) {
    const tag = readTag(src, c, end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1) {
      if (wire === WIRE_LEN) {
        const e = readLenEnd(src, c, end);
        // one-byte references (the first 128 symbols) read inline: most of a request's refs
        let p = c.pos;
        while (p < e) {
          const b = src[p];
          if (b < 0x80 && nrefs < refs.length) {
            refs[nrefs++] = b;
            p++;
          } else {
            c.pos = p;
            nrefs = pushRef(nrefs, readVarint(src, c, e));
            p = c.pos;
          }
        }
        c.pos = e;
      } else if (wire === WIRE_VARINT) {
        nrefs = pushRef(nrefs, readVarint(src, c, end));
      } else {
        throw new WireError('TimeSeries.labels_refs has the wrong wire type');
      }
    } else if (field >= 2 && field <= 5) {
      if (wire !== WIRE_LEN) throw new WireError(`TimeSeries field ${field} has the wrong wire type`);
      const e = readLenEnd(src, c, end);
      if (field === 2) samples++;
      else if (field === 3) histograms++;
      else if (field === 4) exemplars++;
      else {
        hasMeta = true;
        // Metadata { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
        while (c.pos < e) {
          const t = readTag(src, c, e);
          const f = t >>> 3;
          if (f === 1 || f === 3 || f === 4) {
            if ((t & 7) !== WIRE_VARINT) throw new WireError(`Metadata field ${f} has the wrong wire type`);
            const v = readVarint(src, c, e);
            if (f === 1) metaType = v;
            else if (f === 3) metaHelp = v;
            else metaUnit = v;
          } else {
            skipField(src, c, e, t & 7);
          }
        }
      }
      c.pos = e;
    } else if (field === 6) {
      // created_timestamp of the drafts before rc.4: 1.0 has no place for it
      if (wire !== WIRE_VARINT) throw new WireError('TimeSeries.created_timestamp has the wrong wire type');
      skipVarint(src, c, end);
    } else {
      skipField(src, c, end, wire);
    }
  }

  if (nrefs % 2 !== 0) fail(`labels_refs has an odd number (${nrefs}) of references`, nrefs, index);
  let nameRef = -1;
  for (let i = 0; i < nrefs; i++) {
    if (refs[i] >= nsym) fail(`label reference ${refs[i]} is out of range (the request has ${nsym} symbols)`, nrefs, index);
  }
  for (let i = 0; i < nrefs; i += 2) {
    const n = refs[i];
    if (equalsBytes(src, symStart[n], symEnd[n], NAME)) nameRef = refs[i + 1];
    if (i === 0) continue;
    const p = refs[i - 2];
    const order = compareRanges(src, symStart[p], symEnd[p], src, symStart[n], symEnd[n]);
    if (order === 0) fail(`duplicate label name "${src.toString('utf8', symStart[n], Math.min(symEnd[n], symStart[n] + 64))}"`, nrefs, index);
    if (order > 0) fail('labels are not sorted by name (remote-write 2.0 requires it)', nrefs, index);
  }
  if (samples > 0 && histograms > 0) fail('series has both samples and histograms (remote-write 2.0: one TimeSeries each)', nrefs, index);
  if (hasMeta) {
    if (metaHelp >= nsym || metaUnit >= nsym)
      fail(`metadata reference ${Math.max(metaHelp, metaUnit)} is out of range (the request has ${nsym} symbols)`, nrefs, index);
    if (nameRef >= 0 && (metaType !== 0 || metaHelp !== 0 || metaUnit !== 0)) noteFamily(families, nameRef, metaType, metaHelp, metaUnit);
  }
  counts.samples += samples;
  counts.histograms += histograms;
  counts.exemplars += exemplars;
  // a series carrying only metadata has nothing for a 1.0 TimeSeries: its metadata goes out alone
  if (samples + histograms + exemplars === 0) return;

  // second pass: the 1.0 TimeSeries
  ensure(6);
  out[pos++] = 0x0a; // WriteRequest.timeseries = 1
  const lenAt = pos;
  pos += 5; // room for the longest length varint; moved down once the length is known
  writeLabels(nrefs);
  c.pos = start;
  while (c.pos < end) {
    const tag = readTag(src, c, end);
    const field = tag >>> 3;
    if (field < 2 || field > 4) {
      skipField(src, c, end, tag & 7);
      continue;
    }
    const e = readLenEnd(src, c, end);
    if (field === 2) copySample(c.pos, e);
    else if (field === 3) copyHistogram(c.pos, e);
    else copyExemplar(c.pos, e, nrefs, index);
    c.pos = e;
  }
  closeLen(lenAt, 5);
}

function pushRef(n: number, ref: number): number {
  if (n === refs.length) {
    const b = new Uint32Array(refs.length * 2);
    b.set(refs);
    refs = b;
  }
  refs[n] = ref > 0xffffffff ? 0xffffffff : ref;
  return n + 1;
}

function noteFamily(families: Map<string, Meta>, nameRef: number, type: number, help: number, unit: number): void {
  let family = src.toString('utf8', symStart[nameRef], symEnd[nameRef]);
  if (type === TYPE_HISTOGRAM || type === TYPE_GAUGEHISTOGRAM || type === TYPE_SUMMARY) family = family.replace(FAMILY_SUFFIX, '');
  // the first series of a family speaks for it (Prometheus sends the same metadata on each)
  if (!families.has(family)) families.set(family, { type, help, unit });
}

// ---- writing 1.0 ----

function ensure(n: number): void {
  const need = pos + n;
  if (need > limit) {
    throw new HttpError(
      413,
      'decoded_too_large',
      `the remote-write 2.0 request spelt out as 1.0 (every label reference replaced by its string) is over MAX_DECODED_BYTES=${limit}`,
    );
  }
  if (need <= out.length) return;
  const next = Buffer.allocUnsafe(Math.min(Math.max(need, out.length * 2), Math.max(limit, need)));
  out.copy(next, 0, 0, pos);
  out = next;
}

/** Ends a length-delimited field whose `reserved` length bytes start at lenAt. */
function closeLen(lenAt: number, reserved: number): void {
  const payload = pos - lenAt - reserved;
  const size = varintSize(payload);
  if (size > reserved) ensure(size - reserved);
  if (size !== reserved) out.copyWithin(lenAt + size, lenAt + reserved, pos);
  writeVarint(out, lenAt, payload);
  pos -= reserved - size;
}

function writeString(tag: number, s: number, e: number): void {
  if (e === s) return;
  ensure(6 + e - s);
  pos = putString(out, pos, tag, s, e);
}

function writeLabel(tag: number, name: number, value: number): void {
  ensure(22 + (symEnd[name] - symStart[name]) + (symEnd[value] - symStart[value]));
  pos = putLabel(out, pos, tag, name, value);
}

/** A series' labels: room made once, then written with local variables (the hot loop). */
function writeLabels(nrefs: number): void {
  let need = 0;
  for (let i = 0; i < nrefs; i++) need += 11 + symEnd[refs[i]] - symStart[refs[i]];
  ensure(need);
  const o = out;
  let p = pos;
  for (let i = 0; i < nrefs; i += 2) p = putLabel(o, p, 0x0a, refs[i], refs[i + 1]);
  pos = p;
}

/** Label{name, value} as field `tag` at p (room already made); empty strings left out. */
function putLabel(o: Buffer, p: number, tag: number, name: number, value: number): number {
  const ns = symStart[name];
  const ne = symEnd[name];
  const vs = symStart[value];
  const ve = symEnd[value];
  const nl = ne - ns;
  const vl = ve - vs;
  const payload = (nl > 0 ? 1 + (nl < 0x80 ? 1 : varintSize(nl)) + nl : 0) + (vl > 0 ? 1 + (vl < 0x80 ? 1 : varintSize(vl)) + vl : 0);
  o[p++] = tag;
  p = payload < 0x80 ? ((o[p] = payload), p + 1) : writeVarint(o, p, payload);
  if (nl > 0) p = putString(o, p, 0x0a, ns, ne);
  if (vl > 0) p = putString(o, p, 0x12, vs, ve);
  return p;
}

function putString(o: Buffer, p: number, tag: number, s: number, e: number): number {
  const n = e - s;
  o[p++] = tag;
  p = n < 0x80 ? ((o[p] = n), p + 1) : writeVarint(o, p, n);
  if (n < 48) {
    const b = src;
    for (let i = s; i < e; i++) o[p++] = b[i];
    return p;
  }
  src.copy(o, p, s, e);
  return p + n;
}

/** Copies [s, e) of the source (short ranges by hand: a native copy costs more). */
function copyRange(s: number, e: number): void {
  ensure(e - s);
  if (e - s < 48) {
    for (let i = s; i < e; i++) out[pos++] = src[i];
  } else {
    src.copy(out, pos, s, e);
    pos += e - s;
  }
}

// Sample { double value = 1; int64 timestamp = 2; int64 start_timestamp = 3; }
function copySample(start: number, end: number): void {
  // the usual Sample: value then timestamp, maybe a start timestamp after them
  const b = src;
  if (b[start] === 0x09 && start + 10 < end && b[start + 9] === 0x10) {
    let q = start + 10;
    while (q < end && b[q] >= 0x80) q++;
    q++;
    let rest = q;
    if (rest < end && b[rest] === 0x18) {
      rest++;
      while (rest < end && b[rest] >= 0x80) rest++;
      rest++;
    }
    // (a longer varint than int64's 10 bytes takes the general path, which refuses it)
    if (rest === end && q - start <= 20 && rest - q <= 11) {
      ensure(2 + q - start);
      const o = out;
      let p = pos;
      o[p++] = 0x12; // TimeSeries.samples = 2
      o[p++] = q - start;
      for (let i = start; i < q; i++) o[p++] = b[i];
      pos = p;
      return;
    }
  }
  ensure(6);
  out[pos++] = 0x12; // TimeSeries.samples = 2
  const lenAt = pos;
  pos += 1; // a Sample is at most 20 bytes: one length byte, unless padded with unknown fields
  sc.pos = start;
  while (sc.pos < end) {
    const from = sc.pos;
    const tag = readTag(src, sc, end);
    if (tag === 0x09 || tag === 0x10) {
      skipField(src, sc, end, tag & 7);
      copyRange(from, sc.pos);
    } else {
      if (tag !== 0x18 && tag >>> 3 <= 3) throw new WireError('Sample field has the wrong wire type');
      skipField(src, sc, end, tag & 7);
    }
  }
  closeLen(lenAt, 1);
}

// Histogram: fields 1-16 have the same numbers and types in 1.0 (prompb.Histogram) and are
// checked there (schema.ts); start_timestamp (17) and unknown fields stay behind.
function copyHistogram(start: number, end: number): void {
  ensure(6);
  out[pos++] = 0x22; // TimeSeries.histograms = 4
  const lenAt = pos;
  pos += 5;
  sc.pos = start;
  while (sc.pos < end) {
    const from = sc.pos;
    const tag = readTag(src, sc, end);
    const field = tag >>> 3;
    if (field === 17 && (tag & 7) !== WIRE_VARINT) throw new WireError('Histogram.start_timestamp has the wrong wire type');
    skipField(src, sc, end, tag & 7);
    if (field <= 16) copyRange(from, sc.pos);
  }
  closeLen(lenAt, 5);
}

// Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
function copyExemplar(start: number, end: number, seriesRefs: number, index: number): void {
  ensure(6);
  out[pos++] = 0x1a; // TimeSeries.exemplars = 3
  const lenAt = pos;
  pos += 5;
  sc.pos = start;
  let pending = -1; // a name reference waiting for its value
  const label = (ref: number): void => {
    if (ref >= nsym) fail(`exemplar label reference ${ref} is out of range (the request has ${nsym} symbols)`, seriesRefs, index);
    if (pending < 0) {
      pending = ref;
    } else {
      writeLabel(0x0a, pending, ref);
      pending = -1;
    }
  };
  while (sc.pos < end) {
    const from = sc.pos;
    const tag = readTag(src, sc, end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) {
      const e = readLenEnd(src, sc, end);
      while (sc.pos < e) label(readVarint(src, sc, e));
    } else if (field === 1 && wire === WIRE_VARINT) {
      label(readVarint(src, sc, end));
    } else if ((field === 2 && wire === WIRE_FIXED64) || (field === 3 && wire === WIRE_VARINT)) {
      skipField(src, sc, end, wire);
      copyRange(from, sc.pos);
    } else {
      if (field <= 3) throw new WireError(`Exemplar field ${field} has the wrong wire type`);
      skipField(src, sc, end, wire);
    }
  }
  if (pending >= 0) fail('exemplar labels_refs has an odd number of references', seriesRefs, index);
  closeLen(lenAt, 5);
}

// MetricMetadata { type = 1; metric_family_name = 2; help = 4; unit = 5; }
function writeMetadata(family: string, meta: Meta): void {
  const name = Buffer.from(family, 'utf8');
  ensure(16 + name.length);
  out[pos++] = 0x1a; // WriteRequest.metadata = 3
  const lenAt = pos;
  pos += 5;
  if (meta.type !== 0) {
    out[pos++] = 0x08;
    pos = writeVarint(out, pos, meta.type);
  }
  if (name.length > 0) {
    out[pos++] = 0x12;
    pos = writeVarint(out, pos, name.length);
    name.copy(out, pos);
    pos += name.length;
  }
  writeString(0x22, symStart[meta.help], symEnd[meta.help]);
  writeString(0x2a, symStart[meta.unit], symEnd[meta.unit]);
  closeLen(lenAt, 5);
}

/** 400 naming the series: its in-range labels spelt out as a 1.0 series for formatSeries. */
function fail(what: string, nrefs: number, index: number): never {
  const parts: Buffer[] = [];
  for (let i = 0; i + 1 < nrefs; i += 2) {
    const n = refs[i];
    const v = refs[i + 1];
    if (n >= nsym || v >= nsym) continue;
    const name = src.subarray(symStart[n], symEnd[n]);
    const value = src.subarray(symStart[v], symEnd[v]);
    const label = Buffer.concat([lenPrefixed(0x0a, name), lenPrefixed(0x12, value)]);
    parts.push(lenPrefixed(0x0a, label));
  }
  const labels = Buffer.concat(parts);
  throw new HttpError(400, 'bad_protobuf', `${what}: series #${index} ${formatSeries(labels, 0, labels.length)}`);
}

function lenPrefixed(tag: number, payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(1 + varintSize(payload.length));
  head[0] = tag;
  writeVarint(head, 1, payload.length);
  return Buffer.concat([head, payload]);
}

export const NOTHING_WRITTEN: Readonly<WrittenCounts> = { samples: 0, histograms: 0, exemplars: 0 };

/** What a validated request holds, as Written counts: a 2.0 request's after relabel rules or series limits dropped some of it. */
export function writtenOf(scan: WrittenCounts): WrittenCounts {
  return { samples: scan.samples, histograms: scan.histograms, exemplars: scan.exemplars };
}

/** The response headers remote-write 2.0 requires of a receiver, on every answer. */
export function writtenHeaders(counts: Readonly<WrittenCounts>): Record<string, string> {
  return {
    'x-prometheus-remote-write-samples-written': String(counts.samples),
    'x-prometheus-remote-write-histograms-written': String(counts.histograms),
    'x-prometheus-remote-write-exemplars-written': String(counts.exemplars),
  };
}
