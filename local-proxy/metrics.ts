// The forwarder's own metrics for GET /metrics, on a private prom-client registry (so
// two forwarders in one test process never share counters). Names: relay_proxy_….

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SeriesLimiter } from '../shared/cost/series-limit';
import type { VerdictCacheStats } from '../shared/relabel/cache';

/** What a lane (shipper.ts) reports of itself, read at scrape time. */
export interface LaneStats {
  name: string;
  shards: number;
  inflight: number;
  pendingSamples: number;
  /** age of the oldest sample not yet delivered, seconds (0: none) */
  lagSeconds: number;
}

export interface SpoolGauges {
  spoolBytes(): number;
  spoolRecords(): number;
  /** fdatasync calls made so far for acknowledgements */
  spoolFsyncs(): number;
  /** bytes each lane still has to deliver */
  laneBacklog(): Record<string, number>;
  /** each lane's concurrency and lag (optional: tests that build lanes alone) */
  laneStats?(): LaneStats[];
  /** samples dropped by RELABEL_CONFIG_FILE's rules so far, per rule (absent: no rules) */
  relabelDrops?(): { rule: string; action: string; samples: number }[];
  /** the rules' verdict cache (absent: no rules) */
  relabelCache?(): VerdictCacheStats;
  /** MAX_HOURLY_SERIES / MAX_DAILY_SERIES (absent or empty: no limits) */
  seriesLimiters?(): readonly SeriesLimiter[];
}

export type ForwarderMetrics = ReturnType<typeof createMetrics>;

const P = 'relay_proxy_';

/**
 * Every reason data is given up on. Both drop counters start at 0 for each, so a drop shows
 * as a rise from 0 (rate() and increase() see the first one) and a dashboard panel over them
 * has data before anything was ever dropped.
 */
const DROP_REASONS = ['too_old', 'upstream_rejected', 'too_large', 'spool_full', 'corrupt'] as const;

export function createMetrics(gauges: SpoolGauges, opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  let fsyncsSeen = 0;
  /** A per-lane gauge read from the lanes' stats at scrape time. */
  const laneGauge = (name: string, help: string, pick: (l: LaneStats) => number): Gauge<'lane'> =>
    new Gauge({
      name: `${P}${name}`,
      help,
      labelNames: ['lane'] as const,
      registers,
      collect() {
        this.reset();
        for (const l of gauges.laneStats?.() ?? []) this.set({ lane: l.name }, pick(l));
      },
    });
  const droppedSamples = new Counter({
    name: `${P}dropped_samples_total`,
    help: 'Samples given up on, by reason (too_old: older than MAX_SAMPLE_AGE, which Azure would drop silently; upstream_rejected: 400; too_large: a single series over the limit; spool_full: drop-oldest; corrupt: unreadable spool data)',
    labelNames: ['reason'] as const,
    registers,
  });
  const droppedRecords = new Counter({
    name: `${P}dropped_requests_total`,
    help: 'Spooled requests given up on, by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of DROP_REASONS) {
    droppedSamples.inc({ reason }, 0);
    droppedRecords.inc({ reason }, 0);
  }
  return {
    registry,
    receivedRequests: new Counter({
      name: `${P}received_requests_total`,
      help: 'Write requests received, by the status answered',
      labelNames: ['code'] as const,
      registers,
    }),
    receivedSamples: new Counter({ name: `${P}received_samples_total`, help: 'Samples (histogram samples included) accepted into the spool', registers }),
    rejectedRequests: new Counter({
      name: `${P}rejected_requests_total`,
      help: 'Write requests refused, by reason (4xx: bad data; spool_full, spool_error, shutting_down: 503)',
      labelNames: ['reason'] as const,
      registers,
    }),
    spooledBytes: new Counter({ name: `${P}spooled_bytes_total`, help: 'Uncompressed bytes appended to the spool (accepted requests)', registers }),
    spoolFsyncs: new Counter({
      name: `${P}spool_fsyncs_total`,
      help: 'Flushes (fdatasync) of the spool for acknowledgements; fewer than requests when they share one (group commit)',
      registers,
      collect() {
        const n = gauges.spoolFsyncs();
        if (n > fsyncsSeen) this.inc(n - fsyncsSeen);
        fsyncsSeen = Math.max(fsyncsSeen, n);
      },
    }),
    sentBatches: new Counter({ name: `${P}sent_batches_total`, help: 'Batches delivered upstream, by lane', labelNames: ['lane'] as const, registers }),
    sentSamples: new Counter({ name: `${P}sent_samples_total`, help: 'Samples delivered upstream, by lane', labelNames: ['lane'] as const, registers }),
    sentBytes: new Counter({ name: `${P}sent_bytes_total`, help: 'Compressed bytes delivered upstream, by lane', labelNames: ['lane'] as const, registers }),
    retries: new Counter({
      name: `${P}retries_total`,
      help: 'Upstream calls that failed and will be retried, by lane and reason',
      labelNames: ['lane', 'reason'] as const,
      registers,
    }),
    droppedSamples,
    relabelDropped: new Counter({
      name: `${P}relabel_dropped_samples_total`,
      help: 'Samples (histogram samples included) dropped by RELABEL_CONFIG_FILE, by rule (its index in the file, from 0) and action; rule="emptied": series the rules left with no labels or no __name__. Never sent, never billed',
      labelNames: ['rule', 'action'] as const,
      registers,
      collect() {
        // running totals kept by the write path: shown as they are
        this.reset();
        for (const r of gauges.relabelDrops?.() ?? []) this.inc({ rule: r.rule, action: r.action }, r.samples);
      },
    }),
    ...relabelCacheMetrics(gauges, registers),
    seriesLimitDropped: new Counter({
      name: `${P}series_limit_dropped_samples_total`,
      help: 'Samples of new series dropped because MAX_HOURLY_SERIES (window="hourly") or MAX_DAILY_SERIES (window="daily") distinct series had already been forwarded in the window',
      labelNames: ['window'] as const,
      registers,
      collect() {
        this.reset();
        for (const l of gauges.seriesLimiters?.() ?? []) this.inc({ window: l.window }, l.droppedSamples);
      },
    }),
    seriesLimitSeries: new Gauge({
      name: `${P}series_limit_current_series`,
      help: 'Distinct series forwarded in the current hourly / daily window (compare with MAX_HOURLY_SERIES / MAX_DAILY_SERIES)',
      labelNames: ['window'] as const,
      registers,
      collect() {
        this.reset();
        for (const l of gauges.seriesLimiters?.() ?? []) this.set({ window: l.window }, l.current());
      },
    }),
    droppedRecords,
    parkedBatches: new Counter({
      name: `${P}lane_parked_batches_total`,
      help: "Relay mode: batches the relay delivered except to some endpoints, queued on those endpoints' lanes",
      labelNames: ['endpoint'] as const,
      registers,
    }),
    plannedRecords: new Counter({
      name: `${P}lane_planned_requests_total`,
      help: "Spooled requests a lane read, by how they were planned: whole (the sender's bytes to one shard, no decompression), split (decompressed and split by series over the shards), none (nothing left to send: too old)",
      labelNames: ['lane', 'how'] as const,
      registers,
    }),
    catchupWait: new Counter({
      name: `${P}catchup_throttled_seconds_total`,
      help: 'Time lanes waited for the CATCHUP_MAX_RATE limiter',
      labelNames: ['lane'] as const,
      registers,
    }),
    spoolBytes: new Gauge({
      name: `${P}spool_bytes`,
      help: 'Bytes on disk in the spool (all segments, lanes included)',
      registers,
      collect() {
        this.set(gauges.spoolBytes());
      },
    }),
    spoolRecords: new Gauge({
      name: `${P}spool_records`,
      help: "Records (accepted requests, parked batches) in the spool's segments",
      registers,
      collect() {
        this.set(gauges.spoolRecords());
      },
    }),
    laneBacklog: new Gauge({
      name: `${P}lane_backlog_bytes`,
      help: 'Spooled bytes a lane has not delivered yet',
      labelNames: ['lane'] as const,
      registers,
      collect() {
        this.reset();
        for (const [lane, bytes] of Object.entries(gauges.laneBacklog())) this.set({ lane }, bytes);
      },
    }),
    laneShards: laneGauge('lane_shards', 'Calls a lane may have in flight now (between MIN_SHARDS and MAX_SHARDS, from backlog and latency)', (l) => l.shards),
    laneInflight: laneGauge('lane_inflight_calls', 'Upstream calls a lane has in flight', (l) => l.inflight),
    lanePendingSamples: laneGauge('lane_pending_samples', 'Samples a lane has not delivered yet (its backlog)', (l) => l.pendingSamples),
    laneLag: laneGauge(
      'lane_lag_seconds',
      'Age of the oldest sample a lane has read but not delivered (0 when caught up); past MAX_SAMPLE_AGE data is dropped as too_old',
      (l) => l.lagSeconds,
    ),
    batchSamples: new Histogram({
      name: `${P}batch_samples`,
      help: 'Samples per upstream call',
      buckets: [500, 1000, 2000, 5000, 10000, 15000, 20000, 50000],
      registers,
    }),
    batchBytes: new Histogram({
      name: `${P}batch_bytes`,
      help: 'Uncompressed bytes per upstream call',
      buckets: [64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024, 32 * 1024 * 1024],
      registers,
    }),
    upstreamDuration: new Histogram({
      name: `${P}upstream_request_duration_seconds`,
      help: 'Duration of upstream calls, by lane and outcome',
      labelNames: ['lane', 'outcome'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20],
      registers,
    }),
  };
}

/** The verdict cache's totals and size, read at scrape time; none without rules (nothing to show). */
function relabelCacheMetrics(gauges: SpoolGauges, registers: Registry[]) {
  const stats = gauges.relabelCache;
  // running totals kept by the write path: shown as they are
  const total = (name: string, help: string, pick: (s: VerdictCacheStats) => number): Counter =>
    new Counter({
      name: `${P}relabel_cache_${name}_total`,
      help,
      registers: stats ? registers : [],
      collect() {
        this.reset();
        if (stats) this.inc(pick(stats()));
      },
    });
  const now = (name: string, help: string, pick: (s: VerdictCacheStats) => number): Gauge =>
    new Gauge({
      name: `${P}relabel_cache_${name}`,
      help,
      registers: stats ? registers : [],
      collect() {
        if (stats) this.set(pick(stats()));
      },
    });
  return {
    relabelCacheHits: total('hits', "Series whose relabel verdict came from the cache (their label bytes seen before): the rules' walk skipped", (s) => s.hits),
    relabelCacheMisses: total(
      'misses',
      'Series run through the relabel rules (label bytes not in the cache); steadily rising with hits flat: more distinct series than the cache holds',
      (s) => s.misses,
    ),
    relabelCacheEvictions: total(
      'evictions',
      'Label sets forgotten because the relabel verdict cache was full and started over (100 000 label sets or 32 MiB)',
      (s) => s.evictions,
    ),
    relabelCacheEntries: now('entries', 'Label sets in the relabel verdict cache now', (s) => s.entries),
    relabelCacheBytes: now('bytes', 'Label bytes (seen and rewritten) in the relabel verdict cache now', (s) => s.bytes),
  };
}
