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
 * Runs `pass` soon after schedule(), one at a time: requests made while one runs are
 * coalesced into one more pass (cursors move after every delivery; the file need not).
 */
export class CheckpointScheduler {
  private running: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly stopped: () => boolean,
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

  /** Waits until every pass requested so far is done. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.dirty = false;
      await this.pass();
    } while (this.dirty && !this.stopped());
  }
}
