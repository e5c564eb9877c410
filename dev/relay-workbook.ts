// Generates the Azure Workbook deploy/azure-monitor/relay-workbook.json from the Kusto
// queries in deploy/azure-monitor/relay.kql (the one source: a query edited there reaches
// the workbook through this, never by hand):
//
//   node dist/dev/relay-workbook.js           prints the workbook
//   node dist/dev/relay-workbook.js --write   rewrites it (npm run docs:workbook)
//
// test/deploy/relay-queries.test.ts keeps the checked-in workbook in sync with the queries.

import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const repoRoot = resolve(__dirname, '..', '..');
export const RELAY_KQL = resolve(repoRoot, 'deploy/azure-monitor/relay.kql');
export const RELAY_WORKBOOK = resolve(repoRoot, 'deploy/azure-monitor/relay-workbook.json');
export const REGENERATE_HINT = 'run `npm run docs:workbook` to regenerate it';

export interface KqlQuery {
  title: string;
  /** the query as written, `| render …` included */
  text: string;
}

/** The file's queries: each starts at a `// ## <title>` line; other comment lines are not query text. */
export function parseKqlQueries(kql: string): KqlQuery[] {
  const out: KqlQuery[] = [];
  for (const line of kql.split('\n')) {
    const head = /^\/\/ ## (.+)$/.exec(line);
    if (head) out.push({ title: head[1].trim(), text: '' });
    else if (!line.startsWith('//') && out.length > 0) out[out.length - 1].text += `${line}\n`;
  }
  return out.map((q) => ({ ...q, text: q.text.trim() }));
}

/** `| render <chart>` as a workbook visualization; the Logs blade reads the render line, a workbook its own setting. */
const VISUALIZATIONS: Readonly<Record<string, string>> = { timechart: 'timechart' };
const DAY_MS = 24 * 3600 * 1000;

function queryItem(q: KqlQuery, i: number): Record<string, unknown> {
  const m = /\n\|\s*render\s+(\w+)\s*$/.exec(q.text);
  const visualization = m ? VISUALIZATIONS[m[1]] : 'table';
  if (visualization === undefined)
    throw new Error(`relay.kql, "${q.title}": render ${m?.[1]} has no workbook visualization (known: ${Object.keys(VISUALIZATIONS).join(', ')})`);
  return {
    type: 3,
    name: `query ${i + 1}`,
    content: {
      version: 'KqlItem/1.0',
      title: q.title,
      query: m ? q.text.slice(0, m.index) : q.text,
      size: 0,
      queryType: 0,
      resourceType: 'microsoft.insights/components',
      visualization,
      timeContextFromParameter: 'TimeRange',
      timeContext: { durationMs: DAY_MS },
    },
  };
}

/** The workbook (Notebook/1.0) as it is checked in: a heading, a time range picker, one chart per query. */
export function renderWorkbook(queries: readonly KqlQuery[]): string {
  const workbook = {
    version: 'Notebook/1.0',
    items: [
      {
        type: 1,
        name: 'heading',
        content: {
          json: "## Prometheus remote-write relay\nThe relay's custom metrics (customMetrics), sent when APPLICATIONINSIGHTS_CONNECTION_STRING is set. Generated from deploy/azure-monitor/relay.kql; docs/dashboards.md says what each chart shows.",
        },
      },
      {
        type: 9,
        name: 'parameters',
        content: {
          version: 'KqlParameterItem/1.0',
          parameters: [
            {
              id: 'relay-time-range',
              version: 'KqlParameterItem/1.0',
              name: 'TimeRange',
              label: 'Time range',
              type: 4,
              isRequired: true,
              value: { durationMs: DAY_MS },
              typeSettings: { selectableValues: [1, 4, 12, 24, 72, 168].map((h) => ({ durationMs: h * 3600 * 1000 })), allowCustom: true },
            },
          ],
          style: 'pills',
          queryType: 0,
          resourceType: 'microsoft.insights/components',
        },
      },
      ...queries.map(queryItem),
    ],
    $schema: 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json',
  };
  return `${JSON.stringify(workbook, null, 2)}\n`;
}

export function workbookFromKqlFile(path = RELAY_KQL): string {
  return renderWorkbook(parseKqlQueries(readFileSync(path, 'utf8')));
}

if (require.main === module) {
  const workbook = workbookFromKqlFile();
  if (process.argv.includes('--write')) {
    writeFileSync(RELAY_WORKBOOK, workbook);
    process.stdout.write(`wrote ${RELAY_WORKBOOK}\n`);
  } else {
    process.stdout.write(workbook);
  }
}
