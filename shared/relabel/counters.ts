// The state of one rule set on the write path: samples dropped per rule, kept as plain
// running totals that the write path bumps and metrics and log lines read, and the
// verdicts on label sets already seen.

import { type VerdictCache, createVerdictCache } from './cache';
import type { RelabelRule } from './config';

/** The label a series gets counted under when the rules left it with no labels or no __name__. */
export const EMPTIED = 'emptied';

export interface RelabelCounters {
  rules: readonly RelabelRule[];
  /** index i: samples dropped by rule i; last index: series emptied or left without __name__ */
  drops: number[];
  /** the verdicts on label sets already seen (cache.ts) */
  cache: VerdictCache;
}

export function createRelabelCounters(rules: readonly RelabelRule[], cache: VerdictCache = createVerdictCache()): RelabelCounters {
  return { rules, drops: new Array<number>(rules.length + 1).fill(0), cache };
}

export function totalDropped(c: RelabelCounters): number {
  let n = 0;
  for (const d of c.drops) n += d;
  return n;
}

/** One row per rule (and one for emptied series): what /metrics shows. */
export function droppedByRule(c: RelabelCounters): { rule: string; action: string; samples: number }[] {
  const rows: { rule: string; action: string; samples: number }[] = c.rules.map((r, i) => ({ rule: r.id, action: r.action, samples: c.drops[i] }));
  rows.push({ rule: EMPTIED, action: EMPTIED, samples: c.drops[c.rules.length] });
  return rows;
}
