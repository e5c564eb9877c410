// Telemetry behind a small interface: Application Insights when a connection string is
// set (loaded only then), nothing at all otherwise. Tests use a recording fake.

import type { RejectReason } from '../errors';

export interface Telemetry {
  samplesReceived(n: number): void;
  samplesPublished(endpointHost: string, n: number): void;
  rejected(reason: RejectReason): void;
  clusterOverwritten(tenant: string, series: number): void;
  fanoutLatency(ms: number, result: string): void;
  /** samples relabel rules dropped since the last call, for one tenant ('' single tenant) and rule */
  relabelDropped(tenant: string, rule: string, samples: number): void;
  flush(): Promise<void>;
}

export const noTelemetry: Telemetry = {
  samplesReceived: () => undefined,
  samplesPublished: () => undefined,
  rejected: () => undefined,
  clusterOverwritten: () => undefined,
  fanoutLatency: () => undefined,
  relabelDropped: () => undefined,
  flush: async () => undefined,
};

/** Minimal slice of applicationinsights' TelemetryClient that we use. */
export interface MetricClient {
  trackMetric(m: { name: string; value: number; properties?: Record<string, string> }): void;
  flush(): Promise<void> | void;
}

export function telemetryFrom(client: MetricClient): Telemetry {
  return {
    samplesReceived: (n) => client.trackMetric({ name: 'relay.samples_received', value: n }),
    samplesPublished: (host, n) => client.trackMetric({ name: 'relay.samples_published', value: n, properties: { endpoint: host } }),
    rejected: (reason) => client.trackMetric({ name: 'relay.rejections', value: 1, properties: { reason } }),
    clusterOverwritten: (tenant, series) => client.trackMetric({ name: 'relay.cluster_overwritten', value: series, properties: { tenant } }),
    fanoutLatency: (ms, result) => client.trackMetric({ name: 'relay.fanout_latency_ms', value: ms, properties: { result } }),
    relabelDropped: (tenant, rule, samples) => client.trackMetric({ name: 'relay.relabel_dropped_samples', value: samples, properties: { tenant, rule } }),
    flush: async () => {
      await client.flush();
    },
  };
}

/** Application Insights when connectionString is set; no telemetry otherwise. */
export function createTelemetry(connectionString: string | undefined): Telemetry {
  if (!connectionString) return noTelemetry;
  // Required lazily: the SDK (OpenTelemetry underneath) is heavy and must not load unused.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const appInsights = require('applicationinsights') as typeof import('applicationinsights');
  appInsights.setup(connectionString).setAutoCollectConsole(false).start();
  const client = appInsights.defaultClient;
  return telemetryFrom({
    trackMetric: (m) => client.trackMetric(m),
    flush: () => client.flush(),
  });
}
