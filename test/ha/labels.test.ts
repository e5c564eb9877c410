// The label walks HA dedup relies on: the first series speaks for the request, and the
// replica label leaves every series while every other byte stays as it came.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropLabel, firstSeriesHaLabels } from '../../shared/ha/labels';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type TimeSeries, staleMarkerBits } from '../../shared/remote-write/model/types';

const series = (labels: Record<string, string>, ts = 1000n): TimeSeries => ({
  labels: Object.entries(labels).map(([name, value]) => ({ name, value })),
  samples: [{ value: staleMarkerBits, timestamp: ts }],
  exemplars: [],
  histograms: [],
});

test('the first series names the cluster and replica; a request without them has none', () => {
  const body = encodeWriteRequest({
    timeseries: [series({ __name__: 'up', __replica__: 'a', cluster: 'c1' }), series({ __name__: 'up', __replica__: 'b', cluster: 'c2' })],
    metadata: [],
  });
  assert.deepEqual(firstSeriesHaLabels(body, 'cluster', '__replica__'), { cluster: 'c1', replica: 'a' });
  assert.deepEqual(firstSeriesHaLabels(body, 'dc', 'replica'), {});
  const empty = encodeWriteRequest({ timeseries: [series({ __name__: 'up', __replica__: '' })], metadata: [] });
  assert.deepEqual(firstSeriesHaLabels(empty, 'cluster', '__replica__'), {}, 'an empty value is no label (Prometheus)');
});

test('dropLabel removes the replica label from every series and keeps samples bit for bit', () => {
  const req = {
    timeseries: [
      series({ __name__: 'up', __replica__: 'a', cluster: 'c1', job: 'x' }, 7n),
      series({ __name__: 'a_much_longer_metric_name', job: 'y' }),
      series({ __name__: 'z', __replica__: 'r'.repeat(120) }, 9n),
    ],
    metadata: [],
  };
  const out = decodeWriteRequest(dropLabel(encodeWriteRequest(req), '__replica__'));
  assert.deepEqual(
    out.timeseries.map((s) => s.labels.map((l) => `${l.name}=${l.value}`).join(',')),
    ['__name__=up,cluster=c1,job=x', '__name__=a_much_longer_metric_name,job=y', '__name__=z'],
  );
  assert.deepEqual(
    out.timeseries.map((s) => s.samples),
    req.timeseries.map((s) => s.samples),
    'a series over 127 bytes shrinks its length prefix too',
  );
  const none = encodeWriteRequest({ timeseries: [series({ __name__: 'up', job: '__replica__' })], metadata: [] });
  assert.equal(dropLabel(none, '__replica__'), none, 'a value spelled like the label is not the label: same buffer back');
});
