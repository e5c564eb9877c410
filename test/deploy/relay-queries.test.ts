// The Kusto queries over the relay's Application Insights metrics (deploy/azure-monitor/
// relay.kql) against what the relay's telemetry actually emits: every metric name a query
// uses is one the relay sends, every customDimensions key one that metric carries, and every
// metric the relay sends has a query. What is emitted is recorded from the real adapter
// (telemetryFrom), every method of it called, so a metric added there is seen here. And the
// Azure Workbook generated from the queries (dev/relay-workbook.ts) is up to date.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  type KqlQuery as Query,
  RELAY_KQL,
  RELAY_WORKBOOK,
  REGENERATE_HINT,
  parseKqlQueries as parseQueries,
  renderWorkbook,
  workbookFromKqlFile,
} from '../../dev/relay-workbook';
import { telemetryFrom } from '../../shared/observability/telemetry';
import { repoRoot } from '../../dev/kit/repo';

/** Metric name → the customDimensions keys it carries, as sent through trackMetric. */
function emittedMetrics(): Map<string, Set<string>> {
  const seen = new Map<string, Set<string>>();
  const telemetry = telemetryFrom({
    trackMetric: (m) => {
      const keys = seen.get(m.name) ?? new Set<string>();
      for (const k of Object.keys(m.properties ?? {})) keys.add(k);
      seen.set(m.name, keys);
    },
    flush: () => undefined,
  });
  for (const [method, fn] of Object.entries(telemetry)) {
    if (method === 'flush') continue;
    // every emitting method takes (label or count, count?): call each with both kinds of argument
    (fn as (...args: unknown[]) => void)('x', 1);
  }
  return seen;
}

const metricNamesIn = (text: string): string[] => [...new Set([...text.matchAll(/"(relay\.[a-z0-9_.]+)"/g)].map((m) => m[1]))];
const dimensionsIn = (text: string): string[] => [
  ...new Set([...text.matchAll(/customDimensions(?:\.([A-Za-z_]\w*)|\[\s*["']([^"']+)["']\s*\])/g)].map((m) => m[1] ?? m[2])),
];

/** What is wrong with the queries against what the relay emits: one line each. */
function problemsIn(queries: Query[], emitted: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  for (const q of queries) {
    if (!/^customMetrics\b/m.test(q.text)) problems.push(`"${q.title}" does not read customMetrics`);
    const names = metricNamesIn(q.text);
    if (names.length === 0) problems.push(`"${q.title}" names no relay metric`);
    for (const n of names) if (!emitted.has(n)) problems.push(`"${q.title}": ${n} is not a metric the relay emits (${[...emitted.keys()].join(', ')})`);
    const carried = new Set(names.flatMap((n) => [...(emitted.get(n) ?? [])]));
    for (const d of dimensionsIn(q.text)) if (!carried.has(d)) problems.push(`"${q.title}": customDimensions.${d} is not carried by ${names.join(', ')}`);
  }
  return problems;
}

describe("Kusto queries over the relay's Application Insights metrics", () => {
  const queries = parseQueries(readFileSync(RELAY_KQL, 'utf8'));
  const emitted = emittedMetrics();

  it('the recorder sees what the relay emits (the names the README lists)', () => {
    for (const n of ['relay.samples_received', 'relay.samples_published', 'relay.rejections', 'relay.fanout_latency_ms']) assert.ok(emitted.has(n), n);
  });

  it('every query reads customMetrics and names only metrics the relay emits, with their own dimensions', () => {
    assert.ok(queries.length >= 5, `${queries.length} queries`);
    assert.deepEqual(problemsIn(queries, emitted), []);
  });

  it('every metric the relay emits has a query', () => {
    const used = new Set(queries.flatMap((q) => metricNamesIn(q.text)));
    assert.deepEqual(
      [...emitted.keys()].filter((n) => !used.has(n)),
      [],
    );
  });

  it('titles are unique (docs/dashboards.md refers to queries by title)', () => {
    const titles = queries.map((q) => q.title);
    assert.deepEqual(
      titles.filter((t, i) => titles.indexOf(t) !== i),
      [],
    );
    const docs = readFileSync(path.join(repoRoot, 'docs/dashboards.md'), 'utf8');
    for (const t of titles) assert.ok(docs.includes(t), `docs/dashboards.md does not describe "${t}"`);
  });

  it('the checks find a misspelt metric, a dimension the metric does not carry, and a query off customMetrics', () => {
    const bad = parseQueries(
      [
        '// ## misspelt',
        'customMetrics | where name == "relay.samples_recieved"',
        '// ## foreign dimension',
        'customMetrics | where name == "relay.rejections" | extend e = tostring(customDimensions["endpoint"])',
        '// ## wrong table',
        'traces | where message has "relay.rejections"',
      ].join('\n'),
    );
    const found = problemsIn(bad, emitted);
    assert.equal(found.length, 3, found.join('\n'));
    assert.match(found[0], /misspelt.*relay\.samples_recieved is not a metric/);
    assert.match(found[1], /customDimensions\.endpoint is not carried by relay\.rejections/);
    assert.match(found[2], /wrong table.*does not read customMetrics/);
  });
});

describe('the Azure Workbook generated from the queries', () => {
  it('is up to date with relay.kql', () => {
    assert.equal(readFileSync(RELAY_WORKBOOK, 'utf8'), workbookFromKqlFile(), `deploy/azure-monitor/relay-workbook.json is out of date: ${REGENERATE_HINT}`);
  });

  it("has one chart per query, on the time range parameter, without the Logs blade's render line", () => {
    const queries = parseQueries(readFileSync(RELAY_KQL, 'utf8'));
    const wb = JSON.parse(workbookFromKqlFile()) as {
      version: string;
      items: {
        type: number;
        content: { title?: string; query?: string; visualization?: string; timeContextFromParameter?: string; parameters?: { name: string }[] };
      }[];
    };
    assert.equal(wb.version, 'Notebook/1.0');
    const params = wb.items.find((i) => i.type === 9)?.content.parameters?.map((p) => p.name);
    assert.deepEqual(params, ['TimeRange']);
    const charts = wb.items.filter((i) => i.type === 3).map((i) => i.content);
    assert.deepEqual(
      charts.map((c) => c.title),
      queries.map((q) => q.title),
    );
    for (const c of charts) {
      assert.equal(c.timeContextFromParameter, 'TimeRange', c.title);
      assert.equal(c.visualization, 'timechart', c.title);
      assert.doesNotMatch(c.query ?? '', /render/, c.title);
      assert.match(c.query ?? '', /^customMetrics|^let /, c.title);
    }
  });

  it('refuses a chart it cannot show, naming the query', () => {
    assert.throws(
      () => renderWorkbook([{ title: 'pie', text: 'customMetrics\n| summarize count() by name\n| render piechart' }]),
      /"pie": render piechart has no workbook visualization/,
    );
  });
});
