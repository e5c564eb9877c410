// The sink's label check (bench/lib/labels.ts): the label-injection cases rely on it to show
// that every target delivered the same series, so it must count exactly the series that lack
// the label by name, whatever else they carry.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seriesWithoutLabel } from '../../bench/lib/labels';
import { BENCH_CLUSTER, syntheticPayloads } from '../../bench/lib/payloads';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { numberToBits } from '../../shared/remote-write/model/types';
import { WireError } from '../../shared/remote-write/wire';

const series = (labels: Array<[string, string]>) => ({
  labels: labels.map(([name, value]) => ({ name, value })),
  samples: [{ value: numberToBits(1), timestamp: 1_764_000_000_000n }],
  exemplars: [],
  histograms: [],
});

const cluster = Buffer.from('cluster');

describe('seriesWithoutLabel', () => {
  it('counts the series that have no label of that name', () => {
    const raw = encodeWriteRequest({
      timeseries: [
        series([
          ['__name__', 'up'],
          ['cluster', BENCH_CLUSTER],
        ]),
        series([
          ['__name__', 'up'],
          ['job', 'cluster'],
        ]), // the value, not the name
        series([
          ['__name__', 'up'],
          ['clusters', 'a'],
        ]), // a longer name
        series([
          ['__name__', 'up'],
          ['clu', 'a'],
        ]), // a shorter one
        series([
          ['__name__', 'up'],
          ['job', 'x'],
          ['zone', 'a'],
          ['cluster', ''],
        ]), // last, empty value
        series([]),
      ],
      metadata: [{ type: 1, metricFamilyName: 'up', help: 'cluster', unit: '' }],
    });
    assert.deepEqual(seriesWithoutLabel(raw, cluster), { series: 6, without: 4 });
  });

  it('finds the label on every series of the with-cluster bench set and on none of the other', () => {
    for (const [withCluster, without] of [
      [true, 0],
      [false, 2000],
    ] as const) {
      for (const p of syntheticPayloads({ requests: 2, series: 2000, withCluster }).payloads) {
        assert.deepEqual(seriesWithoutLabel(p.raw, cluster), { series: 2000, without });
      }
    }
  });

  it('throws on a malformed request rather than counting it', () => {
    const raw = encodeWriteRequest({ timeseries: [series([['cluster', 'a']])], metadata: [] });
    assert.throws(() => seriesWithoutLabel(raw.subarray(0, raw.length - 3), cluster), WireError);
  });
});
