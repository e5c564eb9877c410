// The shared kit (dev/kit/) that tests, bench, e2e and dev tools lean on: when it misreads a
// /metrics page or a wait ends wrongly, every check built on it passes or fails for the wrong
// reason.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { killChild, spawnNode, spawnProgram, stopChild, waitForOutput } from '../../dev/kit/child';
import { metricValue, parseMetricsText, sumMetric } from '../../dev/kit/metrics-text';
import { tempDir } from '../../dev/kit/temp-dir';
import { WaitAborted, waitUntil } from '../../dev/kit/wait';

const PAGE = [
  '# HELP relay_samples_total Samples.',
  '# TYPE relay_samples_total counter',
  'relay_samples_total{outcome="sent",tenant="a"} 10',
  'relay_samples_total{outcome="sent",tenant="b"} 5',
  'relay_samples_total{outcome="rejected",tenant="a"} 2',
  'relay_samples_total_extra 99',
  'relay_latency_seconds_bucket{le="0.1"} 7',
  'relay_up 1',
  'relay_note{msg="a \\"quoted\\" } brace"} 3',
].join('\n');

describe('metrics text', () => {
  test('sums the rows of one metric whose labels include the ones asked for', () => {
    assert.equal(metricValue(PAGE, 'relay_samples_total'), 17);
    assert.equal(metricValue(PAGE, 'relay_samples_total', { outcome: 'sent' }), 15);
    assert.equal(metricValue(PAGE, 'relay_samples_total', { outcome: 'sent', tenant: 'b' }), 5);
    assert.equal(metricValue(PAGE, 'relay_up'), 1);
  });

  test('a metric that is absent is 0 for metricValue and undefined for sumMetric', () => {
    assert.equal(metricValue(PAGE, 'relay_samples'), 0, 'a prefix of a name is not the metric');
    assert.equal(metricValue(PAGE, 'relay_latency_seconds'), 0, 'histogram series carry their suffix');
    assert.equal(sumMetric(parseMetricsText(PAGE), 'relay_samples_total', { outcome: 'dropped' }), undefined);
  });

  test('label values with escaped quotes and braces stay whole', () => {
    const row = parseMetricsText(PAGE).find((r) => r.name === 'relay_note');
    assert.deepEqual(row, { name: 'relay_note', labels: { msg: 'a \\"quoted\\" } brace' }, value: 3 });
  });
});

describe('waitUntil', () => {
  test('resolves once the probe holds, retrying a probe that throws', async () => {
    let calls = 0;
    await waitUntil(
      'the third call',
      () => {
        calls++;
        if (calls === 1) throw new Error('not yet listening');
        return calls >= 3;
      },
      2000,
      1,
    );
    assert.equal(calls, 3);
  });

  test('times out naming what it waited for and the last error', async () => {
    await assert.rejects(
      waitUntil(
        'the relay to listen',
        () => {
          throw new Error('ECONNREFUSED');
        },
        30,
        5,
      ),
      /timed out after 30 ms waiting for the relay to listen \(last error: ECONNREFUSED\)/,
    );
  });

  test('WaitAborted ends the wait at once', async () => {
    const started = Date.now();
    await assert.rejects(
      waitUntil(
        'a process that exited',
        () => {
          throw new WaitAborted('exited with code 2');
        },
        5000,
        5,
      ),
      WaitAborted,
    );
    assert.ok(Date.now() - started < 1000);
  });
});

test('tempDir makes a fresh directory and remove() deletes it', () => {
  const a = tempDir('kit-test-');
  const b = tempDir('kit-test-');
  assert.notEqual(a.dir, b.dir);
  assert.ok(existsSync(a.dir));
  a.remove();
  a.remove();
  b.remove();
  assert.ok(!existsSync(a.dir) && !existsSync(b.dir));
});

describe('child processes', () => {
  const tmp = tempDir('kit-child-');
  const script = (name: string, src: string): string => {
    const file = join(tmp.dir, name);
    writeFileSync(file, src);
    return file;
  };

  test('waitForOutput finds the start-up line; the child sees only PATH and what it was given', async () => {
    process.env.KIT_TEST_LEAK = 'leaked';
    const c = spawnNode(
      script('up.js', 'console.log(`up port=4242 leak=${process.env.KIT_TEST_LEAK} given=${process.env.GIVEN}`); setTimeout(() => {}, 10_000);'),
      { GIVEN: 'yes' },
    );
    delete process.env.KIT_TEST_LEAK;
    const m = await waitForOutput(c, /port=(\d+) leak=(\S+) given=(\S+)/, 5000, 'start');
    assert.deepEqual(m.slice(1), ['4242', 'undefined', 'yes']);
    await stopChild(c.child, 2000);
    assert.equal(await c.exited, 'SIGTERM');
  });

  test('waitForOutput fails at once, with the output, when the child exits first', async () => {
    const c = spawnNode(script('fail.js', 'console.error("FOO is not set: set it"); process.exit(2);'), {});
    await assert.rejects(waitForOutput(c, /listening/, 5000, 'start'), /start: the process exited \(2\) first; output:\nFOO is not set: set it/);
  });

  test('stopChild SIGKILLs a child that ignores SIGTERM once the grace has passed', async () => {
    const c = spawnNode(script('stubborn.js', 'process.on("SIGTERM", () => console.log("ignored")); console.log("ready"); setInterval(() => {}, 1000);'), {});
    await waitForOutput(c, /ready/, 5000, 'start');
    await stopChild(c.child, 200);
    assert.equal(await c.exited, 'SIGKILL');
  });

  test("killChild SIGKILLs at once, with no SIGTERM first (the e2e's crash of the forwarder)", async () => {
    const c = spawnNode(script('crash.js', 'process.on("SIGTERM", () => console.log("got SIGTERM")); console.log("ready"); setInterval(() => {}, 1000);'), {});
    await waitForOutput(c, /ready/, 5000, 'start');
    await killChild(c.child, 5000);
    assert.equal(await c.exited, 'SIGKILL');
    assert.doesNotMatch(c.output(), /got SIGTERM/);
  });

  test("a program that cannot be started exits with the reason instead of throwing (the e2e's missing peer binary)", async () => {
    const { exited } = spawnProgram(join(tmp.dir, 'no-such-binary'), [], { env: {}, stdio: 'ignore' });
    const e = await exited;
    assert.equal(e.code, -1);
    assert.match(e.spawnError?.message ?? '', /ENOENT/);
    tmp.remove();
  });
});
