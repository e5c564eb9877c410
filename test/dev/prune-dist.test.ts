// `npm run build` prunes dist/ after tsc instead of wiping it first: outputs of deleted
// sources go, everything with a source (and anything tsc does not emit) stays.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../dev/kit/repo';

// plain JS beside the sources (it runs before anything is compiled), outside the TS program
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a .js file tsc does not compile or type
const { pruneDist } = require(path.join(repoRoot, 'dev/prune-dist.js')) as { pruneDist(root: string): string[] };

test('outputs of deleted sources are removed, the rest kept', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'prune-dist-'));
  try {
    const put = (rel: string): void => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), '');
    };
    for (const f of ['shared/a.ts', 'test/x/kept.test.ts', 'shared/data.json']) put(f);
    for (const f of [
      'dist/shared/a.js',
      'dist/shared/a.js.map',
      'dist/shared/gone.js',
      'dist/shared/gone.js.map',
      'dist/test/x/kept.test.js',
      'dist/test/old/old.test.js',
      'dist/shared/data.json',
      'dist/shared/notes.txt',
    ])
      put(f);
    const removed = pruneDist(root).sort();
    assert.deepEqual(
      removed,
      ['shared/gone.js', 'shared/gone.js.map', 'test/old/old.test.js'].map((p) => path.normalize(p)),
    );
    assert.ok(!fs.existsSync(path.join(root, 'dist/test/old')), 'an emptied directory goes too');
    for (const f of ['dist/shared/a.js', 'dist/shared/a.js.map', 'dist/test/x/kept.test.js', 'dist/shared/data.json', 'dist/shared/notes.txt'])
      assert.ok(fs.existsSync(path.join(root, f)), f);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
