// The relay's data path in process: the real createRelay().handleWrite (decompress →
// validate → pass-through or cluster-label injection → compress → fan-out to two sink
// processes over HTTP), CPU per sample from process.cpuUsage, plus the same stages
// one by one without the network to show where the time goes.

import { loadRelayConfig } from '../shared/relay/config';
import { createLogger } from '../shared/observability/log';
import { noTelemetry } from '../shared/observability/telemetry';
import { createRelay } from '../shared/relay/relay';
import { rewriteLabels } from '../shared/remote-write/rewrite';
import { compress, decompressBounded } from '../shared/remote-write/snappy';
import { AZURE_MONITOR_LIMITS, validateForRewrite, validateWriteRequest } from '../shared/remote-write/validate';
import { REMOTE_WRITE_HEADERS } from './lib/load';
import { measureCpu, measureCpuAsync } from './lib/measure';
import { BENCH_CLUSTER, type PayloadSet } from './lib/payloads';

export interface RelayPathRow {
  set: string;
  mode: 'pass-through' | 'label injection';
  /** stage → CPU-µs per sample (median over repetitions) */
  stages: Record<string, number>;
  /** the whole handleWrite with fan-out to two sinks: CPU-µs per sample, per repetition */
  fullSpread: number[];
  full: number;
}

export async function benchRelayPath(
  sets: ReadonlyArray<{ set: PayloadSet; mode: 'pass-through' | 'label injection' }>,
  sinkUrls: readonly string[],
  opts: { reps: number; minSeconds: number; concurrency: number },
): Promise<RelayPathRow[]> {
  const cfg = loadRelayConfig({ INGESTION_URL: sinkUrls.join(','), IDENTITY_TYPE: 'none', CLUSTER: BENCH_CLUSTER, PUBLISH_LOG_INTERVAL: '1h' });
  const relay = createRelay(cfg, { log: createLogger(() => undefined), telemetry: noTelemetry, tokenSource: null });
  const rows: RelayPathRow[] = [];
  try {
    for (const { set, mode } of sets) {
      const perSample = (s: number): number => (s / set.samples) * 1e6;
      const stages: Record<string, number> = {};
      const raws = set.payloads.map((p) => p.raw);
      stages.decompress = perSample(
        measureCpu(() => {
          for (const p of set.payloads) decompressBounded(p.body, 64 << 20);
        }, opts).median,
      );
      stages.validate = perSample(
        measureCpu(() => {
          for (const r of raws) validateWriteRequest(r, AZURE_MONITOR_LIMITS, BENCH_CLUSTER);
        }, opts).median,
      );
      if (mode === 'label injection') {
        const rewritten = raws.map((r) => rewriteLabels(r, { cluster: BENCH_CLUSTER }));
        // as admission runs it: validation's plan, then the rewrite from it
        const both = perSample(
          measureCpu(() => {
            for (const r of raws) rewriteLabels(r, { cluster: BENCH_CLUSTER }, validateForRewrite(r, AZURE_MONITOR_LIMITS, BENCH_CLUSTER).plan);
          }, opts).median,
        );
        stages.rewrite = Math.max(0, both - stages.validate);
        stages.compress = perSample(
          measureCpu(() => {
            for (const r of rewritten) compress(r);
          }, opts).median,
        );
      }

      // the whole path, `concurrency` writes in flight like concurrent senders
      const pass = async (): Promise<void> => {
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < set.payloads.length) {
            const p = set.payloads[next++];
            const answer = await relay.handleWrite({ header: (n) => REMOTE_WRITE_HEADERS[n.toLowerCase()], body: async () => p.body });
            if (answer.status !== 204) throw new Error(`relay answered ${answer.status}: ${answer.body}`);
          }
        };
        await Promise.all(Array.from({ length: opts.concurrency }, worker));
      };
      const full = await measureCpuAsync(pass, opts);
      rows.push({ set: set.name, mode, stages, fullSpread: full.perPass.map(perSample), full: perSample(full.median) });
    }
  } finally {
    relay.close();
  }
  return rows;
}
