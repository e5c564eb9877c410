// The rewrite plan (bench/README.md, optimisation log): validateForRewrite returns
// which series change and where the cluster label goes, and rewriteLabels given that
// plan for the same buffer splices from it instead of parsing labels again.
// Both routes must give the same bytes, on every shape a series can have.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { planFits, rewriteLabels } from '../../shared/remote-write/rewrite';
import { compress, decompressBounded } from '../../shared/remote-write/snappy';
import { AZURE_MONITOR_LIMITS, validateForRewrite, validateWriteRequest } from '../../shared/remote-write/validate';
import { staleMarkerBits } from '../../shared/remote-write/model/types';
import { syntheticPayloads } from '../../bench/lib/payloads';
import { loadFixtures } from '../../dev/kit/repo';
import { Rng, rawLabel, rawLen, rawSample, rawSeries, rawUnknownFields, randomWriteRequest } from '../../dev/kit/random-write-request';

const LIMITS = AZURE_MONITOR_LIMITS;

/** rewriteLabels without a plan: it parses every changing series. */
function parsed(raw: Buffer, cluster: string | undefined): Buffer {
  return rewriteLabels(raw, { cluster });
}

/** rewriteLabels with the plan validation made for the same buffer, as admission calls it. */
function planned(raw: Buffer, cluster: string | undefined): Buffer {
  const { plan } = validateForRewrite(raw, LIMITS, cluster);
  if (plan) assert.ok(planFits(plan, raw, { cluster }));
  return rewriteLabels(raw, { cluster }, plan);
}

function same(raw: Buffer, cluster: string | undefined, what: string): void {
  const a = parsed(raw, cluster);
  const b = planned(raw, cluster);
  assert.ok(a.equals(b), `${what}: plan and parse differ\n parse ${a.toString('hex')}\n plan  ${b.toString('hex')}`);
}

describe('rewrite from the validation plan', () => {
  it('gives the same bytes as parsing on random requests, sorted or not, with and without a cluster value', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = new Rng(seed);
      const req = randomWriteRequest(rng, { clusterProbability: 0.4 });
      for (const ts of req.timeseries) if (rng.chance(0.3)) rng.shuffle(ts.labels);
      const raw = encodeWriteRequest(req);
      same(raw, 'relay-cluster', `seed ${seed}`);
      same(raw, undefined, `seed ${seed}, no cluster`);
    }
  });

  it('handles labels after other fields, an empty cluster label, unknown fields and long fields', () => {
    const u = rawUnknownFields();
    const long = 'v'.repeat(300); // two-byte lengths everywhere
    const raw = Buffer.concat([
      u,
      rawSeries(rawLabel('__name__', 'a'), rawLabel('job', 'x'), rawSample(staleMarkerBits, 1n)),
      rawSeries(rawSample(staleMarkerBits, 2n), rawLabel('__name__', 'b'), rawLabel('job', 'x')), // labels after the sample
      rawSeries(rawLabel('__name__', 'c'), rawSample(staleMarkerBits, 3n), rawLabel('job', 'x')), // a label after the sample
      rawSeries(rawLabel('__name__', 'd'), rawLabel('cluster', ''), rawLabel('job', 'x'), rawSample(staleMarkerBits, 4n)), // empty cluster
      rawSeries(rawLabel('__name__', 'e'), rawLabel('cluster', 'own'), rawSample(staleMarkerBits, 5n)), // unchanged
      rawSeries(rawLabel('__name__', 'f'), rawLabel('zone', long), rawSample(staleMarkerBits, 6n)),
      rawSeries(rawLabel('__name__', 'g'), rawLabel('abc', 'x'), rawLabel('cm', 'y'), rawLabel('clusterx', 'z')), // c… names on both sides
      rawSeries(rawLabel('__name__', 'h', u), rawLabel('job', 'x'), u, rawSample(staleMarkerBits, 7n)), // unknown fields in labels
      rawSeries(rawLabel('job', 'x'), rawLabel('__name__', 'i')), // unsorted
      rawLen(3, rawLen(2, 'up')),
      u,
    ]);
    same(raw, 'c1', 'hand-built');
    same(raw, undefined, 'hand-built, no cluster');
    same(raw, long, 'hand-built, long cluster value');
  });

  it('gives the same bytes on the captured traffic with its cluster label removed and on the synthetic bench payloads', () => {
    for (const f of loadFixtures()) {
      const raw = decompressBounded(f.body, 64 << 20);
      // rename "cluster" to "clustex": same length, sorts after "cluster", so every series needs the label
      const renamed = Buffer.from(raw.toString('latin1').replaceAll('\x07cluster\x12', '\x07clustex\x12'), 'latin1');
      same(renamed, 'relay', f.name);
    }
    for (const withCluster of [true, false]) {
      for (const p of syntheticPayloads({ requests: 2, series: 500, withCluster }).payloads) same(p.raw, 'bench-weu-1', `synthetic ${withCluster}`);
    }
  });

  it('the one-step label fast path never mistakes a longer value length for a one-byte one', () => {
    // Label { name "a", value "hello" with its length as the two-byte varint 85 00, then
    // an unknown field } sized so that 0x85 read as a one-byte length ends the label
    // exactly: validation must still parse the unknown field.
    const head = Buffer.from([0x0a, 0x01, 0x61, 0x12, 0x85, 0x00, ...Buffer.from('hello')]);
    const okUnknown = Buffer.concat([Buffer.from([0x4a, 125]), Buffer.alloc(125, 0x78)]);
    const badUnknown = Buffer.concat([Buffer.from([0x48]), Buffer.alloc(126, 0xff)]); // a varint that never ends
    assert.equal(head.length + okUnknown.length, 4 + 1 + 0x85);
    assert.equal(head.length + badUnknown.length, 4 + 1 + 0x85);
    const good = rawSeries(rawLabel('__name__', 'up'), rawLen(1, Buffer.concat([head, okUnknown])), rawSample(staleMarkerBits, 1n));
    const bad = rawSeries(rawLabel('__name__', 'up'), rawLen(1, Buffer.concat([head, badUnknown])), rawSample(staleMarkerBits, 1n));
    assert.throws(() => validateWriteRequest(bad, LIMITS, 'c'), /malformed protobuf/);
    validateWriteRequest(good, LIMITS, 'c');
    same(good, 'c', 'non-canonical value length');
  });

  it('is returned for the buffer and cluster value validated, used for nothing else, and not after a failed validation', () => {
    const raw = rawSeries(rawLabel('__name__', 'a'));
    const { plan } = validateForRewrite(raw, LIMITS, 'c');
    assert.ok(plan);
    assert.ok(planFits(plan, raw, { cluster: 'c' }));
    assert.equal(planFits(plan, raw, { cluster: 'other' }), false);
    assert.equal(planFits(plan, Buffer.from(raw), { cluster: 'c' }), false);
    assert.equal(planFits(plan, raw, { cluster: 'c', overwriteCluster: true }), false);
    // a plan that does not fit is ignored: the rewrite parses instead
    assert.ok(rewriteLabels(raw, { cluster: 'other' }, plan).equals(parsed(raw, 'other')));
    // a later validation leaves an earlier plan as it was
    const before = Array.from(plan.at);
    validateForRewrite(Buffer.concat([rawSeries(rawLabel('__name__', 'z'), rawLabel('zz', 'y')), raw]), LIMITS, 'c');
    assert.deepEqual(Array.from(plan.at), before);
    assert.ok(rewriteLabels(raw, { cluster: 'c' }, plan).equals(parsed(raw, 'c')));
    const bad = Buffer.concat([raw, rawSeries(rawLabel('bad-name', 'x'))]);
    assert.throws(() => validateForRewrite(bad, LIMITS, 'c'));
    // a request needing nothing has no plan; validateWriteRequest alone never makes one
    assert.equal(validateForRewrite(rawSeries(rawLabel('__name__', 'a'), rawLabel('cluster', 'c')), LIMITS, 'c').plan, undefined);
    assert.equal('plan' in validateWriteRequest(raw, LIMITS, 'c'), false);
    assert.ok(decompressBounded(compress(raw), 1 << 20).equals(raw));
  });

  it("under the tenants' reject policy the plan gives the bytes parsing gives", () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rng = new Rng(seed);
      const req = randomWriteRequest(rng, { clusterProbability: 0.4 });
      for (const ts of req.timeseries) {
        for (const l of ts.labels) if (l.name === 'cluster') l.value = rng.chance(0.5) ? 'mine' : '';
        if (rng.chance(0.3)) rng.shuffle(ts.labels);
      }
      const raw = encodeWriteRequest(req);
      const { plan } = validateForRewrite(raw, LIMITS, 'mine', 'reject');
      assert.ok(rewriteLabels(raw, { cluster: 'mine' }, plan).equals(parsed(raw, 'mine')), `seed ${seed}`);
    }
  });
});
