// Group commit: append() waits for an fdatasync that covers its record, and every append
// made while one flush runs shares the next one, so an ack costs one disk flush, not one
// per request (and never a batching delay).

import * as fs from 'node:fs';
import { SpoolWriteError } from './spool-errors';
import type { Segment } from './spool-segment';

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export interface CommitHooks {
  /** the segment being appended to (a flush covers what it holds when the flush starts) */
  current(): Segment;
  /** a flush failed (its message) or succeeded (undefined) */
  report(error: string | undefined): void;
  /** a flush made new records readable */
  flushed(): void;
}

export class GroupCommit {
  /** fdatasync calls made for appends (group commit shows as syncs < appends) */
  syncCount = 0;
  private waiters: Waiter[] = [];
  private syncing = false;
  /** fds of sealed segments, closed once the flush still running on them ends */
  private deferredCloses: number[] = [];

  constructor(
    private readonly dir: string,
    private readonly hooks: CommitHooks,
  ) {}

  /** Resolves once everything written so far is durable. */
  durable(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.syncing) this.startSync();
    });
  }

  private startSync(): void {
    const batch = this.waiters;
    this.waiters = [];
    if (batch.length === 0) return;
    const seg = this.hooks.current();
    const target = seg.size;
    this.syncing = true;
    this.syncCount++;
    fs.fdatasync(seg.fd!, (err) => {
      this.syncing = false;
      for (const fd of this.deferredCloses.splice(0)) fs.close(fd, () => undefined);
      if (err) {
        seg.broken = true;
        this.hooks.report(err.message);
        for (const w of batch) w.reject(new SpoolWriteError(`cannot flush the spool in ${this.dir}: ${err.message}`));
      } else {
        if (seg.synced < target) seg.synced = target;
        this.hooks.report(undefined);
        for (const w of batch) w.resolve();
        this.hooks.flushed();
      }
      if (this.waiters.length > 0) this.startSync();
    });
  }

  /** Rotation: flushes seg now (its waiters are answered) and closes it. */
  seal(seg: Segment): void {
    const queued = this.waiters;
    this.waiters = [];
    if (seg.fd === undefined) return;
    let err: Error | undefined;
    try {
      fs.fdatasyncSync(seg.fd);
      seg.synced = seg.size;
    } catch (e) {
      err = e as Error;
      this.hooks.report(err.message);
    }
    for (const w of queued) {
      if (err) w.reject(new SpoolWriteError(`cannot flush the spool in ${this.dir}: ${err.message}`));
      else w.resolve();
    }
    // An fdatasync may still be running on this fd in the thread pool: close it after.
    if (this.syncing) this.deferredCloses.push(seg.fd);
    else fs.closeSync(seg.fd);
    seg.fd = undefined;
  }

  /** Shutdown: flushes seg now, answers every waiter, then waits for a flush still running. */
  async finish(seg: Segment): Promise<void> {
    if (seg.fd !== undefined) {
      try {
        fs.fdatasyncSync(seg.fd);
        seg.synced = seg.size;
        for (const w of this.waiters.splice(0)) w.resolve();
      } catch (err) {
        for (const w of this.waiters.splice(0)) w.reject(new SpoolWriteError((err as Error).message));
      }
    }
    while (this.syncing) await new Promise((r) => setTimeout(r, 1));
  }
}
