// docs/settings.md and local.settings.sample.json are generated from SETTINGS
// (dev/settings-doc.ts); these tests keep the checked-in files in sync and check the
// generator on tables the real one does not have yet (forwarder-only settings, odd characters).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BEGIN_MARKER,
  END_MARKER,
  checkLocalSettingsSample,
  checkSettingsDoc,
  checkSettingsDocs,
  initialSettingsDocFile,
  renderLocalSettingsSample,
  renderSettingsDoc,
  replaceSettingsRegion,
  settingsDocPaths,
  writeSettingsDocs,
} from '../../dev/settings-doc';
import { applyLocalSettings } from '../../dev/local-settings';
import { loadRelayConfig } from '../../shared/relay/config';
import { ConfigError } from '../../shared/config/loaders';
import { SETTINGS, type SettingSpec } from '../../shared/config/settings';
import { repoRoot } from '../../dev/kit/repo';

const paths = settingsDocPaths(repoRoot);

/** The rows of the table under `## <heading starting with prefix>`, as cell arrays; undefined when the section has no table. */
function tableRows(markdown: string, headingPrefix: string): string[][] | undefined {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`## ${headingPrefix}`));
  assert.ok(start >= 0, `no "## ${headingPrefix}" section`);
  const rows: string[][] = [];
  for (let i = start + 1; i < lines.length && !lines[i].startsWith('## '); i++) {
    if (!lines[i].startsWith('| ')) continue;
    rows.push(lines[i].slice(2, -2).split(/(?<!\\) \| /));
  }
  if (rows.length === 0) return undefined;
  assert.deepEqual(rows[0], ['Setting', 'Default', 'Description']);
  assert.deepEqual(rows[1], ['---', '---', '---']);
  return rows.slice(2);
}

const names = (rows: string[][] | undefined): string[] => (rows ?? []).map((r) => r[0].replace(/`/g, ''));

describe('checked-in files', () => {
  it('docs/settings.md and local.settings.sample.json match shared/config/settings.ts', () => {
    const problems = checkSettingsDocs(paths);
    assert.deepEqual(problems, [], `${problems.join('\n')}\n(run \`npm run docs:settings\` and commit the result)`);
  });

  it('the generated doc has a relay and a forwarder table, each listing its settings once, in table order', () => {
    const doc = renderSettingsDoc();
    assert.deepEqual(
      names(tableRows(doc, 'Relay')),
      SETTINGS.filter((s) => s.components.includes('relay')).map((s) => s.name),
    );
    assert.deepEqual(
      names(tableRows(doc, 'Forwarder')),
      SETTINGS.filter((s) => s.components.includes('forwarder')).map((s) => s.name),
    );
  });

  it('local.settings.sample.json holds every relay setting with its default and a //comment', () => {
    const sample = JSON.parse(readFileSync(paths.sample, 'utf8')) as { IsEncrypted: boolean; Values: Record<string, string> };
    assert.equal(sample.IsEncrypted, false);
    assert.equal(sample.Values.FUNCTIONS_WORKER_RUNTIME, 'node');
    assert.equal(sample.Values.AzureWebJobsStorage, '');
    for (const s of SETTINGS) {
      if (!s.components.includes('relay')) {
        assert.equal(sample.Values[s.name], undefined, `${s.name} is not a relay setting`);
        continue;
      }
      assert.equal(typeof sample.Values[s.name], 'string', s.name);
      if (s.default !== undefined) assert.equal(sample.Values[s.name], s.default, s.name);
      if (s.secret) assert.equal(sample.Values[s.name], '', `secret ${s.name} must have no sample value`);
      assert.ok(sample.Values[`//${s.name}`]?.includes(s.description), `//${s.name} holds the description`);
    }
    for (const k of Object.keys(sample.Values)) {
      if (k.startsWith('//')) assert.ok(k.slice(2) in sample.Values, `${k} documents no key`);
    }
  });

  it('the sample, applied like func start does, loads once INGESTION_URL is filled in, and names INGESTION_URL until then', () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-sample-'));
    try {
      const file = join(dir, 'local.settings.json');
      writeFileSync(file, readFileSync(paths.sample));
      const env: NodeJS.ProcessEnv = {};
      const applied = applyLocalSettings(env, file);
      assert.ok(applied.length > 0);
      assert.ok(
        applied.every((k) => !k.startsWith('//')),
        'comment keys are not applied',
      );
      assert.throws(
        () => loadRelayConfig(env),
        (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && err.problems[0].startsWith('INGESTION_URL'),
      );
      const url =
        'https://dce.eastus-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24';
      assert.deepEqual(loadRelayConfig({ ...env, INGESTION_URL: url }), loadRelayConfig({ INGESTION_URL: url }), 'sample values are the defaults');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('renderSettingsDoc', () => {
  const table: SettingSpec[] = [
    { name: 'SHARED_ONE', default: '32MiB', components: ['relay', 'forwarder'], description: 'Used by both.' },
    { name: 'RELAY_SECRET', components: ['relay'], secret: true, description: 'A secret with a | pipe and a <placeholder> and `code <kept>`.' },
    { name: 'FORWARDER_PORT', default: '8081', components: ['forwarder'], description: 'Port the forwarder listens on,\nover two lines.' },
  ];

  it('renders one table per component, a setting in every table it belongs to', () => {
    const md = renderSettingsDoc(table);
    assert.deepEqual(names(tableRows(md, 'Relay')), ['SHARED_ONE', 'RELAY_SECRET']);
    assert.deepEqual(names(tableRows(md, 'Forwarder')), ['SHARED_ONE', 'FORWARDER_PORT']);
    assert.ok(md.indexOf('## Relay') < md.indexOf('## Forwarder'));
  });

  it('shows defaults as code and a dash when there is none', () => {
    const rows = tableRows(renderSettingsDoc(table), 'Forwarder')!;
    assert.deepEqual(
      rows.map((r) => r[1]),
      ['`32MiB`', '`8081`'],
    );
    assert.equal(tableRows(renderSettingsDoc(table), 'Relay')![1][1], '—');
  });

  it('marks secrets and only secrets', () => {
    const rows = tableRows(renderSettingsDoc(table), 'Relay')!;
    assert.match(rows[1][2], /^\*\*Secret:\*\*/);
    assert.doesNotMatch(rows[0][2], /Secret/);
  });

  it('keeps every row on one line and escapes pipes, and < outside code', () => {
    const md = renderSettingsDoc(table);
    const secretRow = md.split('\n').find((l) => l.startsWith('| `RELAY_SECRET`'))!;
    assert.ok(secretRow.includes('a \\| pipe'));
    assert.ok(secretRow.includes('&lt;placeholder>'));
    assert.ok(secretRow.includes('`code <kept>`'));
    assert.equal(tableRows(md, 'Relay')![1].length, 3, 'the escaped pipe does not add a column');
    assert.ok(md.includes('| Port the forwarder listens on, over two lines. |'));
  });

  it('handles a component with no settings (the forwarder today, or the relay)', () => {
    const relayOnly = renderSettingsDoc(table.filter((s) => !s.components.includes('forwarder')));
    assert.equal(tableRows(relayOnly, 'Forwarder'), undefined);
    assert.match(relayOnly, /## Forwarder[^\n]*\n\n_No settings yet\._/);
    assert.deepEqual(names(tableRows(relayOnly, 'Relay')), ['RELAY_SECRET']);
    const forwarderOnly = renderSettingsDoc([table[2]]);
    assert.equal(tableRows(forwarderOnly, 'Relay'), undefined);
    assert.deepEqual(names(tableRows(forwarderOnly, 'Forwarder')), ['FORWARDER_PORT']);
  });

  it('renders the real table with every setting', () => {
    const md = renderSettingsDoc();
    for (const s of SETTINGS) assert.ok(md.includes(`| \`${s.name}\` |`), s.name);
  });
});

describe('checkSettingsDoc and replaceSettingsRegion', () => {
  const fresh = initialSettingsDocFile();

  it('a freshly generated file is in sync and has the intro', () => {
    assert.equal(checkSettingsDoc(fresh), undefined);
    assert.match(fresh, /environment/i);
    assert.match(fresh, /local\.settings\.json/);
    assert.match(fresh, /KiB, MiB or GiB/);
    assert.match(fresh, /500ms/);
    assert.ok(fresh.indexOf(BEGIN_MARKER) < fresh.indexOf(END_MARKER));
  });

  it('text outside the markers is kept and not checked', () => {
    const edited = fresh.replace('# Settings', '# Settings\n\nA hand-written paragraph.') + '\nA footer.\n';
    assert.equal(checkSettingsDoc(edited), undefined);
    assert.equal(replaceSettingsRegion(edited), edited);
  });

  it('CRLF line endings are accepted', () => {
    assert.equal(checkSettingsDoc(fresh.replace(/\n/g, '\r\n')), undefined);
  });

  it('a stale default is caught, telling the user to run npm run docs:settings', () => {
    const stale = fresh.replace('| `MAX_BODY_BYTES` | `32MiB` |', '| `MAX_BODY_BYTES` | `16MiB` |');
    assert.notEqual(stale, fresh);
    const problem = checkSettingsDoc(stale);
    assert.match(problem ?? '', /out of date/);
    assert.match(problem ?? '', /npm run docs:settings/);
    assert.equal(checkSettingsDoc(replaceSettingsRegion(stale)), undefined, 'regenerating fixes it');
  });

  it('a missing setting row is caught', () => {
    const lines = fresh.split('\n');
    const without = lines.filter((l) => !l.startsWith('| `CLUSTER`')).join('\n');
    assert.match(checkSettingsDoc(without) ?? '', /npm run docs:settings/);
  });

  it('missing markers are reported, not silently passed', () => {
    assert.match(checkSettingsDoc('# Settings\n\nnothing here\n') ?? '', /settings:begin.*npm run docs:settings/);
    assert.throws(() => replaceSettingsRegion('# Settings\n'), /settings:begin/);
  });
});

describe('local.settings.sample.json generation', () => {
  it('is valid JSON with the //NAME comment right before each setting', () => {
    const text = renderLocalSettingsSample();
    const keys = Object.keys((JSON.parse(text) as { Values: Record<string, string> }).Values);
    for (let i = 0; i < keys.length; i += 2) {
      assert.equal(keys[i], `//${keys[i + 1]}`);
    }
    assert.ok(text.endsWith('}\n'));
  });

  it('leaves out forwarder-only settings and gives no example values to secrets', () => {
    const values = (
      JSON.parse(
        renderLocalSettingsSample([
          { name: 'FORWARDER_PORT', default: '8081', components: ['forwarder'], description: 'forwarder only' },
          { name: 'SOME_SECRET', components: ['relay'], secret: true, description: 'secret' },
          { name: 'INGESTION_URL', components: ['relay', 'forwarder'], description: 'where to send' },
        ]),
      ) as { Values: Record<string, string> }
    ).Values;
    assert.equal(values.FORWARDER_PORT, undefined);
    assert.equal(values.SOME_SECRET, '');
    assert.match(values['//SOME_SECRET'], /^Secret/);
    assert.match(values.INGESTION_URL, /^https:\/\/<dce>.*\/dataCollectionRules\//);
  });

  it('a stale sample is caught, telling the user to run npm run docs:settings', () => {
    const stale = renderLocalSettingsSample().replace('"MAX_BODY_BYTES": "32MiB"', '"MAX_BODY_BYTES": "16MiB"');
    assert.match(checkLocalSettingsSample(stale) ?? '', /out of date.*npm run docs:settings/);
    assert.equal(checkLocalSettingsSample(renderLocalSettingsSample().replace(/\n/g, '\r\n')), undefined);
  });

  it('writeSettingsDocs creates both files, then finds nothing to change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-doc-'));
    try {
      const p = { doc: join(dir, 'settings.md'), sample: join(dir, 'sample.json') };
      assert.deepEqual(checkSettingsDocs(p).length, 2);
      assert.deepEqual(writeSettingsDocs(p), [p.doc, p.sample]);
      assert.deepEqual(checkSettingsDocs(p), []);
      assert.deepEqual(writeSettingsDocs(p), []);
      writeFileSync(p.doc, readFileSync(p.doc, 'utf8').replace('`20s`', '`10s`') + '\nkept\n');
      assert.deepEqual(writeSettingsDocs(p), [p.doc]);
      assert.ok(readFileSync(p.doc, 'utf8').endsWith('\nkept\n'));
      assert.deepEqual(checkSettingsDocs(p), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
