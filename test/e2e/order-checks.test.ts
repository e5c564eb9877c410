// The e2e's order checks read other programs' output: Prometheus 2.42's log wording and the
// workspace emulator's summary. A check that cannot read them must fail, never pass quietly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type OrderFigures, emulatorDrops, orderProblems, refusalsInLog } from '../../e2e/checks';

// as Prometheus 2.42.0 logged it when a remote write was refused (write_handler.go:109)
const REFUSED =
  'ts=2026-12-04T13:49:00.611Z caller=write_handler.go:109 level=error component=web msg="Out of order sample from remote write" err="out of order sample" series="{__name__=\\"go_gc_duration_seconds\\", quantile=\\"0\\"}" timestamp=1796392105869';
const DUPLICATE = REFUSED.replace('err="out of order sample"', 'err="duplicate sample for timestamp"');

const clean = (): OrderFigures => ({
  promStore: { outOfOrder: 0, outOfBounds: 0, tooOld: 0 },
  promStoreLog: { lines: 0, byError: {} },
  emulators: {
    prometheus: { outOfOrder: 0, tooOld: 0, tooNew: 0, duplicate: 12, throttled: 0 },
    victoriametrics: { outOfOrder: 0, tooOld: 0, tooNew: 0, duplicate: 0, throttled: 0 },
  },
});

test('refused writes are counted from the store log by their error', () => {
  const r = refusalsInLog(['level=info msg="Server is ready to receive web requests."', REFUSED, DUPLICATE, REFUSED, ''].join('\n'));
  assert.equal(r.lines, 3);
  assert.deepEqual(r.byError, { 'out of order sample': 2, 'duplicate sample for timestamp': 1 });
  assert.equal(r.example, REFUSED);
  assert.equal(refusalsInLog('level=info msg="TSDB started"\n').lines, 0);
});

test('an emulator summary without drop counts is an error naming what is missing', () => {
  const old = emulatorDrops({ name: 'workspace-prometheus', requests: 3, accepted: 3 }, 'prometheus');
  assert.equal(typeof old, 'string');
  assert.match(old as string, /no dropped\.outOfOrder.*throttled.*too old/);
  assert.equal(
    typeof emulatorDrops({ dropped: { outOfOrder: '0', tooOld: 0, tooNew: 0, duplicate: 0 }, throttled: 0 }, 'x'),
    'string',
    'a string count is not a count',
  );
  assert.equal(typeof emulatorDrops(null, 'x'), 'string');
  assert.deepEqual(emulatorDrops({ dropped: { outOfOrder: 2, tooOld: 1, tooNew: 0, duplicate: 5 }, throttled: 3 }, 'x'), {
    outOfOrder: 2,
    tooOld: 1,
    tooNew: 0,
    duplicate: 5,
    throttled: 3,
  });
});

test('zero refusals and drops pass; duplicates alone are no problem', () => {
  assert.deepEqual(orderProblems(clean()), []);
});

test('any refusal or out-of-order drop fails, from each source on its own', () => {
  const counter = clean();
  counter.promStore.outOfOrder = 1;
  assert.match(orderProblems(counter).join('\n'), /refused samples: 1 out of order/);
  const logged = clean();
  logged.promStoreLog = refusalsInLog(REFUSED);
  assert.match(orderProblems(logged).join('\n'), /logged 1 refused write/);
  const dropped = clean();
  dropped.emulators.victoriametrics = { outOfOrder: 4, tooOld: 0, tooNew: 0, duplicate: 0, throttled: 0 };
  assert.match(orderProblems(dropped).join('\n'), /victoriametrics.*4 samples out of order/);
  const old = clean();
  old.emulators.prometheus = 'workspace prometheus: GET /emulator/summary has no dropped.outOfOrder';
  assert.deepEqual(orderProblems(old), [old.emulators.prometheus]);
  const unknown = clean();
  unknown.promStore.outOfOrder = NaN;
  assert.match(orderProblems(unknown).join('\n'), /lacks prometheus_tsdb_out_of_order_samples_total/);
});
