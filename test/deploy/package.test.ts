// The package `func azure functionapp publish` would upload after docs/deploy.md step 4
// (npm ci, npm run build, npm prune --omit=dev): the built repository minus .funcignore,
// with only the production dependencies. It is assembled in a temporary folder and its entry
// point (package.json "main") loaded as the Functions worker would, outside the host. What
// this cannot show: the Functions host itself, or that Azure's Node matches the build's.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { funcignore } from './funcignore';
import { repoRoot } from '../../dev/kit/repo';
import { NATIVE_MODULE } from '../../shared/remote-write/native';

interface LockFile {
  packages: Record<string, { dev?: boolean }>;
}

/** Copies what .funcignore lets through (node_modules aside); returns the copied paths. */
function copyPackage(to: string): string[] {
  const ignored = funcignore(readFileSync(join(repoRoot, '.funcignore'), 'utf8'));
  const copied: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(repoRoot, rel), { withFileTypes: true })) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (path === 'node_modules' || path === '.git' || ignored(path, e.isDirectory())) continue;
      if (e.isDirectory()) walk(path);
      else {
        mkdirSync(dirname(join(to, path)), { recursive: true });
        copyFileSync(join(repoRoot, path), join(to, path));
        copied.push(path);
      }
    }
  };
  walk('');
  return copied;
}

/** node_modules as `npm prune --omit=dev` leaves it: the lock file's non-dev top-level packages. */
function linkProductionModules(to: string): string[] {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as LockFile;
  const top = Object.entries(lock.packages)
    .filter(([p, meta]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p) && meta.dev !== true)
    .map(([p]) => p);
  for (const p of top) {
    mkdirSync(dirname(join(to, p)), { recursive: true });
    symlinkSync(join(repoRoot, p), join(to, p), 'dir');
  }
  return top;
}

describe('the published package (.funcignore, production dependencies)', () => {
  let dir: string;
  let files: string[];
  let modules: string[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'relay-package-'));
    files = copyPackage(dir);
    modules = linkProductionModules(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const load = (env: Record<string, string>) =>
    spawnSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(`./${String((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { main: string }).main)}`)})`],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );

  test('holds the entry point, host.json and the built relay; no sources, tests, bench, docs, deploy or forwarder', () => {
    for (const f of ['host.json', 'package.json', 'dist/functions/index.js', 'dist/shared/relay/relay.js'])
      assert.ok(files.includes(f), `${f} is not in the package`);
    // native/ and dev/prune-dist.js stay: plain JS the package's install and build scripts run.
    const unwanted = files.filter((f) =>
      /\.ts$|\.js\.map$|^(test|bench|docs|deploy|local-proxy)\/|^dist\/(test|bench|dev|local-proxy)\/|^local\.settings/.test(f),
    );
    assert.deepEqual(unwanted, []);
    // The compiler is a dev dependency only (some @types come in through production packages).
    assert.ok(
      modules.includes('node_modules/@azure/functions') && !modules.includes('node_modules/typescript'),
      "the package's node_modules is not the production set",
    );
  });

  test('its entry point loads with production dependencies only, native fast path included when built', () => {
    const native = existsSync(NATIVE_MODULE);
    const r = load({
      INGESTION_URL:
        'https://dce.westeurope-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24',
      IDENTITY_TYPE: 'userAssigned',
      AZURE_CLIENT_ID: '11111111-1111-1111-1111-111111111111',
      NATIVE_FAST_PATH: native ? 'required' : 'auto',
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('a misconfigured app stops at start-up naming what to set', () => {
    const r = load({ IDENTITY_TYPE: 'userAssigned' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /INGESTION_URL is not set/);
    assert.match(r.stderr, /AZURE_CLIENT_ID/);
  });
});
