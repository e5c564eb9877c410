// What happens to a request before anything is billed, in one step for the forwarder and
// the relay: the relabel rules, then the series limits (both over what the rules left,
// as vmagent applies them). Validation and the cluster label come after.

import { relabelWriteRequest } from '../relabel/apply';
import type { RelabelCounters } from '../relabel/counters';
import { type SeriesLimiter, limitSeries } from './series-limit';

export interface CostControl {
  /** the rules and their drop counts; undefined: no rules */
  relabel?: RelabelCounters;
  /** hourly and/or daily limiters; empty: no limits */
  limiters: SeriesLimiter[];
}

/** A CostControl, or undefined when there is nothing to do (the request then goes its usual way untouched). */
export function costControl(relabel: RelabelCounters | undefined, limiters: SeriesLimiter[]): CostControl | undefined {
  return relabel || limiters.length > 0 ? { relabel, limiters } : undefined;
}

/**
 * The decompressed request after the rules and the limits: the input itself when nothing
 * changed, undefined when every series was dropped (nothing to send: answer 204). `raw`
 * is given away: the rules may write their result over it.
 */
export function applyCostControl(raw: Buffer, cc: CostControl, nowMs: number): Buffer | undefined {
  let out = raw;
  if (cc.relabel) {
    const r = relabelWriteRequest(out, cc.relabel, true);
    if (r.series === 0 && r.droppedSeries > 0) return undefined;
    out = r.raw;
  }
  if (cc.limiters.length > 0) {
    const l = limitSeries(out, cc.limiters, nowMs);
    if (l.series === 0 && l.droppedSeries > 0) return undefined;
    out = l.raw;
  }
  return out;
}
