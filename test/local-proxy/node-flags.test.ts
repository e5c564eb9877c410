// The forwarder runs with the same Node.js flags however it is started: the image, `npm run
// proxy`, and (in code) the bench and the e2e, so what the bench measures is what ships.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FORWARDER_NODE_FLAGS } from '../../local-proxy/node-flags';
import { repoRoot } from '../../dev/kit/repo';

describe('forwarder node flags', () => {
  it('the image ENTRYPOINT and `npm run proxy` start main.js with FORWARDER_NODE_FLAGS', () => {
    const docker = readFileSync(path.join(repoRoot, 'local-proxy/Dockerfile'), 'utf8');
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(docker);
    assert.ok(entry, 'the Dockerfile has an exec-form ENTRYPOINT');
    assert.deepEqual(JSON.parse(entry[1]), ['node', ...FORWARDER_NODE_FLAGS, 'dist/local-proxy/main.js']);
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.ok(pkg.scripts.proxy.endsWith(`node ${FORWARDER_NODE_FLAGS.join(' ')} dist/local-proxy/main.js`), pkg.scripts.proxy);
  });

  it('each flag is one this Node.js accepts', () => {
    for (const f of FORWARDER_NODE_FLAGS) assert.ok(process.allowedNodeEnvironmentFlags.has(f.split('=')[0]), `${f} is a known flag`);
  });
});
