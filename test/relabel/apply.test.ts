// Relabelling a whole WriteRequest on the wire: dropped series leave, changed series get
// new sorted labels while their samples, histograms and exemplars keep every byte (stale
// markers included), metadata and untouched series pass as they came, and an untouched
// request is the very same buffer (nothing re-encoded). Drops are counted per rule.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from '../../shared/errors';
import { parseRelabelYaml } from '../../shared/relabel/config';
import { relabelWriteRequest } from '../../shared/relabel/apply';
import { createRelabelCounters, droppedByRule } from '../../shared/relabel/counters';
import { decodeWriteRequest, emptyHistogram } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type Label, type TimeSeries, type WriteRequest, numberToBits, staleMarkerBits } from '../../shared/remote-write/model/types';

function series(labels: Record<string, string>, n = 2): TimeSeries {
  const ls: Label[] = Object.entries(labels).map(([name, value]) => ({ name, value }));
  const samples = [];
  for (let i = 0; i < n; i++) samples.push({ value: i === n - 1 ? staleMarkerBits : numberToBits(i + 0.5), timestamp: 1_700_000_000_000n + BigInt(i) });
  return { labels: ls, samples, exemplars: [], histograms: [] };
}

const RULES = `
- source_labels: [__name__]
  regex: go_.*
  action: drop
- regex: pod|container_id
  action: labeldrop
- source_labels: [instance]
  regex: ([^:]+):.*
  target_label: host
`;

describe('relabelWriteRequest', () => {
  it('drops, rewrites and keeps series; every non-label byte survives; counts per rule', () => {
    const histo = { ...emptyHistogram(), count: { kind: 'int' as const, value: 3n }, sum: numberToBits(1.5), timestamp: 5n };
    const changed = series({ __name__: 'http_requests_total', container_id: 'abc', instance: 'web:80', job: 'j', pod: 'p-1' }, 3);
    changed.histograms.push(histo);
    changed.exemplars.push({ labels: [{ name: 'trace_id', value: 't' }], value: numberToBits(2), timestamp: 9n });
    const untouched = series({ __name__: 'up', job: 'j' });
    const req: WriteRequest = {
      timeseries: [series({ __name__: 'go_goroutines', instance: 'web:80' }, 4), changed, untouched],
      metadata: [{ type: 1, metricFamilyName: 'http_requests_total', help: 'h', unit: '' }],
    };
    const raw = encodeWriteRequest(req);
    const counters = createRelabelCounters(parseRelabelYaml(RULES, 't'));
    const out = relabelWriteRequest(raw, counters);
    assert.deepEqual(
      { series: out.series, droppedSeries: out.droppedSeries, droppedSamples: out.droppedSamples },
      { series: 2, droppedSeries: 1, droppedSamples: 4 },
    );
    const got = decodeWriteRequest(out.raw);
    assert.deepEqual(got.timeseries[0], {
      ...changed,
      labels: [
        { name: '__name__', value: 'http_requests_total' },
        { name: 'host', value: 'web' },
        { name: 'instance', value: 'web:80' },
        { name: 'job', value: 'j' },
      ],
    });
    assert.equal(got.timeseries[0].samples[2].value, staleMarkerBits);
    assert.deepEqual(got.timeseries[1], untouched);
    assert.deepEqual(got.metadata, req.metadata);
    // the untouched series is its original bytes, verbatim
    const untouchedBytes = encodeWriteRequest({ timeseries: [untouched], metadata: [] });
    assert.ok(out.raw.includes(untouchedBytes));
    assert.deepEqual(droppedByRule(counters), [
      { rule: '0', action: 'drop', samples: 4 },
      { rule: '1', action: 'labeldrop', samples: 0 },
      { rule: '2', action: 'replace', samples: 0 },
      { rule: 'emptied', action: 'emptied', samples: 0 },
    ]);
  });

  it('a series seen before gets the same verdict from the cache: same bytes out, drops counted again', () => {
    const counters = createRelabelCounters(parseRelabelYaml(RULES, 't'));
    const raw = encodeWriteRequest({
      timeseries: [series({ __name__: 'go_x' }, 3), series({ __name__: 'm', pod: 'p', instance: 'h:1' }), series({ __name__: 'up' })],
      metadata: [],
    });
    const first = relabelWriteRequest(raw, counters);
    assert.deepEqual({ entries: counters.cache.entries, misses: counters.cache.misses, hits: counters.cache.hits }, { entries: 3, misses: 3, hits: 0 });
    const again = relabelWriteRequest(Buffer.from(raw), counters);
    assert.ok(again.raw.equals(first.raw));
    assert.equal(counters.cache.hits, 3);
    assert.deepEqual(counters.drops, [6, 0, 0, 0]);
  });

  it('a request the rules do not change is returned as the same buffer', () => {
    const raw = encodeWriteRequest({ timeseries: [series({ __name__: 'up', job: 'j' }), series({ __name__: 'node_load1', job: 'n' })], metadata: [] });
    const out = relabelWriteRequest(raw, createRelabelCounters(parseRelabelYaml(RULES, 't')));
    assert.equal(out.raw, raw);
    assert.equal(out.series, 2);
  });

  it('every series dropped: nothing left; series emptied or left without __name__ count as dropped too', () => {
    const counters = createRelabelCounters(
      parseRelabelYaml(
        `
- {source_labels: [job], regex: drop-me, action: drop}
- {regex: __name__, action: labeldrop}`,
        't',
      ),
    );
    const out = relabelWriteRequest(
      encodeWriteRequest({ timeseries: [series({ __name__: 'a', job: 'drop-me' }, 1), series({ __name__: 'b', job: 'x' }, 2)], metadata: [] }),
      counters,
    );
    assert.equal(out.series, 0);
    assert.equal(out.droppedSeries, 2);
    assert.equal(decodeWriteRequest(out.raw).timeseries.length, 0);
    assert.deepEqual(counters.drops, [1, 0, 2]);
  });

  it('refuses what the rules could not judge: bad protobuf, invalid UTF-8, a label given twice (400)', () => {
    const rules = createRelabelCounters(parseRelabelYaml(RULES, 't'));
    const cases: [Buffer, string][] = [
      [Buffer.from([0x0a, 0x50, 0x01]), 'bad_protobuf'],
      [encodeWriteRequest({ timeseries: [series({ __name__: 'up', job: 'j' })], metadata: [] }).fill(0xff, 8, 9), 'invalid_utf8'],
      [
        encodeWriteRequest({
          timeseries: [
            {
              ...series({ __name__: 'up' }),
              labels: [
                { name: '__name__', value: 'up' },
                { name: 'a', value: '1' },
                { name: 'a', value: '2' },
              ],
            },
          ],
          metadata: [],
        }),
        'duplicate_label_name',
      ],
    ];
    for (const [raw, reason] of cases) {
      assert.throws(
        () => relabelWriteRequest(raw, rules),
        (err: unknown) => err instanceof HttpError && err.status === 400 && err.reason === reason,
        reason,
      );
    }
  });
});
