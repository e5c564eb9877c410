// Series limits with vmagent's maxHourlySeries semantics: at most N distinct series per
// window; samples of new series over the limit are dropped and counted while known series
// keep flowing; the window starts afresh; memory stays fixed however many series are sent.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSeriesLimiter, limitSeries } from '../../shared/cost/series-limit';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type TimeSeries, numberToBits } from '../../shared/remote-write/model/types';

const HOUR = 3_600_000;

function request(ids: number[], samplesEach = 2): Buffer {
  const timeseries: TimeSeries[] = ids.map((id) => ({
    labels: [
      { name: '__name__', value: 'm' },
      { name: 'id', value: String(id) },
    ],
    samples: Array.from({ length: samplesEach }, (_, i) => ({ value: numberToBits(i), timestamp: BigInt(i) })),
    exemplars: [],
    histograms: [],
  }));
  return encodeWriteRequest({ timeseries, metadata: [] });
}

const ids = (raw: Buffer): string[] => decodeWriteRequest(raw).timeseries.map((ts) => ts.labels[1].value);

describe('series limits', () => {
  it('new series over the limit are dropped and counted; known series keep flowing', () => {
    const hourly = createSeriesLimiter('hourly', 3, HOUR, 0);
    const first = limitSeries(request([1, 2, 3, 4, 5]), [hourly], 1000);
    assert.deepEqual(ids(first.raw), ['1', '2', '3']);
    assert.equal(first.droppedSeries, 2);
    assert.equal(hourly.droppedSamples, 4);
    assert.equal(hourly.current(), 3);
    const second = limitSeries(request([2, 6, 3, 1]), [hourly], 2000);
    assert.deepEqual(ids(second.raw), ['2', '3', '1']);
    assert.equal(hourly.droppedSamples, 6);
  });

  it('a request with nothing over the limit is returned as the same buffer', () => {
    const raw = request([1, 2]);
    assert.equal(limitSeries(raw, [createSeriesLimiter('hourly', 10, HOUR, 0)], 0).raw, raw);
  });

  it('the window starts afresh: after an hour new series pass again', () => {
    const hourly = createSeriesLimiter('hourly', 2, HOUR, 0);
    limitSeries(request([1, 2]), [hourly], 0);
    assert.deepEqual(ids(limitSeries(request([3]), [hourly], HOUR - 1).raw), []);
    assert.deepEqual(ids(limitSeries(request([3, 4, 5]), [hourly], HOUR).raw), ['3', '4']);
    // several windows skipped at once
    assert.deepEqual(ids(limitSeries(request([5, 6, 7]), [hourly], 10 * HOUR + 5).raw), ['5', '6']);
  });

  it('hourly is checked before daily: the daily limit holds across hours', () => {
    const hourly = createSeriesLimiter('hourly', 10, HOUR, 0);
    const daily = createSeriesLimiter('daily', 3, 24 * HOUR, 0);
    limitSeries(request([1, 2]), [hourly, daily], 0);
    const next = limitSeries(request([1, 3, 4]), [hourly, daily], 2 * HOUR);
    assert.deepEqual(ids(next.raw), ['1', '3']);
    assert.equal(daily.droppedSamples, 2);
    assert.equal(hourly.droppedSamples, 0);
  });

  it('memory is fixed by the limit: a million distinct series sent, the limit holds within a fraction of a percent', () => {
    const limit = 10_000;
    const hourly = createSeriesLimiter('hourly', limit, HOUR, 0);
    // distinct 32-bit hashes (a multiplicative permutation of the integers)
    for (let i = 0; i < limit; i++) assert.ok(hourly.admit(Math.imul(i, 0x9e3779b1) >>> 0, 0));
    let passed = 0;
    for (let i = limit; i < 1_000_000; i++) if (hourly.admit(Math.imul(i, 0x9e3779b1) >>> 0, 0)) passed++;
    // the Bloom filter's false positives pass as known: under 0.3 % of new series at the limit
    assert.ok(passed < 990_000 * 0.003, `${passed} new series passed over the limit`);
    assert.equal(hourly.current(), limit);
    // and every admitted series is still known
    for (let i = 0; i < limit; i++) assert.ok(hourly.admit(Math.imul(i, 0x9e3779b1) >>> 0, 1));
  });
});
