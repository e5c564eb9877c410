import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface TempDir {
  dir: string;
  /** removes the directory and everything in it; safe to call twice */
  remove(): void;
}

/** A fresh directory under the OS temp dir whose name starts with `prefix`. */
export function tempDir(prefix: string): TempDir {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
