// The Grafana dashboard of the forwarder (deploy/grafana/forwarder.json) read as data: its
// PromQL expressions, its variables, the metric names an expression names, and Grafana's
// variable expansion. The unit test holds the names to what the forwarder exports; the e2e
// evaluates the expanded expressions against a Prometheus scraping a real forwarder.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** from dist/e2e/lib, three levels up is the repository */
export const FORWARDER_DASHBOARD = resolve(__dirname, '..', '..', '..', 'deploy', 'grafana', 'forwarder.json');

export interface DashboardQuery {
  panel: string;
  refId: string;
  expr: string;
  /** the series' name on the chart: text with {{label}} placeholders */
  legend: string;
}

export interface DashboardVariable {
  name: string;
  type: string;
  /** the variable's query (label_values(…) for `query` variables, the plugin id for `datasource`) */
  query: string;
}

export interface Dashboard {
  title: string;
  queries: DashboardQuery[];
  variables: DashboardVariable[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Reads a dashboard JSON; throws naming the panel or variable that is malformed. */
export function parseDashboard(text: string): Dashboard {
  const d: unknown = JSON.parse(text);
  if (!isObject(d) || typeof d.title !== 'string') throw new Error('dashboard: not an object with a title');
  const queries: DashboardQuery[] = [];
  const walk = (panels: unknown[]): void => {
    for (const p of panels) {
      if (!isObject(p)) throw new Error('dashboard: a panel is not an object');
      const title = typeof p.title === 'string' ? p.title : `panel ${String(p.id)}`;
      walk(list(p.panels)); // rows hold their panels when collapsed
      for (const t of list(p.targets)) {
        if (!isObject(t) || typeof t.expr !== 'string' || t.expr.trim() === '') throw new Error(`dashboard: panel "${title}" has a target without expr`);
        queries.push({
          panel: title,
          refId: typeof t.refId === 'string' ? t.refId : '?',
          expr: t.expr,
          legend: typeof t.legendFormat === 'string' ? t.legendFormat : '',
        });
      }
    }
  };
  walk(list(d.panels));
  const templating = isObject(d.templating) ? d.templating : {};
  const variables = list(templating.list).map((v): DashboardVariable => {
    if (!isObject(v) || typeof v.name !== 'string' || typeof v.type !== 'string') throw new Error('dashboard: a variable without name or type');
    const q = isObject(v.query) ? v.query.query : v.query;
    if (typeof q !== 'string') throw new Error(`dashboard: variable ${v.name} has no query`);
    return { name: v.name, type: v.type, query: q };
  });
  return { title: d.title, queries, variables };
}

export function loadDashboard(path = FORWARDER_DASHBOARD): Dashboard {
  return parseDashboard(readFileSync(path, 'utf8'));
}

/** `label_values(<selector>, <label>)`, the Prometheus variable query this dashboard uses. */
export function parseLabelValues(query: string): { selector: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/.exec(query);
  return m ? { selector: m[1], label: m[2] } : undefined;
}

/** The labels a legend names ({{lane}} …): a series without one shows a blank in its name. */
export function legendLabels(legend: string): string[] {
  return [...legend.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((m) => m[1]);
}

/** The labels of every `by (…)` clause: what an aggregation keeps. */
export function groupingLabels(expr: string): string[] {
  return [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  );
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: bare names before `{…}`/`[…]` and
 * `__name__="…"` matchers; not functions, aggregations, keywords, label names in by/on
 * clauses, numbers, durations or Grafana variables.
 */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/__name__\s*=\s*"([^"\\]+)"/g)) names.add(m[1]);
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^{}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // grouping labels
    .replace(/\b(?:group_left|group_right)\b/g, ' ');
  const token = /(\$\{?\w+\}?)|(\d[\w.]*(?:[eE][+-]?\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)/g;
  for (const m of text.matchAll(token)) {
    const name = m[3];
    if (name === undefined || KEYWORDS.has(name.toLowerCase())) continue;
    const after = text.slice((m.index ?? 0) + name.length);
    if (/^\s*\(/.test(after)) continue; // a function or an aggregation
    names.add(name);
  }
  return [...names];
}

/**
 * Grafana's expansion of `$name` and `${name}`; throws naming any variable without a value,
 * so a dashboard using a variable it does not define fails rather than queries "$foo".
 */
export function expandVariables(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const v = values[name];
    if (v === undefined) throw new Error(`dashboard: ${whole} in "${expr}" has no value`);
    return v;
  });
}

/**
 * A multi-value variable's values as Grafana writes them into a PromQL regex matcher:
 * each regex-escaped (a backslash doubled for the PromQL string), joined with `|`.
 */
export function regexOf(values: readonly string[]): string {
  const escaped = values.map((v) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&'));
  return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
}
