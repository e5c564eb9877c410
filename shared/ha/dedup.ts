// HA dedup at the relay's door: which replica a request comes from, whether it is the
// elected one (tracker.ts), and the request without its replica label. A request without
// the replica label is not from an HA pair and passes untouched.

import type { HaConfig } from '../state/state-config';
import { dropLabel, firstSeriesHaLabels } from './labels';
import type { HaTracker, HaTrackerStats } from './tracker';

export interface HaDedup {
  /** the request to forward (replica label removed), or why it is not forwarded */
  filter(tenant: string, relayCluster: string | undefined, raw: Buffer, samples: number): Promise<{ forward: Buffer } | { dropped: string }>;
  health(): HaDedupHealth;
}

export interface HaDedupHealth extends HaTrackerStats {
  droppedRequests: number;
  droppedSamples: number;
}

export function createHaDedup(cfg: HaConfig, tracker: HaTracker): HaDedup {
  let droppedRequests = 0;
  let droppedSamples = 0;
  return {
    async filter(tenant, relayCluster, raw, samples) {
      const labels = firstSeriesHaLabels(raw, cfg.clusterLabel, cfg.replicaLabel);
      if (labels.replica === undefined) return { forward: raw };
      // an HA pair relying on the relay's CLUSTER still forms one cluster
      const cluster = labels.cluster ?? relayCluster ?? '';
      const verdict = await tracker.check(tenant, cluster, labels.replica);
      if (verdict === 'drop') {
        droppedRequests++;
        droppedSamples += samples;
        const elected = tracker.elected(tenant, cluster);
        return {
          dropped: `${cfg.replicaLabel}="${labels.replica}" is not the elected replica of ${cfg.clusterLabel}="${cluster}"${elected ? ` (${elected} is)` : ''}; accepted and not forwarded`,
        };
      }
      return { forward: dropLabel(raw, cfg.replicaLabel) };
    },
    health: () => ({ ...tracker.stats(), droppedRequests, droppedSamples }),
  };
}
