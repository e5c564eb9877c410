// The e2e's process supervisor on the test kit's child handling: logs appended per
// name, stop = SIGTERM then SIGKILL after the grace, kill = SIGKILL at once, and a
// process that ends by itself (or never starts) reported as unexpected.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Supervisor } from '../../e2e/lib/supervisor';
import { tempDir } from '../../dev/kit/temp-dir';

describe('e2e supervisor', () => {
  const tmp = tempDir('e2e-supervisor-');
  const sup = new Supervisor(tmp.dir);
  const node = (name: string, src: string) =>
    sup.start({ name, command: process.execPath, args: ['-e', src], env: { PATH: process.env.PATH ?? '' }, cwd: tmp.dir });
  // the log's first line is the command, script included: look for whole lines
  const ready = async (logPath: string): Promise<void> => {
    for (let i = 0; i < 100 && !/^ready$/m.test(readFileSync(logPath, 'utf8')); i++) await new Promise((r) => setTimeout(r, 50));
  };

  test('stop: SIGTERM, then SIGKILL once the grace has passed; the output is in <name>.log; stopped is not unexpected', async () => {
    const p = node('stubborn', 'process.on("SIGTERM", () => console.log("ignored SIGTERM")); console.log("ready"); setInterval(() => {}, 1000);');
    await ready(p.logPath);
    const e = await sup.stop(p, 300);
    assert.equal(e.signal, 'SIGKILL');
    assert.match(readFileSync(p.logPath, 'utf8'), /start: .*\nready\nignored SIGTERM\n/);
    assert.deepEqual(sup.unexpectedExits(), []);
  });

  test('kill: SIGKILL at once; a process ending by itself and one that cannot start are unexpected exits', async () => {
    const p = node('crash', 'process.on("SIGTERM", () => console.log("got SIGTERM")); console.log("ready"); setInterval(() => {}, 1000);');
    await ready(p.logPath);
    assert.equal((await sup.kill(p)).signal, 'SIGKILL');
    assert.doesNotMatch(readFileSync(p.logPath, 'utf8'), /^got SIGTERM$/m);
    const quits = node('quits', 'process.exit(3)');
    assert.equal((await quits.exited).code, 3);
    const missing = sup.start({ name: 'missing', command: `${tmp.dir}/no-such-binary`, args: [], env: {}, cwd: tmp.dir });
    await missing.exited;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      sup.unexpectedExits().map((x) => x.spec.name),
      ['quits', 'missing'],
    );
    assert.match(readFileSync(missing.logPath, 'utf8'), /spawn failed: .*ENOENT/);
    assert.deepEqual(sup.running(), []);
    await sup.stopAll();
    tmp.remove();
  });
});
