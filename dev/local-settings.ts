// Reads local.settings.json's Values as `func start` does: they become environment
// variables, and variables already set in the environment win.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export function applyLocalSettings(env: NodeJS.ProcessEnv = process.env, file = resolve(process.cwd(), 'local.settings.json')): string[] {
  if (!existsSync(file)) return [];
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> };
  const applied: string[] = [];
  for (const [k, v] of Object.entries(parsed.Values ?? {})) {
    if (k.startsWith('//') || typeof v !== 'string') continue; // comment-like entries
    if (env[k] === undefined) {
      env[k] = v;
      applied.push(k);
    }
  }
  return applied;
}
