// Real Prometheus 2.42 captures through the Function's write handler to two emulated
// workspaces, with tokens from the emulated managed-identity endpoint through the real
// @azure/identity code: everything arrives, metadata and stale markers included.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { compressSync, uncompressSync } from 'snappy';
import { seriesKey } from '../../dev/emulators/workspace';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type Float64Bits, type WriteRequest, isStaleMarker, staleMarkerBits } from '../../shared/remote-write/model/types';
import { type Harness, startHarness } from '../../dev/kit/relay-harness';
import { type Fixture, loadFixtures } from '../../dev/kit/repo';

const fixtures = loadFixtures();

interface Expected {
  series: Map<string, Map<bigint, Float64Bits>>;
  metadata: Set<string>;
}

function expectedFrom(requests: WriteRequest[]): Expected {
  const series = new Map<string, Map<bigint, Float64Bits>>();
  const metadata = new Set<string>();
  for (const req of requests) {
    for (const ts of req.timeseries) {
      const key = seriesKey(ts.labels);
      const m = series.get(key) ?? new Map<bigint, Float64Bits>();
      for (const s of ts.samples) m.set(s.timestamp, s.value);
      series.set(key, m);
    }
    for (const md of req.metadata) metadata.add(md.metricFamilyName);
  }
  return { series, metadata };
}

function assertWorkspaceHolds(h: Harness, expected: Expected): void {
  for (const ws of h.workspaces) {
    assert.equal(ws.series.size, expected.series.size, `${ws.name}: series count`);
    for (const [key, samples] of expected.series) {
      const got = ws.series.get(key);
      assert.ok(got, `${ws.name} is missing series ${key}`);
      assert.equal(got.samples.size, samples.size, `${ws.name}: samples of ${key}`);
      for (const [t, bits] of samples) assert.equal(got.samples.get(t), bits, `${ws.name}: value bits of ${key} @${t}`);
    }
    assert.deepEqual(new Set(ws.metadata.keys()), expected.metadata, `${ws.name}: metadata families`);
  }
}

function staleMarkersAt(h: Harness): number[] {
  return h.workspaces.map((ws) => {
    let n = 0;
    for (const s of ws.series.values()) for (const v of s.samples.values()) if (isStaleMarker(v)) n++;
    return n;
  });
}

describe('real Prometheus 2.42 captures through the write handler', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ workspaces: 2, env: { CLUSTER: 'relay-test' } });
  });
  after(() => h.close());

  test('every capture is accepted and forwarded byte for byte (they already carry a cluster label)', async () => {
    const identityRequestsBefore = h.identity.requests.length;
    for (const f of fixtures) {
      const res = await h.write(f.body, f.headers);
      assert.equal(res.status, 204, `${f.name}: ${res.body}`);
    }
    for (const ws of h.workspaces) {
      assert.equal(ws.requests.length, fixtures.length);
      // Nothing needed changing, so the sender's compressed bytes went out untouched.
      ws.requests.forEach((r, i) => assert.equal(r.sha256, sha256(fixtures[i].body), `${ws.name} request ${i}`));
      assert.ok(
        ws.requests.every((r) => r.auth?.startsWith('Bearer emu1.')),
        'every request carries the emulated token',
      );
    }
    // Many writes, one token request.
    assert.ok(h.identity.requests.length - identityRequestsBefore <= 1, `identity requests: ${h.identity.requests.length - identityRequestsBefore}`);
  });

  test('both workspaces hold exactly the captured series, samples (bit-exact) and metadata', () => {
    const decoded = fixtures.map((f) => decodeWriteRequest(uncompressSync(f.body, { asBuffer: true }) as Buffer));
    assertWorkspaceHolds(h, expectedFrom(decoded));
  });

  test('the 507 stale markers arrive with their exact NaN bits', () => {
    assert.deepEqual(staleMarkersAt(h), [507, 507]);
    let seenBits: bigint | undefined;
    for (const s of h.workspaces[0].series.values()) for (const v of s.samples.values()) if (isStaleMarker(v)) seenBits = v;
    assert.equal(seenBits, staleMarkerBits);
  });
});

describe('captures without a cluster label', () => {
  let h: Harness;
  let stripped: { fixture: Fixture; req: WriteRequest; body: Buffer }[];
  before(async () => {
    h = await startHarness({ workspaces: 2, env: { CLUSTER: 'relay-test' } });
    stripped = fixtures.map((fixture) => {
      const req = decodeWriteRequest(uncompressSync(fixture.body, { asBuffer: true }) as Buffer);
      for (const ts of req.timeseries) ts.labels = ts.labels.filter((l) => l.name !== 'cluster');
      return { fixture, req, body: compressSync(encodeWriteRequest(req)) };
    });
  });
  after(() => h.close());

  test('get cluster="<CLUSTER>" added to every series, in sorted position, and nothing else changes', async () => {
    for (const s of stripped) {
      const res = await h.write(s.body);
      assert.equal(res.status, 204, `${s.fixture.name}: ${res.body}`);
    }
    const expected = expectedFrom(
      stripped.map(({ req }) => ({
        metadata: req.metadata,
        timeseries: req.timeseries.map((ts) => ({ ...ts, labels: [...ts.labels, { name: 'cluster', value: 'relay-test' }] })),
      })),
    );
    assertWorkspaceHolds(h, expected);
    for (const ws of h.workspaces) {
      for (const s of ws.series.values()) {
        const names = s.labels.map((l) => l.name);
        assert.deepEqual(names, [...names].sort(), 'labels stay sorted');
        assert.equal(s.labels.find((l) => l.name === 'cluster')?.value, 'relay-test');
      }
    }
    assert.deepEqual(staleMarkersAt(h), [507, 507]);
  });
});

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
