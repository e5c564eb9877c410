// rewriteLabels: label sets come out sorted with the cluster label inserted where it
// was missing, and every other byte is carried over untouched. Cross-checked with
// protobufjs and our decoder on random requests and on captured Prometheus traffic.
// Also the bounded snappy decompression in front of it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { HttpError, type RejectReason } from '../../shared/errors';
import { encodeLabelField, planFits, rewriteLabels } from '../../shared/remote-write/rewrite';
import { AZURE_MONITOR_LIMITS, validateForRewrite, validateWriteRequest } from '../../shared/remote-write/validate';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { compress, decompressBounded, snappyDecodedLength } from '../../shared/remote-write/snappy';
import { type Cursor, WIRE_LEN, readLenEnd, readTag, skipField } from '../../shared/remote-write/wire';
import type { Label, WriteRequest } from '../../shared/remote-write/model/types';
import { staleMarkerBits } from '../../shared/remote-write/model/types';
import { canonical, canonicalPb, loadFixtures, referenceCodec } from '../../dev/kit/repo';
import {
  Rng,
  randomWriteRequest,
  rawFixed64,
  rawLabel,
  rawLen,
  rawSample,
  rawSeries,
  rawUnknownFields,
  rawVarint,
  rawVarintField,
  sortLabels,
} from '../../dev/kit/random-write-request';

const LIMITS = AZURE_MONITOR_LIMITS;
const MAX_DECODED = 64 * 1024 * 1024;

/** What the rewrite should produce, as a materialised request. */
function expectedRewrite(req: WriteRequest, cluster: string | undefined): WriteRequest {
  return {
    timeseries: req.timeseries.map((ts) => {
      const labels: Label[] = [...ts.labels];
      if (cluster !== undefined && !labels.some((l) => l.name === 'cluster')) labels.push({ name: 'cluster', value: cluster });
      return { ...ts, labels: sortLabels(labels) };
    }),
    metadata: req.metadata,
  };
}

interface RawField {
  field: number;
  /** the whole field: tag, length prefix (if any) and value */
  bytes: Buffer;
  /** LEN payload (empty for other wire types) */
  payload: Buffer;
}

function splitFields(buf: Buffer): RawField[] {
  const fields: RawField[] = [];
  const c: Cursor = { pos: 0 };
  while (c.pos < buf.length) {
    const start = c.pos;
    const tag = readTag(buf, c, buf.length);
    let payload = buf.subarray(0, 0);
    if ((tag & 7) === WIRE_LEN) {
      const e = readLenEnd(buf, c, buf.length);
      payload = buf.subarray(c.pos, e);
      c.pos = e;
    } else {
      skipField(buf, c, buf.length, tag & 7);
    }
    fields.push({ field: tag >>> 3, bytes: buf.subarray(start, c.pos), payload });
  }
  return fields;
}

const hex = (f: RawField): string => f.bytes.toString('hex');

/**
 * Raw-level check: top-level non-series fields identical and in order; per series,
 * non-label fields identical and in order, label fields the input's own bytes
 * (sorted) plus the cluster field where it was inserted.
 */
function assertOnlyLabelsChanged(input: Buffer, output: Buffer, clusterField: Buffer | undefined): void {
  const inTop = splitFields(input);
  const outTop = splitFields(output);
  assert.deepEqual(outTop.filter((f) => f.field !== 1).map(hex), inTop.filter((f) => f.field !== 1).map(hex));
  const inSeries = inTop.filter((f) => f.field === 1);
  const outSeries = outTop.filter((f) => f.field === 1);
  assert.equal(outSeries.length, inSeries.length);
  for (let i = 0; i < inSeries.length; i++) {
    const a = splitFields(inSeries[i].payload);
    const b = splitFields(outSeries[i].payload);
    assert.deepEqual(b.filter((f) => f.field !== 1).map(hex), a.filter((f) => f.field !== 1).map(hex), `series ${i}: non-label fields`);
    const inLabels = a.filter((f) => f.field === 1).map(hex);
    const outLabels = b.filter((f) => f.field === 1).map(hex);
    const hasCluster = decodeWriteRequest(input).timeseries[i].labels.some((l) => l.name === 'cluster');
    const expectLabels = clusterField !== undefined && !hasCluster ? [...inLabels, clusterField.toString('hex')] : inLabels;
    assert.deepEqual([...outLabels].sort(), [...expectLabels].sort(), `series ${i}: label fields`);
  }
}

function shuffleSomeLabelSets(rng: Rng, req: WriteRequest): void {
  for (const ts of req.timeseries) if (rng.chance(0.6)) rng.shuffle(ts.labels);
}

describe('rewriteLabels on random requests, cross-checked with protobufjs', () => {
  const ref = referenceCodec();

  it('sorts label sets and inserts the cluster label where missing; nothing else changes (250 requests)', () => {
    let inserted = 0;
    let unsorted = 0;
    let kept = 0;
    for (let seed = 1; seed <= 250; seed++) {
      const rng = new Rng(seed);
      const req = randomWriteRequest(rng, { clusterProbability: 0.4 });
      shuffleSomeLabelSets(rng, req);
      const raw = encodeWriteRequest(req);
      const scan = validateWriteRequest(raw, LIMITS, 'relay-cluster');
      const out = rewriteLabels(raw, { cluster: 'relay-cluster' });
      const expected = expectedRewrite(req, 'relay-cluster');
      try {
        assert.deepStrictEqual(decodeWriteRequest(out), expected); // bit-exact: sample bits, histograms, metadata
        assert.deepEqual(canonicalPb(ref.decode(out)), canonical(expected));
        assertOnlyLabelsChanged(raw, out, encodeLabelField('cluster', 'relay-cluster'));
        const after = validateWriteRequest(out, LIMITS, 'relay-cluster');
        assert.deepEqual(after, { ...scan, unsorted: 0, missingCluster: 0 });
        // idempotent: a rewritten request needs no further rewriting
        assert.ok(rewriteLabels(out, { cluster: 'relay-cluster' }).equals(out));
        // a fully canonical request is exactly what our encoder makes of the expectation
        assert.ok(out.equals(encodeWriteRequest(expected)));
      } catch (err) {
        if (err instanceof Error) err.message = `seed ${seed}: ${err.message}`;
        throw err;
      }
      inserted += scan.missingCluster;
      unsorted += scan.unsorted;
      kept += scan.series - scan.missingCluster;
    }
    assert.ok(inserted > 100 && unsorted > 100 && kept > 100, `coverage: inserted ${inserted}, unsorted ${unsorted}, kept ${kept}`);
  });

  it('without a cluster value it only sorts (250 requests)', () => {
    for (let seed = 1; seed <= 250; seed++) {
      const rng = new Rng(seed);
      const req = randomWriteRequest(rng, { clusterProbability: 0.4 });
      shuffleSomeLabelSets(rng, req);
      const raw = encodeWriteRequest(req);
      const out = rewriteLabels(raw, {});
      const expected = expectedRewrite(req, undefined);
      assert.deepStrictEqual(decodeWriteRequest(out), expected, `seed ${seed}`);
      assert.deepEqual(canonicalPb(ref.decode(out)), canonical(expected), `seed ${seed}`);
      assertOnlyLabelsChanged(raw, out, undefined);
    }
  });

  it('already sorted requests that carry cluster everywhere come back byte-identical', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const raw = encodeWriteRequest(randomWriteRequest(new Rng(seed), { clusterProbability: 1 }));
      assert.ok(rewriteLabels(raw, { cluster: 'ignored' }).equals(raw), `seed ${seed}`);
      assert.ok(rewriteLabels(raw, {}).equals(raw), `seed ${seed}`);
    }
  });

  it('keeps an existing cluster label and its value, wherever it sorts', () => {
    const raw = Buffer.concat([
      rawSeries(rawLabel('job', 'x'), rawLabel('cluster', 'own'), rawLabel('__name__', 'a'), rawSample(staleMarkerBits, 1n)),
      rawSeries(rawLabel('zone', 'z'), rawLabel('Alpha', 'A'), rawLabel('__name__', 'b'), rawSample(staleMarkerBits, 2n)),
      rawSeries(rawLabel('__name__', 'c'), rawLabel('b', '1'), rawLabel('d', '2')),
    ]);
    validateWriteRequest(raw, LIMITS, 'new');
    const out = decodeWriteRequest(rewriteLabels(raw, { cluster: 'new' }));
    assert.deepEqual(
      out.timeseries.map((ts) => ts.labels.map((l) => `${l.name}=${l.value}`).join(',')),
      ['__name__=a,cluster=own,job=x', 'Alpha=A,__name__=b,cluster=new,zone=z', '__name__=c,b=1,cluster=new,d=2'],
    );
    assert.equal(out.timeseries[0].samples[0].value, staleMarkerBits);
  });

  it('carries unknown fields through untouched, inside labels included', () => {
    const u = rawUnknownFields();
    const exemplar = rawLen(3, rawLabel('trace_id', 'abc', u), u, rawFixed64(2, staleMarkerBits), rawVarintField(3, 5));
    const hist = rawLen(4, rawVarintField(1, 9), u, rawLen(11, rawVarintField(1, 2), rawVarintField(2, 1), u), rawLen(12, rawVarint(4)));
    const raw = Buffer.concat([
      u,
      rawSeries(rawLabel('job', 'x', u), u, rawSample(staleMarkerBits, 123n, u), rawLabel('__name__', 'up', u), exemplar, u),
      rawSeries(rawLabel('__name__', 'h'), hist, u),
      rawLen(3, rawVarintField(1, 2), u, rawLen(2, 'up')),
      u,
    ]);
    const scan = validateWriteRequest(raw, LIMITS, 'c1');
    assert.deepEqual([scan.unsorted, scan.missingCluster], [1, 2]);
    const out = rewriteLabels(raw, { cluster: 'c1' });
    assertOnlyLabelsChanged(raw, out, encodeLabelField('cluster', 'c1'));
    assert.deepStrictEqual(decodeWriteRequest(out), expectedRewrite(decodeWriteRequest(raw), 'c1'));
  });
});

describe('rewriteLabels on captured Prometheus 2.42 traffic', () => {
  const fixtures = loadFixtures().map((f) => ({ name: f.name, raw: decompressBounded(f.body, MAX_DECODED) }));

  it('every series already has cluster="capture-test": rewriting is the identity', () => {
    for (const f of fixtures) {
      const req = decodeWriteRequest(f.raw);
      for (const ts of req.timeseries) {
        assert.ok(
          ts.labels.some((l) => l.name === 'cluster' && l.value === 'capture-test'),
          f.name,
        );
      }
      assert.ok(rewriteLabels(f.raw, { cluster: 'capture-test' }).equals(f.raw), f.name);
      assert.ok(rewriteLabels(f.raw, { cluster: 'some-other-cluster' }).equals(f.raw), f.name); // existing label wins
      assert.ok(rewriteLabels(f.raw, {}).equals(f.raw), f.name);
    }
  });

  it('with the cluster label stripped, rewriting puts it back byte for byte', () => {
    for (const f of fixtures) {
      const req = decodeWriteRequest(f.raw);
      const stripped: WriteRequest = {
        timeseries: req.timeseries.map((ts) => ({ ...ts, labels: ts.labels.filter((l) => l.name !== 'cluster') })),
        metadata: req.metadata,
      };
      const raw = encodeWriteRequest(stripped);
      const scan = validateWriteRequest(raw, LIMITS, 'capture-test');
      assert.equal(scan.missingCluster, req.timeseries.length, f.name);
      assert.ok(rewriteLabels(raw, { cluster: 'capture-test' }).equals(f.raw), f.name);
    }
  });

  it('with label sets shuffled, rewriting restores the original bytes', () => {
    const rng = new Rng(2042);
    for (const f of fixtures) {
      const req = decodeWriteRequest(f.raw);
      for (const ts of req.timeseries) rng.shuffle(ts.labels);
      const raw = encodeWriteRequest(req);
      assert.ok(rewriteLabels(raw, { cluster: 'capture-test' }).equals(f.raw), f.name);
    }
  });
});

/** Asserts an HttpError with this status and reason. */
function snappyRejects(block: Buffer, max: number, status: number, reason: RejectReason): HttpError {
  let caught: unknown;
  try {
    decompressBounded(block, max);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof HttpError, `expected HttpError(${reason}), got ${caught === undefined ? 'no error' : inspect(caught)}`);
  assert.equal(caught.status, status);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}

/** Replaces a snappy block's length header. */
function withDeclaredLength(block: Buffer, declared: number): Buffer {
  let i = 0;
  while (block[i] >= 0x80) i++;
  return Buffer.concat([rawVarint(declared), block.subarray(i + 1)]);
}

describe('decompressBounded', () => {
  const fixtures = loadFixtures();

  it('decompresses every captured body to the length its header declares', () => {
    for (const f of fixtures) {
      assert.equal(f.headers['content-encoding'], 'snappy');
      assert.equal(f.headers['content-type'], 'application/x-protobuf');
      assert.equal(f.body.length, Number(f.headers['content-length']), f.name);
      const raw = decompressBounded(f.body, MAX_DECODED);
      assert.equal(raw.length, snappyDecodedLength(f.body), f.name);
      assert.ok(decompressBounded(compress(raw), raw.length).equals(raw), f.name); // exactly at the limit is fine
    }
  });

  it('a declared length over the limit is 413 decoded_too_large, decided from the header alone', () => {
    const body = fixtures[0].body;
    const declared = snappyDecodedLength(body);
    const err = snappyRejects(body, declared - 1, 413, 'decoded_too_large');
    assert.match(err.message, new RegExp(`declares ${declared} decoded bytes`));
    // a header claiming 4 GiB in front of garbage: were it decompressed (or allocated),
    // this would be bad_snappy or an allocation failure, not 413
    snappyRejects(Buffer.concat([rawVarint(0xffffffff), Buffer.from('not snappy at all')]), MAX_DECODED, 413, 'decoded_too_large');
    snappyRejects(Buffer.concat([rawVarint(MAX_DECODED + 1), Buffer.alloc(3)]), MAX_DECODED, 413, 'decoded_too_large');
  });

  it('garbage is 400 bad_snappy', () => {
    snappyRejects(Buffer.alloc(0), MAX_DECODED, 400, 'bad_snappy'); // no header at all
    snappyRejects(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), MAX_DECODED, 400, 'bad_snappy'); // header over 5 bytes
    snappyRejects(Buffer.from([0x80, 0x80]), MAX_DECODED, 400, 'bad_snappy'); // header cut off
    snappyRejects(Buffer.concat([rawVarint(100), Buffer.from('this is not a snappy block, just text')]), MAX_DECODED, 400, 'bad_snappy');
    const rng = new Rng(99);
    const noise = Buffer.from(Array.from({ length: 256 }, () => rng.int(0, 255)));
    snappyRejects(Buffer.concat([rawVarint(1000), noise]), MAX_DECODED, 400, 'bad_snappy');
    // a real body cut in half
    const body = fixtures[0].body;
    snappyRejects(body.subarray(0, body.length >> 1), MAX_DECODED, 400, 'bad_snappy');
    // an uncompressed protobuf sent without snappy
    const raw = decompressBounded(body, MAX_DECODED);
    snappyRejects(raw, MAX_DECODED, 400, 'bad_snappy');
  });

  it('a header that disagrees with the body is 400 bad_snappy', () => {
    const raw = decompressBounded(fixtures[0].body, MAX_DECODED);
    const block = compress(raw);
    assert.ok(decompressBounded(withDeclaredLength(block, raw.length), MAX_DECODED).equals(raw));
    for (const declared of [raw.length + 1, raw.length - 1, raw.length * 2, 0]) {
      snappyRejects(withDeclaredLength(block, declared), MAX_DECODED, 400, 'bad_snappy');
    }
  });
});

describe('an empty cluster label', () => {
  it('counts as missing (Prometheus treats empty as absent) and is replaced, not duplicated', () => {
    const raw = Buffer.concat([
      rawSeries(rawLabel('__name__', 'a'), rawLabel('cluster', ''), rawLabel('job', 'x'), rawSample(staleMarkerBits, 1n)),
      rawSeries(rawLabel('__name__', 'b'), rawLabel('cluster', 'own'), rawSample(staleMarkerBits, 2n)),
    ]);
    const scan = validateWriteRequest(raw, LIMITS, 'new');
    assert.equal(scan.missingCluster, 1);
    const out = rewriteLabels(raw, { cluster: 'new' });
    assert.deepEqual(
      decodeWriteRequest(out).timeseries.map((ts) => ts.labels.map((l) => `${l.name}=${l.value}`).join(',')),
      ['__name__=a,cluster=new,job=x', '__name__=b,cluster=own'],
    );
    assert.deepEqual(validateWriteRequest(out, LIMITS, 'new').missingCluster, 0);
    // without a cluster to set, the empty label stays as it came
    assert.ok(rewriteLabels(raw, {}).equals(raw));
  });

  it('does not count towards the label limit when it is replaced', () => {
    const labels = [rawLabel('__name__', 'a'), rawLabel('cluster', '')];
    for (let i = 0; labels.length < 63; i++) labels.push(rawLabel(`l${String(i).padStart(2, '0')}`, 'v'));
    const raw = rawSeries(...labels.sort(Buffer.compare), rawSample(0n, 1n));
    assert.equal(validateWriteRequest(raw, LIMITS, 'new').missingCluster, 1);
  });
});

describe('tenant cluster enforcement', () => {
  const ref = referenceCodec();

  it('overwrite: every series ends with exactly cluster=<tenant>, nothing else changes (250 requests)', () => {
    let foreign = 0;
    for (let seed = 1; seed <= 250; seed++) {
      const rng = new Rng(seed);
      const req = randomWriteRequest(rng, { clusterProbability: 0.5 });
      shuffleSomeLabelSets(rng, req);
      const raw = encodeWriteRequest(req);
      const scan = validateWriteRequest(raw, LIMITS, 'tenant-c', 'overwrite');
      const out = rewriteLabels(raw, { cluster: 'tenant-c', overwriteCluster: true });
      const expected: WriteRequest = {
        metadata: req.metadata,
        timeseries: req.timeseries.map((ts) => ({
          ...ts,
          labels: sortLabels([...ts.labels.filter((l) => l.name !== 'cluster'), { name: 'cluster', value: 'tenant-c' }]),
        })),
      };
      assert.deepStrictEqual(decodeWriteRequest(out), expected, `seed ${seed}`);
      assert.deepEqual(canonicalPb(ref.decode(out)), canonical(expected), `seed ${seed}`);
      const after = validateWriteRequest(out, LIMITS, 'tenant-c', 'reject');
      assert.equal(after.missingCluster + after.foreignCluster + after.unsorted, 0, `seed ${seed}`);
      foreign += scan.foreignCluster;
    }
    assert.ok(foreign > 100, `coverage: ${foreign} foreign series`);
  });

  it('the same request without the validation plan gives the same bytes', () => {
    let planned = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const rng = new Rng(seed);
      const req = randomWriteRequest(rng, { clusterProbability: 0.5 });
      shuffleSomeLabelSets(rng, req);
      const raw = encodeWriteRequest(req);
      const { plan } = validateForRewrite(raw, LIMITS, 'tenant-c', 'overwrite');
      if (plan) {
        planned++;
        assert.ok(planFits(plan, raw, { cluster: 'tenant-c', overwriteCluster: true }), `seed ${seed}: the plan is for this rewrite`);
      }
      const fromPlan = rewriteLabels(raw, { cluster: 'tenant-c', overwriteCluster: true }, plan);
      const parsed = rewriteLabels(raw, { cluster: 'tenant-c', overwriteCluster: true });
      assert.ok(fromPlan.equals(parsed), `seed ${seed}`);
    }
    assert.ok(planned > 25, `coverage: ${planned} of 50 requests had a plan`);
  });

  it('reject: 403 naming the claimed cluster and the series; the own cluster and missing ones pass', () => {
    const own = rawSeries(rawLabel('__name__', 'a'), rawLabel('cluster', 'mine'), rawSample(0n, 1n));
    const missing = rawSeries(rawLabel('__name__', 'b'), rawSample(0n, 1n));
    const other = rawSeries(rawLabel('__name__', 'c'), rawLabel('cluster', 'theirs'), rawSample(0n, 1n));
    assert.equal(validateWriteRequest(Buffer.concat([own, missing]), LIMITS, 'mine', 'reject').missingCluster, 1);
    assert.throws(
      () => validateWriteRequest(Buffer.concat([own, other]), LIMITS, 'mine', 'reject'),
      (err: unknown) =>
        err instanceof HttpError &&
        err.status === 403 &&
        err.reason === 'foreign_cluster' &&
        /claims cluster "theirs" but the caller's cluster is "mine": c\{cluster="theirs"\}/.test(err.message),
    );
    // keep (single tenant): another cluster's label stays as it came
    const kept = rewriteLabels(Buffer.concat([other, missing]), { cluster: 'mine' });
    assert.deepEqual(
      decodeWriteRequest(kept).timeseries.map((t) => t.labels.find((l) => l.name === 'cluster')?.value),
      ['theirs', 'mine'],
    );
  });
});
