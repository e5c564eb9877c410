// The per-minute publish line (the side car's exact wording), telemetry through the
// Telemetry interface, and what happens when no token can be had.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createPublishLog } from '../../shared/observability/publish-log';
import { type MetricClient, createTelemetry, noTelemetry, telemetryFrom } from '../../shared/observability/telemetry';
import { REMOTE_WRITE_HEADERS, startHarness } from '../../dev/kit/relay-harness';
import { loadFixtures } from '../../dev/kit/repo';
import { createRelay } from '../../shared/relay/relay';
import { loadRelayConfig } from '../../shared/relay/config';
import type { TokenSource } from '../../shared/identity/token-source';
import { TokenError } from '../../shared/identity/token-source';
import { createLogger } from '../../shared/observability/log';

const fixtures = loadFixtures();

describe('publish log line', () => {
  test("has the side car's message and fields, averaged over the interval, then resets", () => {
    const log = createPublishLog({ intervalMs: 3_600_000, write: () => undefined, now: () => new Date('2026-11-26T10:00:00.123Z') });
    log.record(1000, 0.25, 'all');
    log.record(3000, 0.5, 'some');
    log.record(2000, 0.75, 'none');
    const line = log.flush();
    log.stop();
    assert.equal(
      line,
      'time="2026-11-26T10:00:00Z" level=info msg="Metric packets published in last 1 minute" avgBytesPerRequest=2000 avgRequestDuration=0.5 failedPublishingToAll=1 successfullyPublishedToAll=1 successfullyPublishedToSome=1',
    );
    assert.match(log.flush(), /avgBytesPerRequest=0 avgRequestDuration=0 failedPublishingToAll=0 successfullyPublishedToAll=0 successfullyPublishedToSome=0$/);
  });

  test('the relay records each fan-out: all, some, none', async () => {
    const h = await startHarness({ workspaces: 2 });
    try {
      await h.write(fixtures[0].body);
      h.workspaces[1].fault = { status: 500, times: 1 };
      await h.write(fixtures[1].body);
      h.workspaces[0].fault = { status: 500, times: 1 };
      h.workspaces[1].fault = { status: 500, times: 1 };
      await h.write(fixtures[2].body);
      const line = h.publishLog.flush();
      assert.match(line, /failedPublishingToAll=1 successfullyPublishedToAll=1 successfullyPublishedToSome=1/);
      const avg = Number(/avgBytesPerRequest=(\d+)/.exec(line)?.[1]);
      assert.ok(avg > 0, line);
      assert.ok(Number(/avgRequestDuration=([\d.e-]+)/.exec(line)?.[1]) > 0, line);
    } finally {
      await h.close();
    }
  });
});

describe('telemetry', () => {
  test('without a connection string nothing is set up', () => {
    assert.equal(createTelemetry(undefined), noTelemetry);
    assert.equal(createTelemetry(''), noTelemetry);
  });

  test('samples received/published, rejections by reason and latency reach the metric client', async () => {
    const tracked: { name: string; value: number; properties?: Record<string, string> }[] = [];
    const client: MetricClient = { trackMetric: (m) => void tracked.push(m), flush: () => undefined };
    const h = await startHarness({ workspaces: 2, telemetry: telemetryFrom(client) });
    try {
      assert.equal((await h.write(fixtures[0].body)).status, 204);
      assert.equal((await h.write(fixtures[0].body, { ...REMOTE_WRITE_HEADERS, 'content-encoding': 'zstd' })).status, 415);
    } finally {
      await h.close();
    }
    const received = tracked.filter((m) => m.name === 'relay.samples_received');
    assert.deepEqual(
      received.map((m) => m.value),
      [500],
    );
    const published = tracked.filter((m) => m.name === 'relay.samples_published');
    assert.equal(published.length, 2);
    assert.ok(published.every((m) => m.value === 500 && /^127\.0\.0\.1:\d+$/.test(m.properties?.endpoint ?? '')));
    assert.deepEqual(
      tracked.filter((m) => m.name === 'relay.rejections').map((m) => m.properties?.reason),
      ['unsupported_media_type'],
    );
    assert.equal(tracked.filter((m) => m.name === 'relay.fanout_latency_ms').length, 1);
  });
});

describe('no token', () => {
  test('a token failure answers 503 with the reason and sends nothing', async () => {
    const failing: TokenSource = {
      getToken: () => Promise.reject(new TokenError('could not get a token for https://monitor.azure.com/.default: emulated outage')),
      state: () => ({ hasToken: false, requests: 1 }),
      close: () => undefined,
    };
    const logs: string[] = [];
    let sent = 0;
    const relay = createRelay(loadRelayConfig({ INGESTION_URL: 'http://127.0.0.1:9/x', IDENTITY_TYPE: 'systemAssigned' }), {
      tokenSource: failing,
      log: createLogger((l) => logs.push(l)),
      telemetry: { ...noTelemetry, samplesPublished: () => void sent++ },
    });
    try {
      const res = await relay.handleWrite({ header: (n) => (REMOTE_WRITE_HEADERS as Record<string, string>)[n], body: async () => fixtures[0].body });
      assert.equal(res.status, 503);
      assert.match(res.body, /cannot get a token yet, retry: .*emulated outage/);
      assert.equal(sent, 0);
      assert.ok(logs.some((l) => l.includes('level=error') && l.includes('emulated outage')));
    } finally {
      relay.close();
    }
  });
});
