// Polls the forwarder's and vmagent's /metrics once a second while the test runs, so
// counters can be read "as of" a past moment (vmagent's rows at the check's evaluation
// time) and summed across forwarder restarts (a SIGKILLed forwarder's counters are gone
// with it, but their last polled values are kept here).

import { type Labels, type MetricRow, sumMetric } from '../dev/kit/metrics-text';
import type { Topology } from './topology';

interface Snapshot {
  t: number;
  /** which incarnation: the forwarder's pid, or 0 for vmagent */
  pid: number;
  rows: MetricRow[];
}

export class Monitor {
  private readonly forwarder: Snapshot[] = [];
  private readonly vmagent: Snapshot[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly top: Topology) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const fw = this.top.procs.forwarder;
      const [f, v] = await Promise.allSettled([fw && !fw.exit ? this.top.forwarderMetrics() : Promise.reject(new Error('down')), this.top.vmagentMetrics()]);
      const t = Date.now();
      if (f.status === 'fulfilled' && fw) this.forwarder.push({ t, pid: fw.pid, rows: f.value });
      if (v.status === 'fulfilled') this.vmagent.push({ t, pid: 0, rows: v.value });
      // keep memory bounded: a 5-minute run polls ~300 times
      for (const list of [this.forwarder, this.vmagent]) if (list.length > 2000) list.splice(0, list.length - 2000);
    } finally {
      this.busy = false;
    }
  }

  /** A forwarder counter summed over every incarnation, as last polled at or before t. */
  forwarderCounter(name: string, where: Labels = {}, t = Date.now()): number {
    const lastByPid = new Map<number, Snapshot>();
    for (const s of this.forwarder) if (s.t <= t) lastByPid.set(s.pid, s);
    let sum = 0;
    for (const s of lastByPid.values()) sum += sumMetric(s.rows, name, where) ?? 0;
    return sum;
  }

  /** Rows of the forwarder's latest poll (a gauge's current value). */
  forwarderLatest(): MetricRow[] {
    return this.forwarder.at(-1)?.rows ?? [];
  }

  /** Rows of the first poll of the forwarder incarnation `pid`. */
  forwarderFirst(pid: number): MetricRow[] | undefined {
    return this.forwarder.find((s) => s.pid === pid)?.rows;
  }

  /** vmagent's counter as last polled at or before t (vmagent is never restarted). */
  vmagentAt(name: string, where: Labels, t: number): { value: number; t: number } | undefined {
    let hit: Snapshot | undefined;
    for (const s of this.vmagent) if (s.t <= t) hit = s;
    if (!hit) return undefined;
    const value = sumMetric(hit.rows, name, where);
    return value === undefined ? undefined : { value, t: hit.t };
  }

  vmagentLatest(): MetricRow[] {
    return this.vmagent.at(-1)?.rows ?? [];
  }
}
