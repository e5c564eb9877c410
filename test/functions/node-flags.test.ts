// The relay runs with the same Node.js flags however it is started: in Azure (NODE_OPTIONS in
// the template), `npm run relay`, `npm start`, and (in code) the bench and the e2e, so what
// the bench measures is what ships.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RELAY_NODE_FLAGS } from '../../functions/node-flags';
import { repoRoot } from '../../dev/kit/repo';

describe('relay node flags', () => {
  it('the template sets NODE_OPTIONS to RELAY_NODE_FLAGS; `npm run relay` and `npm start` pass them', () => {
    const bicep = readFileSync(path.join(repoRoot, 'deploy/azure/main.bicep'), 'utf8');
    const setting = /name: 'NODE_OPTIONS'\s+value: '([^']*)'/.exec(bicep);
    assert.ok(setting, 'main.bicep has a NODE_OPTIONS app setting');
    assert.equal(setting[1], RELAY_NODE_FLAGS.join(' '));
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.ok(pkg.scripts.relay.endsWith(`node ${RELAY_NODE_FLAGS.join(' ')} dist/dev/relay-host.js`), pkg.scripts.relay);
    assert.ok(pkg.scripts.start.endsWith(`node ${RELAY_NODE_FLAGS.join(' ')} dist/dev/start.js`), pkg.scripts.start);
  });

  it('each flag is one Node.js takes in NODE_OPTIONS', () => {
    for (const f of RELAY_NODE_FLAGS) assert.ok(process.allowedNodeEnvironmentFlags.has(f.split('=')[0]), `${f} is allowed in NODE_OPTIONS`);
  });
});
