// Generates the settings reference from the one table in shared/config/settings.ts:
//   - docs/settings.md: one markdown table per component, between
//     <!-- settings:begin --> and <!-- settings:end --> (the rest of the file is hand-written);
//   - local.settings.sample.json: every relay setting with its default, each with a
//     "//NAME" sibling holding its description.
//
//   node dist/dev/settings-doc.js           prints the markdown region
//   node dist/dev/settings-doc.js --write   rewrites both files (npm run docs:settings)
//   node dist/dev/settings-doc.js --check   exits 1 when either file is out of date
//
// test/config/settings-doc.test.ts keeps the checked-in files in sync with the table.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Component, SETTINGS, type SettingSpec } from '../shared/config/settings';

export const BEGIN_MARKER = '<!-- settings:begin -->';
export const END_MARKER = '<!-- settings:end -->';
export const REGENERATE_HINT = 'run `npm run docs:settings` to regenerate it';

/** Table order and headings; a new Component must be given a heading here (the type checks it). */
const COMPONENTS: Record<Component, string> = {
  relay: 'Relay: the Azure Function (and `npm run relay`)',
  forwarder: 'Forwarder: in the cluster (`local-proxy/`, `npm run proxy`)',
};

/** Values written to local.settings.sample.json for settings without a default. */
const SAMPLE_PLACEHOLDERS: Readonly<Record<string, string>> = {
  INGESTION_URL:
    'https://<dce>.<region>-1.metrics.ingest.monitor.azure.com/dataCollectionRules/<dcr-id>/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24',
};

const SECRET_NOTE = '**Secret:** never logged nor shown in health output.';

/** The markdown between the markers (markers excluded), ending in a newline. */
export function renderSettingsDoc(settings: readonly SettingSpec[] = SETTINGS): string {
  const out: string[] = ['<!-- generated from shared/config/settings.ts: edit that table, then run `npm run docs:settings` -->', ''];
  for (const [component, heading] of Object.entries(COMPONENTS) as [Component, string][]) {
    out.push(`## ${heading}`, '');
    const rows = settings.filter((s) => s.components.includes(component));
    if (rows.length === 0) {
      out.push('_No settings yet._', '');
      continue;
    }
    out.push('| Setting | Default | Description |', '| --- | --- | --- |');
    for (const s of rows) {
      const def = s.default !== undefined ? code(s.default) : '—';
      const desc = s.secret ? `${SECRET_NOTE} ${s.description}` : s.description;
      out.push(`| ${code(s.name)} | ${def} | ${cell(desc)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** An inline code span that survives any backticks in the value. */
function code(value: string): string {
  const escaped = value.replace(/\|/g, '\\|');
  const longestRun = Math.max(0, ...(value.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longestRun + 1);
  const pad = value.startsWith('`') || value.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${escaped}${pad}${fence}`;
}

/** One table cell: no line breaks, `|` escaped, `<` escaped outside code spans. */
function cell(text: string): string {
  return text
    .replace(/\s*\r?\n\s*/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '&lt;') : part))
    .join('`')
    .replace(/\|/g, '\\|');
}

/** The whole docs/settings.md for when it does not exist yet: a short intro, then the region. */
export function initialSettingsDocFile(region = renderSettingsDoc()): string {
  return [
    '# Settings',
    '',
    'Both the relay and the forwarder are configured only through settings named below.',
    '',
    "- **Where values come from.** Environment variables. On Azure these are the Function App's",
    '  application settings. Locally (`npm run relay`, `func start`) the `Values` of',
    '  `local.settings.json` are applied too, and variables already set in the environment win.',
    '  Copy `local.settings.sample.json` to `local.settings.json` to start: it lists every relay',
    '  setting with its default, and the `"//NAME"` entries beside them are comments.',
    '- **Blank means unset.** An empty value is the same as leaving the setting out: the default applies.',
    '- **Sizes** take bytes or a number with KiB, MiB or GiB: `33554432`, `32MiB`, `1.5GiB`.',
    '- **Durations** are Prometheus-style: `500ms`, `30s`, `2m`, `1h30m`.',
    '- **Mistakes stop start-up.** Every problem is reported at once, each naming the setting and',
    '  what to set it to.',
    '',
    BEGIN_MARKER,
    region.trimEnd(),
    END_MARKER,
    '',
  ].join('\n');
}

/** fileText with the region between the markers replaced; throws when the markers are missing. */
export function replaceSettingsRegion(fileText: string, region = renderSettingsDoc()): string {
  const begin = fileText.indexOf(BEGIN_MARKER);
  const end = fileText.indexOf(END_MARKER);
  if (begin < 0 || end < begin) throw new Error(`the settings doc has no ${BEGIN_MARKER} … ${END_MARKER} region`);
  return `${fileText.slice(0, begin + BEGIN_MARKER.length)}\n${region.trimEnd()}\n${fileText.slice(end)}`;
}

/** undefined when the region in fileText matches SETTINGS, otherwise what is wrong. */
export function checkSettingsDoc(fileText: string): string | undefined {
  const text = fileText.replace(/\r\n/g, '\n');
  let expected: string;
  try {
    expected = replaceSettingsRegion(text);
  } catch (err) {
    return `docs/settings.md: ${(err as Error).message}; ${REGENERATE_HINT}`;
  }
  if (expected === text) return undefined;
  return `docs/settings.md is out of date with shared/config/settings.ts (first difference at line ${firstDifferentLine(text, expected)}); ${REGENERATE_HINT}`;
}

/** local.settings.sample.json: {IsEncrypted, Values} with every relay setting and a "//NAME" comment each. */
export function renderLocalSettingsSample(settings: readonly SettingSpec[] = SETTINGS): string {
  const values: Record<string, string> = {
    '//FUNCTIONS_WORKER_RUNTIME': 'Language worker of the Functions host; this app is Node.js.',
    FUNCTIONS_WORKER_RUNTIME: 'node',
  };
  for (const s of settings.filter((x) => x.components.includes('relay'))) {
    const secret = s.secret ? 'Secret: never logged nor shown in health output; keep local.settings.json out of source control. ' : '';
    values[`//${s.name}`] = `${secret}${s.description}${s.default === undefined ? ' (no default; blank = unset)' : ''}`;
    values[s.name] = s.default ?? (s.secret ? '' : (SAMPLE_PLACEHOLDERS[s.name] ?? ''));
  }
  return `${JSON.stringify({ IsEncrypted: false, Values: values }, null, 2)}\n`;
}

/** undefined when the sample matches SETTINGS, otherwise what is wrong. */
export function checkLocalSettingsSample(fileText: string): string | undefined {
  const text = fileText.replace(/\r\n/g, '\n');
  const expected = renderLocalSettingsSample();
  if (text === expected) return undefined;
  return `local.settings.sample.json is out of date with shared/config/settings.ts (first difference at line ${firstDifferentLine(text, expected)}); ${REGENERATE_HINT}`;
}

function firstDifferentLine(a: string, b: string): number {
  const la = a.split('\n');
  const lb = b.split('\n');
  let i = 0;
  while (i < la.length && i < lb.length && la[i] === lb[i]) i++;
  return i + 1;
}

export interface SettingsDocPaths {
  doc: string;
  sample: string;
}

/** Where the generated files live, from the repo root (dist/dev → two levels up). */
export function settingsDocPaths(repoRoot = resolve(__dirname, '../..')): SettingsDocPaths {
  return { doc: resolve(repoRoot, 'docs/settings.md'), sample: resolve(repoRoot, 'local.settings.sample.json') };
}

/** Rewrites both files; returns the paths that changed. */
export function writeSettingsDocs(paths = settingsDocPaths()): string[] {
  const changed: string[] = [];
  const current = existsSync(paths.doc) ? readFileSync(paths.doc, 'utf8') : undefined;
  const doc = current === undefined ? initialSettingsDocFile() : replaceSettingsRegion(current.replace(/\r\n/g, '\n'));
  if (doc !== current) {
    writeFileSync(paths.doc, doc);
    changed.push(paths.doc);
  }
  const sample = renderLocalSettingsSample();
  if (!existsSync(paths.sample) || readFileSync(paths.sample, 'utf8') !== sample) {
    writeFileSync(paths.sample, sample);
    changed.push(paths.sample);
  }
  return changed;
}

/** Problems with the checked-in files, empty when both are in sync. */
export function checkSettingsDocs(paths = settingsDocPaths()): string[] {
  const problems: string[] = [];
  if (!existsSync(paths.doc)) problems.push(`docs/settings.md is missing; ${REGENERATE_HINT}`);
  else {
    const p = checkSettingsDoc(readFileSync(paths.doc, 'utf8'));
    if (p) problems.push(p);
  }
  if (!existsSync(paths.sample)) problems.push(`local.settings.sample.json is missing; ${REGENERATE_HINT}`);
  else {
    const p = checkLocalSettingsSample(readFileSync(paths.sample, 'utf8'));
    if (p) problems.push(p);
  }
  return problems;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.includes('--write')) {
    const changed = writeSettingsDocs();
    process.stdout.write(changed.length ? changed.map((p) => `wrote ${p}\n`).join('') : 'settings docs already up to date\n');
  } else if (args.includes('--check')) {
    const problems = checkSettingsDocs();
    for (const p of problems) process.stderr.write(`${p}\n`);
    process.exitCode = problems.length ? 1 : 0;
  } else {
    process.stdout.write(renderSettingsDoc());
  }
}
