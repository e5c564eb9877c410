// Readers' cursors on disk: cursors.json in the spool's directory, written atomically
// (tmp + fdatasync + rename), and the coalescing that keeps at most one write in flight.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Position } from './spool-record';
import { type Warn, fsyncDir } from './spool-segment';

const CHECKPOINT = 'cursors.json';

export type Cursors = Record<string, Position>;

/** The saved cursors; none if there is no file, or (with a warning) if it is unreadable. */
export function loadCursors(dir: string, spool: string, warn?: Warn): Cursors {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, CHECKPOINT), 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as { readers?: Cursors };
    const out: Cursors = {};
    for (const [k, v] of Object.entries(parsed.readers ?? {})) {
      if (Number.isSafeInteger(v?.segment) && Number.isSafeInteger(v?.offset)) out[k] = { segment: v.segment, offset: v.offset };
    }
    return out;
  } catch {
    // Unreadable cursors: deliver everything again rather than lose anything (at least once).
    warn?.('spool cursors file is unreadable, every reader starts from the oldest segment', { spool });
    return {};
  }
}

/** Removes temporary files a crash left in the middle of a cursor write. */
export function removeStaleTemps(dir: string): void {
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${CHECKPOINT}.tmp`)) fs.rmSync(path.join(dir, f), { force: true });
}

export async function saveCursors(dir: string, readers: Cursors): Promise<void> {
  const file = path.join(dir, CHECKPOINT);
  const tmp = `${file}.tmp`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify({ version: 1, readers }));
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
}

/** At open: synchronous, and the rename itself made durable. */
export function saveCursorsSync(dir: string, readers: Cursors): void {
  const file = path.join(dir, CHECKPOINT);
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, JSON.stringify({ version: 1, readers }));
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

/**
 * How often cursors are written at most while deliveries keep moving them. Each write is a
 * file write, an fdatasync and a rename (five thread-pool jobs); after every settled call
 * they were about 150 writes in a 3 M-sample drain. The cost of the interval: after a crash,
 * what was delivered in its last ~quarter second is sent again (Azure drops samples it
 * already has), as anything delivered since the last write always was.
 */
export const CHECKPOINT_INTERVAL_MS = 250;

/**
 * Runs `pass` after schedule(), one at a time, CHECKPOINT_INTERVAL_MS after the one before
 * at the earliest: requests made meanwhile are coalesced into that one (cursors move after
 * every delivery; the file need not). flush() runs what is pending at once.
 */
export class CheckpointScheduler {
  private running: Promise<void> | undefined;
  private dirty = false;
  private wake: (() => void) | undefined;
  /** flush() calls waiting: the next pass does not wait out the interval */
  private flushing = 0;
  private lastStart = -Infinity;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly stopped: () => boolean,
    private readonly intervalMs = CHECKPOINT_INTERVAL_MS,
  ) {}

  schedule(): void {
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits until every pass requested so far is done (without waiting out the interval). */
  async flush(): Promise<void> {
    this.flushing++;
    try {
      while (this.running) {
        this.wake?.();
        await this.running;
      }
    } finally {
      this.flushing--;
    }
  }

  private async loop(): Promise<void> {
    for (;;) {
      const wait = this.lastStart + this.intervalMs - Date.now();
      if (wait > 0 && this.flushing === 0) await this.pause(wait);
      this.lastStart = Date.now();
      this.dirty = false;
      await this.pass();
      if (!this.dirty || this.stopped()) return;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
