// One byte cap over every spool under SPOOL_DIR (main + relay lanes). When it is reached
// the policy either refuses the append (reject) or deletes the oldest segments of the spool
// that should give way first (drop-oldest). It knows spools only through BudgetMember.

import type { SpoolFullPolicy } from './config';
import { SpoolFullError } from './spool-errors';

/** What the budget needs of a spool, and the figures the forwarder sums over all of them. */
export interface BudgetMember {
  /** appends never fail on the cap (relay-mode lanes) */
  readonly capExempt: boolean;
  readonly bytes: number;
  readonly records: number;
  /** fdatasync calls made for appends */
  readonly syncCount: number;
  /** whether dropOldest can free something (never the requester's own segment being written) */
  canDrop(isRequester: boolean): boolean;
  /** deletes the oldest segment even if unread; false if there is none */
  dropOldest(reason: 'spool_full'): boolean;
}

/** Shared byte cap over every spool in SPOOL_DIR. */
export class SpoolBudget {
  used = 0;
  readonly spools = new Set<BudgetMember>();

  constructor(
    readonly maxBytes: number,
    readonly policy: SpoolFullPolicy,
  ) {}

  /** Makes room for n more bytes, or throws SpoolFullError. */
  reserve(n: number, requester: BudgetMember): void {
    if (this.used + n <= this.maxBytes) return;
    if (this.policy === 'drop-oldest') {
      while (this.used + n > this.maxBytes) {
        const victim = this.pickVictim(requester);
        if (!victim || !victim.dropOldest('spool_full')) break;
      }
      if (this.used + n <= this.maxBytes) return;
    }
    // Lanes only take data the main spool already holds (and then frees): let them through.
    if (requester.capExempt) return;
    throw new SpoolFullError(`spool is full (${this.used} of ${this.maxBytes} bytes, SPOOL_FULL_POLICY=${this.policy})`);
  }

  /** Lanes (a lagging endpoint's backlog) give way first, the largest one first; then the main spool. */
  private pickVictim(requester: BudgetMember): BudgetMember | undefined {
    const droppable = [...this.spools].filter((s) => s.canDrop(s === requester));
    droppable.sort((a, b) => Number(b.capExempt) - Number(a.capExempt) || b.bytes - a.bytes);
    return droppable[0];
  }
}
