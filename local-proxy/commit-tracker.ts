// A lane reads records in spool order but settles their shares out of order (several calls
// in flight, each shard at its own pace). The spool cursor may only move past a record once
// every share of it and of every record before it is settled: this keeps that prefix.

import type { Position } from './spool-record';

export interface Tracked {
  readonly end: Position;
  /** oldest sample time of the record (ms; NaN if unknown): the lane's lag */
  readonly minTime: number;
  /** shares not settled yet */
  outstanding: number;
  /** called once every share is settled (the record's memory may then be reused), then dropped */
  settled?: () => void;
}

export class CommitTracker {
  private entries: Tracked[] = [];
  private head = 0;

  constructor(private readonly commit: (end: Position) => void) {}

  /** A record read with `shares` shares on their way (0: settled already, e.g. dropped as too old). */
  add(end: Position, shares: number, minTime = Number.NaN, settled?: () => void): Tracked {
    const t: Tracked = settled ? { end, minTime, outstanding: shares, settled } : { end, minTime, outstanding: shares };
    this.entries.push(t);
    if (shares === 0) {
      this.release(t);
      this.advance();
    }
    return t;
  }

  /** One share of t is settled (delivered, parked, or deliberately dropped). */
  settle(t: Tracked): void {
    if (t.outstanding <= 0) throw new Error('share settled twice');
    t.outstanding--;
    if (t.outstanding > 0) return;
    this.release(t);
    this.advance();
  }

  /** Records read and not yet committed. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** The oldest sample time among records not yet committed (NaN: none or unknown). */
  oldestPendingTime(): number {
    for (let i = this.head; i < this.entries.length; i++) {
      const t = this.entries[i].minTime;
      if (Number.isFinite(t)) return t;
    }
    return Number.NaN;
  }

  /** Forget everything read (the lane rewinds its reader to the committed cursor). */
  clear(): void {
    this.entries = [];
    this.head = 0;
  }

  /** The callback runs once and is dropped: committed entries stay in `entries` a while, and must not keep a record's payload alive through it. */
  private release(t: Tracked): void {
    const f = t.settled;
    if (f === undefined) return;
    t.settled = undefined;
    f();
  }

  private advance(): void {
    let last: Tracked | undefined;
    while (this.head < this.entries.length && this.entries[this.head].outstanding === 0) last = this.entries[this.head++];
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    if (last) this.commit(last.end);
  }
}
