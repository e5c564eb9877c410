// `npm ci` / `npm install` run this (package.json "install"): compile native/fastpath.c
// with node-gyp. Without a C compiler or Node's headers it says so and exits 0: the relay
// and the forwarder then use the JS path alone (NATIVE_FAST_PATH=required makes that a
// start-up error instead). Plain JS: it runs before anything is built.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
// npm hands lifecycle scripts its bundled node-gyp; outside npm, try the one on PATH
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp ? process.execPath : 'node-gyp';
const args = gyp ? [gyp, 'rebuild'] : ['rebuild'];
const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status === 0) {
  process.stdout.write('native fast path built: build/Release/fastpath.node\n');
} else {
  const why = r.error
    ? r.error.message
    : (r.stderr || '')
        .split('\n')
        .filter((l) => /ERR!|error/i.test(l))
        .slice(0, 3)
        .join(' | ');
  process.stderr.write(`native fast path not built (the JS path serves alone): ${why || `node-gyp exited with ${r.status}`}\n`);
}
