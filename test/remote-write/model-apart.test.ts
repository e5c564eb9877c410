// The materialising codec (shared/remote-write/model/) builds an object per sample: fine for
// tests, tools and the dev emulators, ruinous on the hot path. It sits in its own folder so
// that this check can hold the line: no Function, forwarder or shared runtime file imports it.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../dev/kit/repo';

const RUNTIME_DIRS = ['functions', 'shared', 'local-proxy'];
const MODEL_DIR = path.join(repoRoot, 'shared/remote-write/model');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(abs));
    else if (e.name.endsWith('.ts')) out.push(abs);
  }
  return out;
}

/** Files under dir that the module specifiers of `file` resolve to. */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/\b(?:from|import|require\()\s*'(\.{1,2}\/[^']+)'/g)) out.push(path.resolve(path.dirname(file), m[1]));
  return out;
}

test('no runtime file (functions/, shared/, local-proxy/) imports the materialising codec', () => {
  const offenders: string[] = [];
  for (const dir of RUNTIME_DIRS) {
    for (const file of tsFiles(path.join(repoRoot, dir))) {
      if (file.startsWith(MODEL_DIR + path.sep)) continue;
      for (const target of importsOf(file)) {
        if (target === MODEL_DIR || target.startsWith(MODEL_DIR + path.sep))
          offenders.push(`${path.relative(repoRoot, file)} → ${path.relative(repoRoot, target)}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

test('the check sees an import of the codec where there is one', () => {
  // dev/emulators/workspace.ts shows what it received, so it decodes: the scan must find that.
  const targets = importsOf(path.join(repoRoot, 'dev/emulators/workspace.ts'));
  assert.ok(
    targets.some((t) => t.startsWith(MODEL_DIR + path.sep)),
    'workspace.ts imports model/decode',
  );
});
