// A newcomer's path through README.md: every command it shows is run by a test, by CI
// (.ci/run) or by the e2e, or the README marks it as needing Azure. This test lists the
// commands the README shows and fails on one it cannot place, checks that the test, CI step or
// script said to run each really does, and itself runs the ones nothing else runs.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { repoRoot } from '../../dev/kit/repo';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
const NEEDS_AZURE = /needs Azure/i;

interface Shown {
  command: string;
  /** `npm start`, `npm run proxy`, `apt-get install`: what identifies the command */
  key: string;
}

/** `npm run x` / `npm start` / `sudo apt-get install …` → the key; env assignments and sudo left out. */
function keyOf(command: string): string {
  const words = command
    .replace(/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+/, '')
    .replace(/^sudo\s+/, '')
    .split(/\s+/);
  return words.slice(0, words[0] === 'npm' && words[1] === 'run' ? 3 : 2).join(' ');
}

/**
 * The commands README.md shows, leaving out those marked as needing Azure. A mark covers the
 * table row or paragraph it is in, the code block right after its paragraph, or, as "every
 * command in this section needs Azure", its whole `##` section.
 */
function readmeCommands(md: string): Shown[] {
  const out: Shown[] = [];
  const add = (text: string): void => {
    for (const part of text.split('&&')) {
      const command = part.replace(/\s+#.*$/, '').trim();
      if (command !== '') out.push({ command, key: keyOf(command) });
    }
  };
  const fence = /```sh\n([\s\S]*?)```/g;
  for (const section of md.split(/^(?=## )/m)) {
    if (/every command in this section \**needs Azure/i.test(section)) continue;
    // Code blocks: marked by the paragraph just before them.
    for (const m of section.matchAll(fence)) {
      const before =
        section
          .slice(0, m.index)
          .trimEnd()
          .split(/\n\s*\n/)
          .pop() ?? '';
      if (!NEEDS_AZURE.test(before)) for (const line of m[1].split('\n')) add(line);
    }
    // Inline code outside the blocks: in a table the command column of a row not marked, in
    // prose a paragraph not marked.
    for (const para of section.replace(fence, '').split(/\n\s*\n/)) {
      for (const line of para.split('\n')) {
        const inTable = line.startsWith('|');
        if (NEEDS_AZURE.test(inTable ? line : para)) continue;
        const text = inTable ? (line.split(/(?<!\\)\|/)[1] ?? '') : line;
        for (const m of text.matchAll(/`((?:sudo )?(?:npm|func|az|kubectl|helm|curl|apt-get) [^`]*)`/g)) add(m[1]);
      }
    }
  }
  return out;
}

/** The file an npm script runs after building (`npm run build --silent && node dist/<file>`). */
function scriptTarget(script: string): string {
  // node flags may come first (functions/node-flags.ts)
  const m = /node (?:--\S+ )*(dist\/\S+\.js)/.exec(scripts[script] ?? '');
  assert.ok(m, `package.json script ${script} does not run a dist/ file: ${scripts[script]}`);
  return m[1];
}

// Where each command runs, and a string that proves it there.
const RUN_ELSEWHERE: Readonly<Record<string, { file: string; evidence: string }>> = {
  'npm ci': { file: '.ci/run', evidence: '\nnpm ci ' },
  'npm test': { file: '.ci/run', evidence: '" npm test\n' },
  'npm run e2e': { file: '.ci/run', evidence: 'npm run e2e' },
  'npm run format:check': { file: '.ci/run', evidence: '\nnpm run format:check\n' },
  'npm run lint': { file: '.ci/run', evidence: '\nnpm run lint\n' },
  'apt-get install': { file: '.ci/run', evidence: 'E2E_PACKAGES="prometheus victoria-metrics prometheus-node-exporter"' },
  // npm test builds first; a broken build fails every test.
  'npm run build': { file: 'package.json', evidence: '"test": "npm run build --silent && ' },
  'npm start': { file: 'test/dev/relay-host.test.ts', evidence: `run('${scriptTarget('start').slice('dist/'.length)}'` },
  'npm run relay': { file: 'test/dev/relay-host.test.ts', evidence: `run('${scriptTarget('relay').slice('dist/'.length)}'` },
  // relay-host.test.ts's README test: npm start, then the forwarder with RELAY_URL (spawnForwarder runs dist/local-proxy/main.js).
  'npm run proxy': { file: 'test/dev/relay-host.test.ts', evidence: 'spawnForwarder({ RELAY_URL: writeUrl' },
};
// The ones the tests below run.
const RUN_HERE = ['npm run fuzz', 'npm run bench', 'npm run docs:settings', 'npm run docs:workbook', 'npm run format', 'npm run clean'];

describe('README.md commands', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'readme-'));
    dirs.push(d);
    return d;
  };
  const node = (file: string, env: Record<string, string>, args: string[] = []) =>
    spawnSync(process.execPath, [join(repoRoot, file), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });

  test('every command the README shows is run by a test, by CI or by the e2e, or is marked as needing Azure', () => {
    const shown = readmeCommands(readme);
    assert.ok(shown.length >= 10, `found only ${shown.length} commands: the reader of README.md is broken`);
    const unplaced = shown.filter((s) => !(s.key in RUN_ELSEWHERE) && !RUN_HERE.includes(s.key));
    assert.deepEqual(
      unplaced.map((s) => s.command),
      [],
      'README commands no test runs: add a test, or mark them "needs Azure" where that is why',
    );
    for (const key of new Set(shown.map((s) => s.key))) {
      const where = RUN_ELSEWHERE[key];
      if (where)
        assert.ok(
          readFileSync(join(repoRoot, where.file), 'utf8').includes(where.evidence),
          `${key}: ${where.file} no longer holds ${JSON.stringify(where.evidence)}`,
        );
    }
  });

  test("the README's commands are found, and a mark leaves out only what it marks", () => {
    const md = [
      '# T\n\nRun `npm start`.\n\n| `npm run a` | as `func start` would |\n| `func start` | needs Azure |\n\nNeeds Azure:\n\n```sh\naz login\n```\n',
      '```sh\nFOO=1 npm run b && sudo apt-get install -y x   # once\n```\n\n',
      '## Deploy\n\nEvery command in this section **needs Azure**.\n\n```sh\naz group create\n```\n\nThen `func azure functionapp publish`.\n\n',
      '## After\n\n`npm run c`\n',
    ].join('');
    assert.deepEqual(
      readmeCommands(md).map((s) => s.key),
      ['npm run b', 'apt-get install', 'npm start', 'npm run a', 'npm run c'],
    );
  });

  test('npm run fuzz: a bounded run of the full harness passes', () => {
    const r = node(scriptTarget('fuzz'), { FUZZ_CASES: '4', FUZZ_TENANT_CASES: '2', FUZZ_HTTP: '0', FUZZ_SEED: '1' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /violations: 0/);
    assert.match(r.stdout, /^PASS$/m);
  });

  test('npm run bench: starts, builds its payloads and sinks and writes its report (no section measured: a full run takes minutes)', () => {
    const out = join(tmp(), 'latest.md');
    const r = node(scriptTarget('bench'), { BENCH_ONLY: 'none', BENCH_OUT: out });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(readFileSync(out, 'utf8'), /^# Benchmark results/);
  });

  test('npm run docs:settings: the generator finds the committed docs/settings.md and sample in sync', () => {
    assert.match(scripts['docs:settings'], /settings-doc\.js --write$/);
    const r = node(scriptTarget('docs:settings'), {}, ['--check']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('npm run docs:workbook: the generator renders the committed workbook from relay.kql', () => {
    assert.match(scripts['docs:workbook'], /relay-workbook\.js --write$/);
    // without --write it prints what --write would write
    const r = node(scriptTarget('docs:workbook'), {}, []);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, readFileSync(join(repoRoot, 'deploy/azure-monitor/relay-workbook.json'), 'utf8'));
  });

  test("npm run format: rewrites code in the repo's style; generated files, Markdown and captures are left as they are", () => {
    // The repo's own Prettier config and ignore file, over a small tree in a temporary directory.
    const dir = tmp();
    for (const f of ['.prettierrc.json', '.prettierignore']) writeFileSync(join(dir, f), readFileSync(join(repoRoot, f)));
    // each as Prettier would not write it: a table it would pad, an array it would join
    const untouched = new Map(
      [
        'docs/settings.md',
        'local.settings.sample.json',
        'deploy/azure-monitor/relay-workbook.json',
        'deploy/grafana/forwarder.json',
        'test/fixtures/p/req-0001.headers.json',
      ].map((f) => [f, f.endsWith('.md') ? '| a | b |\n| --- | --- |\n| longer cell | c |\n' : '{"a":[\n1]}\n']),
    );
    for (const [f, text] of untouched) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    writeFileSync(join(dir, 'x.ts'), 'export const a = "b"\n');
    writeFileSync(join(dir, 'values.yaml'), "url: 'http://x'\n");
    const run = (script: string) =>
      spawnSync('sh', ['-c', scripts[script]], {
        cwd: dir,
        env: { PATH: `${join(repoRoot, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const before = run('format:check');
    assert.equal(before.status, 1, before.stdout + before.stderr);
    assert.match(before.stdout + before.stderr, /x\.ts/);
    const r = run('format');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(join(dir, 'x.ts'), 'utf8'), "export const a = 'b';\n");
    assert.equal(readFileSync(join(dir, 'values.yaml'), 'utf8'), 'url: "http://x"\n', 'YAML keeps double quotes');
    for (const [f, text] of untouched) assert.equal(readFileSync(join(dir, f), 'utf8'), text, `${f} was reformatted`);
    const after = run('format:check');
    assert.equal(after.status, 0, after.stdout + after.stderr);
  });

  test('npm run clean: empties dist/', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'dist/sub'), { recursive: true });
    writeFileSync(join(dir, 'dist/sub/x.js'), '');
    const r = spawnSync('sh', ['-c', scripts.clean], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(join(dir, 'dist')), false);
  });
});
