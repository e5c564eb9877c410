// `npm run build` step after tsc: deletes what dist/ holds for sources that no longer exist
// (a renamed or deleted .ts would otherwise leave its .js behind, and `node --test dist/test/`
// would still run an old test). Pruning instead of wiping dist/ before tsc keeps a bench or
// test run that is using dist/ working while another build runs.
// Plain JS so it runs before anything is compiled: `node dev/prune-dist.js [root]`.

'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** The source a dist/ file was emitted from, or undefined for files tsc does not emit. */
function sourceOf(rel) {
  if (rel.endsWith('.js.map')) return `${rel.slice(0, -'.js.map'.length)}.ts`;
  if (rel.endsWith('.js')) return `${rel.slice(0, -'.js'.length)}.ts`;
  if (rel.endsWith('.json')) return rel; // resolveJsonModule copies imported JSON
  return undefined;
}

/** Removes stale outputs under root/dist; returns the relative paths removed. */
function pruneDist(root) {
  const dist = path.join(root, 'dist');
  const removed = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) {
        walk(abs);
        if (fs.readdirSync(abs).length === 0) fs.rmdirSync(abs);
        continue;
      }
      const rel = path.relative(dist, abs);
      const src = sourceOf(rel);
      if (src !== undefined && !fs.existsSync(path.join(root, src))) {
        fs.rmSync(abs, { force: true });
        removed.push(rel);
      }
    }
  };
  walk(dist);
  return removed;
}

if (require.main === module) {
  const removed = pruneDist(path.resolve(process.argv[2] ?? '.'));
  if (removed.length > 0) process.stdout.write(`pruned ${removed.length} stale file(s) from dist/\n`);
}

module.exports = { pruneDist };
