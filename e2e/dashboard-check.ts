// The forwarder's Grafana dashboard (deploy/grafana/forwarder.json) run against the e2e's
// forwarder, as Grafana would render it over the whole run: its variables resolved through
// the Prometheus API (label_values, "All" selected), then every panel query as a range query.
// Each must return data, every series must carry the labels its legend names, and every
// metric a query names must come from the forwarder's own scrape job: a misspelt or removed
// metric fails here, not on an operator's screen.

import { expandVariables, legendLabels, loadDashboard, metricNames, parseLabelValues, regexOf } from './lib/dashboard';
import { http } from './lib/util';
import { FORWARDER_JOB, SCRAPE_INTERVAL_S, type Topology } from './topology';

/** the step of the range queries: a panel about 70 points wide over a 6-minute run */
const STEP_S = 5;
/** Grafana's $__rate_interval with the datasource's scrape interval set to ours: max(step + scrape, 4 scrapes) */
const RATE_INTERVAL_S = Math.max(STEP_S + SCRAPE_INTERVAL_S, 4 * SCRAPE_INTERVAL_S);

export interface DashboardCheck {
  evidence: string[];
  problems: string[];
}

/**
 * A write request the forwarder must refuse (zstd, which vmagent ≥ 1.116 tries first), sent
 * at the start of the run: the faults never make the forwarder refuse anything, so without
 * it the refusals panel would have nothing to show. Returns a problem, or undefined.
 */
export async function provokeRefusal(top: Topology): Promise<string | undefined> {
  const r = await http(`${top.forwarderUrl}/api/v1/write`, {
    method: 'POST',
    headers: { 'content-encoding': 'zstd', 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0' },
    body: 'not zstd either',
  });
  return r.status === 415 ? undefined : `the forwarder answered a zstd body ${r.status}, not 415: ${r.text.trim()}`;
}

export async function checkDashboard(top: Topology, fromMs: number): Promise<DashboardCheck> {
  const evidence: string[] = [];
  const problems: string[] = [];
  const dashboard = loadDashboard();
  const api = top.dashboardApi;
  const toMs = Date.now();
  const values: Record<string, string> = { __rate_interval: `${RATE_INTERVAL_S}s`, __interval: `${STEP_S}s`, __range: `${Math.ceil((toMs - fromMs) / 1000)}s` };

  // Variables in order (instance's query uses $job), each with every value selected.
  for (const v of dashboard.variables) {
    if (v.type === 'datasource') continue;
    const lv = parseLabelValues(v.query);
    if (!lv) {
      problems.push(`variable ${v.name}: ${v.query} is not label_values(<selector>, <label>)`);
      continue;
    }
    const got = await api.labelValues(lv.label, expandVariables(lv.selector, values), fromMs, toMs);
    if (got.length === 0) problems.push(`variable ${v.name}: ${v.query} has no values`);
    values[v.name] = regexOf(got);
    evidence.push(`variable ${v.name} = ${got.join(', ') || '(none)'}`);
  }
  if (problems.length > 0) return { evidence, problems };

  // Every metric named must be the forwarder's: process_* and nodejs_* exist in other jobs too.
  const usedBy = new Map<string, Set<string>>();
  for (const q of dashboard.queries) for (const n of metricNames(q.expr)) usedBy.set(n, (usedBy.get(n) ?? new Set()).add(q.panel));
  for (const [name, panels] of usedBy) {
    const series = await api.series(`{__name__="${name}", job="${FORWARDER_JOB}"}`, fromMs, toMs);
    if (series.length === 0)
      problems.push(
        `${name} (panels: ${[...panels].join('; ')}): no series from job="${FORWARDER_JOB}" over the run (the forwarder does not export it, or it never had a value)`,
      );
  }

  let series = 0;
  let points = 0;
  for (const q of dashboard.queries) {
    const expr = expandVariables(q.expr, values);
    try {
      const rows = await api.matrix(expr, fromMs, toMs, STEP_S);
      const finite = rows.reduce((n, r) => n + r.values.filter(([, v]) => Number.isFinite(Number(v))).length, 0);
      series += rows.length;
      points += finite;
      if (finite === 0) problems.push(`panel "${q.panel}" query ${q.refId} returned no data over the run: ${expr}`);
      for (const l of legendLabels(q.legend)) {
        const without = rows.filter((r) => r.labels[l] === undefined).length;
        if (without > 0)
          problems.push(`panel "${q.panel}" query ${q.refId}: its legend names {{${l}}} but ${without} of ${rows.length} series have no ${l} label`);
      }
    } catch (err) {
      problems.push(`panel "${q.panel}" query ${q.refId} failed: ${(err as Error).message}`);
    }
  }
  const panels = new Set(dashboard.queries.map((q) => q.panel)).size;
  evidence.push(
    `${dashboard.queries.length} queries of ${panels} panels over ${values.__range} (step ${STEP_S} s, $__rate_interval ${values.__rate_interval}): ${series} series, ${points} points; ${usedBy.size} metrics, all from job="${FORWARDER_JOB}"`,
  );
  return { evidence, problems };
}
