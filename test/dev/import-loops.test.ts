// No module imports itself back through others, type-only imports included: a loop
// (metrics.ts ⇄ shipper.ts was one) means two modules that cannot be read, tested or
// changed apart. Reads the TypeScript sources' relative imports.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../dev/kit/repo';

const DIRS = ['shared', 'local-proxy', 'functions', 'dev', 'e2e', 'bench', 'test'];
const IMPORT = /(?:from|import)\s+['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(p);
    }
  };
  for (const d of DIRS) if (fs.existsSync(path.join(repoRoot, d))) walk(path.join(repoRoot, d));
  return out;
}

/** Every loop, each as the modules on it (repo-relative), found depth-first. */
export function importLoops(files: readonly string[]): string[][] {
  const known = new Set(files);
  const deps = new Map<string, string[]>();
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const base = path.resolve(path.dirname(f), m[1]);
      const hit = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => known.has(c));
      if (hit) targets.push(hit);
    }
    deps.set(f, targets);
  }
  const loops: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of deps.get(f) ?? []) {
      if (state.get(d) === 'open') loops.push(stack.slice(stack.indexOf(d)).map((x) => path.relative(repoRoot, x)));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return loops;
}

describe('import loops', () => {
  it('there are none in the sources', () => {
    const files = sources();
    assert.ok(files.length > 100, `read ${files.length} sources`);
    assert.deepEqual(importLoops(files), []);
  });

  it('a loop is found and named', () => {
    const dir = fs.mkdtempSync(path.join(repoRoot, 'dist', 'loop-'));
    try {
      const a = path.join(dir, 'a.ts');
      const b = path.join(dir, 'b.ts');
      fs.writeFileSync(a, "import type { B } from './b';\nexport interface A { b?: B }\n");
      fs.writeFileSync(b, "import type { A } from './a';\nexport interface B { a?: A }\n");
      const loops = importLoops([a, b]);
      assert.equal(loops.length, 1);
      assert.deepEqual(loops[0].map((x) => path.basename(x)).sort(), ['a.ts', 'b.ts']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
