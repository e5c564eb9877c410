// A protobuf message as a tree of fields, for structure-aware mutation: a valid
// WriteRequest is parsed with the remote-write schema's nesting, one node is damaged
// (wire type, field number, a varint's encoding, a length prefix, a string's bytes, a
// duplicated or dropped field…), and the tree is serialised again with every enclosing
// length recomputed, so the damage sits exactly where it was put and nowhere else.

import { type Rng, rawVarint, uvarintBytes } from '../random-write-request';

export type Shape = 'varint' | 'fixed64' | 'len' | 'fixed32';

export interface PbNode {
  /** field number; may be out of range (0, ≥ 2^29) after a mutation */
  field: bigint;
  /** wire type written in the tag (0..7); may disagree with `shape` after a mutation */
  wire: number;
  /** how the value bytes are laid out after the tag */
  shape: Shape;
  /** varint/fixed: the value's bytes; len leaf: the payload */
  bytes: Buffer;
  /** len: a nested message (payload = its serialisation) */
  children?: PbNode[];
  /** written instead of the tag varint (overlong, 11-byte, …) */
  tagBytes?: Buffer;
  /** len: written instead of the length prefix (lies, overlong encodings, …) */
  lenBytes?: Buffer;
  /** schema path, e.g. "timeseries.labels.value", for case names */
  path: string;
  /** the schema says this LEN leaf is a UTF-8 string */
  string?: boolean;
}

interface FieldSpec {
  name: string;
  /** nested message type */
  msg?: string;
  string?: boolean;
}

/** prometheus.WriteRequest and its nested messages (remote.proto / types.proto). */
export const SCHEMA: Readonly<Record<string, Readonly<Record<number, FieldSpec>>>> = {
  WriteRequest: { 1: { name: 'timeseries', msg: 'TimeSeries' }, 3: { name: 'metadata', msg: 'MetricMetadata' } },
  TimeSeries: {
    1: { name: 'labels', msg: 'Label' },
    2: { name: 'samples', msg: 'Sample' },
    3: { name: 'exemplars', msg: 'Exemplar' },
    4: { name: 'histograms', msg: 'Histogram' },
  },
  Label: { 1: { name: 'name', string: true }, 2: { name: 'value', string: true } },
  Sample: { 1: { name: 'value' }, 2: { name: 'timestamp' } },
  Exemplar: { 1: { name: 'labels', msg: 'Label' }, 2: { name: 'value' }, 3: { name: 'timestamp' } },
  Histogram: {
    1: { name: 'count_int' },
    2: { name: 'count_float' },
    3: { name: 'sum' },
    4: { name: 'schema' },
    5: { name: 'zero_threshold' },
    6: { name: 'zero_count_int' },
    7: { name: 'zero_count_float' },
    8: { name: 'negative_spans', msg: 'BucketSpan' },
    9: { name: 'negative_deltas' },
    10: { name: 'negative_counts' },
    11: { name: 'positive_spans', msg: 'BucketSpan' },
    12: { name: 'positive_deltas' },
    13: { name: 'positive_counts' },
    14: { name: 'reset_hint' },
    15: { name: 'timestamp' },
  },
  BucketSpan: { 1: { name: 'offset' }, 2: { name: 'length' } },
  MetricMetadata: {
    1: { name: 'type' },
    2: { name: 'metric_family_name', string: true },
    4: { name: 'help', string: true },
    5: { name: 'unit', string: true },
  },
};

// ---- varints ----

export function varintBytes(v: bigint): Buffer {
  return rawVarint(v);
}

/** Tag bytes for any field number, even beyond 64 bits of tag (never truncated). */
export function tagBytes(field: bigint, wire: number): Buffer {
  return uvarintBytes(field * 8n + BigInt(wire));
}

function readVarintBig(buf: Buffer, pos: number, end: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new Error('truncated varint');
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [v, pos];
    shift += 7n;
  }
  throw new Error('varint over 10 bytes');
}

// ---- parse / serialise ----

/** Parses a valid message of type `msg` (throws on anything malformed: templates must be valid). */
export function parseTree(buf: Buffer, msg = 'WriteRequest', start = 0, end = buf.length, prefix = ''): PbNode[] {
  const nodes: PbNode[] = [];
  const spec = SCHEMA[msg] ?? {};
  let pos = start;
  while (pos < end) {
    const [tag, p1] = readVarintBig(buf, pos, end);
    pos = p1;
    const field = tag >> 3n;
    const wire = Number(tag & 7n);
    const f = spec[Number(field)];
    const path = prefix + (f?.name ?? `#${field}`);
    if (wire === 0) {
      const [, p2] = readVarintBig(buf, pos, end);
      nodes.push({ field, wire, shape: 'varint', bytes: buf.subarray(pos, p2), path });
      pos = p2;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > end) throw new Error('truncated fixed');
      nodes.push({ field, wire, shape: wire === 1 ? 'fixed64' : 'fixed32', bytes: buf.subarray(pos, pos + n), path });
      pos += n;
    } else if (wire === 2) {
      const [len, p2] = readVarintBig(buf, pos, end);
      const e = p2 + Number(len);
      if (e > end) throw new Error('length past end');
      const node: PbNode = { field, wire, shape: 'len', bytes: buf.subarray(p2, e), path };
      if (f?.msg) node.children = parseTree(buf, f.msg, p2, e, `${path}.`);
      if (f?.string) node.string = true;
      nodes.push(node);
      pos = e;
    } else {
      throw new Error(`wire type ${wire} in a template`);
    }
  }
  return nodes;
}

export function serialize(nodes: readonly PbNode[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of nodes) {
    parts.push(n.tagBytes ?? tagBytes(n.field, n.wire));
    if (n.shape === 'len') {
      const payload = n.children ? serialize(n.children) : n.bytes;
      parts.push(n.lenBytes ?? varintBytes(BigInt(payload.length)), payload);
    } else {
      parts.push(n.bytes);
    }
  }
  return Buffer.concat(parts);
}

// ---- walking ----

export interface NodeRef {
  node: PbNode;
  /** the list holding it (a message's fields) */
  siblings: PbNode[];
  index: number;
}

export function allNodes(nodes: PbNode[], out: NodeRef[] = []): NodeRef[] {
  nodes.forEach((node, index) => {
    out.push({ node, siblings: nodes, index });
    if (node.children) allNodes(node.children, out);
  });
  return out;
}

/** Every message body (field list) in the tree, the root included, with its path. */
export function allMessages(root: PbNode[], path = '', out: { fields: PbNode[]; path: string }[] = []): { fields: PbNode[]; path: string }[] {
  out.push({ fields: root, path: path || '(WriteRequest)' });
  for (const n of root) if (n.children) allMessages(n.children, n.path, out);
  return out;
}

// ---- mutations ----

/** Invalid UTF-8 sequences: lone bytes, overlong, surrogates, beyond U+10FFFF, truncated. */
export const INVALID_UTF8: readonly (readonly number[])[] = [
  [0xff],
  [0xfe],
  [0x80], // lone continuation byte
  [0xc0, 0x80], // overlong NUL
  [0xc1, 0xbf], // overlong
  [0xe0, 0x80, 0xaf], // overlong '/'
  [0xed, 0xa0, 0x80], // UTF-16 surrogate U+D800
  [0xed, 0xbf, 0xbf], // U+DFFF
  [0xf4, 0x90, 0x80, 0x80], // U+110000
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
  [0xe2, 0x82], // truncated €
  [0xf0, 0x9f, 0x98], // truncated emoji
  [0xc3], // truncated é
];

/** Field numbers worth trying: 0, the edges of the legal range, 32-bit and wider tags. */
export const ODD_FIELD_NUMBERS: readonly bigint[] = [
  0n,
  (1n << 29n) - 1n, // largest legal: an unknown field
  1n << 29n, // first illegal: tag ≥ 2^32
  (1n << 32n) - 1n,
  1n << 32n,
  (1n << 32n) + 1n, // would alias field 1 under `>>> 3`
  (1n << 32n) + 2n,
  1n << 45n,
  (1n << 50n) + 1n,
  (1n << 61n) - 1n, // tag needs 9 bytes
  1n << 61n, // 10-byte tag
  1n << 64n, // 11-byte tag
];

/** Encodings of varints that readers get wrong. */
export function oddVarint(rng: Rng, value: bigint): { bytes: Buffer; what: string } {
  switch (rng.int(0, 6)) {
    case 0:
      return { bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), what: '11-byte varint' };
    case 1:
      return { bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), what: '10-byte varint over 64 bits' };
    case 2: {
      // overlong: the value padded with continuation bytes and a 0x00 terminator
      const v = varintBytes(value);
      const pad = rng.int(1, 9);
      const b = Buffer.alloc(v.length + pad);
      v.copy(b);
      b[v.length - 1] |= 0x80;
      for (let i = v.length; i < b.length - 1; i++) b[i] = 0x80;
      b[b.length - 1] = 0x00;
      return { bytes: b, what: `overlong varint (+${pad} bytes)` };
    }
    case 3:
      return { bytes: Buffer.alloc(rng.int(12, 40), 0x80), what: 'endless varint' };
    case 4:
      return { bytes: Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), what: '11-byte zero' };
    case 5:
      return { bytes: varintBytes(BigInt.asUintN(64, -BigInt(rng.int(1, 1000)))), what: 'negative as 10-byte varint' };
    default:
      return { bytes: Buffer.from([0x80 | rng.int(0, 0x7f)]), what: 'varint cut after its first byte' };
  }
}

export type MutationOp = 'wire' | 'field' | 'varint' | 'len' | 'utf8' | 'dup' | 'drop' | 'unknown' | 'shuffle' | 'bytes' | 'truncate';

export const MUTATION_OPS: readonly MutationOp[] = ['wire', 'field', 'varint', 'len', 'utf8', 'dup', 'drop', 'unknown', 'shuffle', 'bytes', 'truncate'];

/**
 * Applies one mutation of kind `op` to the tree in place; returns what it did, or
 * undefined when the tree has nothing to apply it to.
 */
export function mutate(rng: Rng, root: PbNode[], op: MutationOp): string | undefined {
  const refs = allNodes(root);
  if (refs.length === 0 && op !== 'unknown') return undefined;
  switch (op) {
    case 'wire': {
      const { node } = rng.pick(refs);
      let w = rng.int(0, 7);
      if (w === node.wire) w = (w + 1 + rng.int(0, 6)) % 8;
      const was = node.wire;
      node.wire = w;
      return `${node.path}: wire type ${was} → ${w}`;
    }
    case 'field': {
      const { node } = rng.pick(refs);
      const f = rng.chance(0.7) ? rng.pick(ODD_FIELD_NUMBERS) : BigInt(rng.int(1, 20));
      const was = node.field;
      node.field = f;
      return `${node.path}: field number ${was} → ${f}`;
    }
    case 'varint': {
      const { node } = rng.pick(refs);
      const where = node.shape === 'varint' ? rng.int(0, 2) : node.shape === 'len' ? rng.pick([0, 2]) : 0;
      if (where === 0) {
        const v = oddVarint(rng, node.field * 8n + BigInt(node.wire));
        node.tagBytes = v.bytes;
        return `${node.path}: tag as ${v.what}`;
      }
      if (where === 1) {
        const v = oddVarint(rng, 1n);
        node.bytes = v.bytes;
        return `${node.path}: value as ${v.what}`;
      }
      const payloadLen = BigInt((node.children ? serialize(node.children) : node.bytes).length);
      const v = oddVarint(rng, payloadLen);
      node.lenBytes = v.bytes;
      return `${node.path}: length as ${v.what}`;
    }
    case 'len': {
      const lens = refs.filter((r) => r.node.shape === 'len');
      if (lens.length === 0) return undefined;
      const { node } = rng.pick(lens);
      const actual = BigInt((node.children ? serialize(node.children) : node.bytes).length);
      const delta = rng.pick([-3n, -2n, -1n, 1n, 2n, 3n, 100n, 65_536n, 1n << 31n, 1n << 32n, (1n << 53n) + 1n, 1n << 56n]);
      const lie = actual + delta < 0n ? 0n : actual + delta;
      node.lenBytes = varintBytes(lie);
      return `${node.path}: length ${actual} declared as ${lie}`;
    }
    case 'utf8': {
      const strings = refs.filter((r) => r.node.string);
      if (strings.length === 0) return undefined;
      const { node } = rng.pick(strings);
      const bad = Buffer.from(rng.pick(INVALID_UTF8));
      const at = rng.int(0, node.bytes.length);
      node.bytes = Buffer.concat([node.bytes.subarray(0, at), bad, node.bytes.subarray(at)]);
      return `${node.path}: invalid UTF-8 ${bad.toString('hex')} at ${at}`;
    }
    case 'dup': {
      const { node, siblings, index } = rng.pick(refs);
      siblings.splice(index + rng.int(0, siblings.length - index), 0, structuredCloneNode(node));
      return `${node.path}: duplicated`;
    }
    case 'drop': {
      const { node, siblings, index } = rng.pick(refs);
      siblings.splice(index, 1);
      return `${node.path}: dropped`;
    }
    case 'unknown': {
      const msgs = allMessages(root);
      const m = rng.pick(msgs);
      const u = unknownField(rng);
      m.fields.splice(rng.int(0, m.fields.length), 0, u.node);
      return `${m.path}: ${u.what}`;
    }
    case 'shuffle': {
      const msgs = allMessages(root).filter((m) => m.fields.length > 1);
      if (msgs.length === 0) return undefined;
      const m = rng.pick(msgs);
      rng.shuffle(m.fields);
      return `${m.path}: fields shuffled`;
    }
    case 'bytes': {
      const leaves = refs.filter((r) => !r.node.children && r.node.bytes.length > 0);
      if (leaves.length === 0) return undefined;
      const { node } = rng.pick(leaves);
      const b = Buffer.from(node.bytes);
      const n = rng.int(1, 3);
      for (let i = 0; i < n; i++) b[rng.int(0, b.length - 1)] = rng.pick([0x00, 0x01, 0x7f, 0x80, 0xff, rng.int(0, 255)]);
      node.bytes = b;
      return `${node.path}: ${n} byte(s) overwritten`;
    }
    case 'truncate': {
      // cut a message short inside one of its fields: the enclosing lengths follow
      const { node, siblings, index } = rng.pick(refs);
      siblings.length = index + 1;
      const whole = serialize([node]);
      const keep = rng.int(0, whole.length - 1);
      siblings[index] = rawNode(whole.subarray(0, keep), node.path);
      return `${node.path}: cut after ${keep} of ${whole.length} bytes`;
    }
  }
}

/** A node that serialises to exactly these bytes (no tag of its own). */
export function rawNode(bytes: Buffer, path: string): PbNode {
  return { field: 0n, wire: 0, shape: 'varint', bytes, tagBytes: Buffer.alloc(0), path };
}

function structuredCloneNode(n: PbNode): PbNode {
  return { ...n, children: n.children?.map(structuredCloneNode) };
}

/** An unknown field: any wire type, sometimes one no reader can skip (3, 4, 6, 7). */
export function unknownField(rng: Rng): { node: PbNode; what: string } {
  const field = BigInt(rng.pick([5, 6, 16, 99, 1000, 2047, rng.int(16, 0x1fffffff), 0x1fffffff]));
  const wire = rng.pick([0, 1, 2, 5, 0, 2, 3, 4, 6, 7]);
  const path = `#${field}`;
  switch (wire) {
    case 0:
      return { node: { field, wire, shape: 'varint', bytes: varintBytes(rng.u64()), path }, what: `unknown varint field ${field}` };
    case 1:
      return {
        node: { field, wire, shape: 'fixed64', bytes: Buffer.from(rng.u64().toString(16).padStart(16, '0'), 'hex'), path },
        what: `unknown fixed64 field ${field}`,
      };
    case 2: {
      // sometimes a deep chain of nested LEN fields: never recursed into by a skipping reader
      const depth = rng.chance(0.2) ? rng.int(50, 2000) : 0;
      let payload = Buffer.from(`unknown-${rng.u32()}`);
      for (let i = 0; i < depth; i++) payload = Buffer.concat([tagBytes(1n, 2), varintBytes(BigInt(payload.length)), payload]);
      return { node: { field, wire, shape: 'len', bytes: payload, path }, what: `unknown LEN field ${field}${depth ? ` nesting ${depth} deep` : ''}` };
    }
    case 5:
      return { node: { field, wire, shape: 'fixed32', bytes: Buffer.from([1, 2, 3, 4]), path }, what: `unknown fixed32 field ${field}` };
    default:
      return { node: { field, wire, shape: 'varint', bytes: Buffer.from([rng.int(0, 0x7f)]), path }, what: `unknown field ${field} with wire type ${wire}` };
  }
}
