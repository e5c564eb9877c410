// The forwarder's Grafana dashboard (deploy/grafana/forwarder.json) against what a real
// forwarder serves on /metrics: every metric an expression names must be exported, every
// relay_proxy_ family must have a panel, and the JSON must import (a datasource variable,
// every panel on it). The e2e then evaluates each expression against a Prometheus that
// scrapes a forwarder under load; this test is the fast half of that.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type WorkspaceEmulator, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import {
  FORWARDER_DASHBOARD,
  expandVariables,
  groupingLabels,
  legendLabels,
  loadDashboard,
  metricNames,
  parseDashboard,
  parseLabelValues,
  regexOf,
} from '../../e2e/lib/dashboard';
import { loadForwarderConfig } from '../../local-proxy/config';
import { type RunningForwarder, startForwarder } from '../../local-proxy/forwarder';
import { createLogger } from '../../shared/observability/log';
import { generateRequest, postWrite, receivedKeys, waitFor } from '../local-proxy/helpers';
import { tempDir } from '../../dev/kit/temp-dir';

/**
 * On the forwarder's /metrics only when CATCHUP_MAX_RATE is set (off by default, and in the
 * e2e), so no panel could be shown to return data; docs/dashboards.md says how to add one.
 */
// series only with a setting (CATCHUP_MAX_RATE; RELABEL_CONFIG_FILE, MAX_HOURLY_SERIES, MAX_DAILY_SERIES): docs/dashboards.md gives their queries
const NOT_ON_THE_DASHBOARD = new Set([
  'relay_proxy_catchup_throttled_seconds_total',
  'relay_proxy_relabel_dropped_samples_total',
  'relay_proxy_series_limit_dropped_samples_total',
  'relay_proxy_series_limit_current_series',
]);

/** Every series name a /metrics page exports, from its # TYPE lines (histograms as _bucket/_sum/_count). */
function exportedNames(text: string): { names: Set<string>; families: string[] } {
  const names = new Set<string>();
  const families: string[] = [];
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    families.push(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s);
    else names.add(name);
  }
  return { names, families };
}

describe('Grafana dashboard of the forwarder', () => {
  const dashboard = loadDashboard();
  let tmp: { dir: string; remove(): void };
  let ws: WorkspaceEmulator;
  let f: RunningForwarder;
  let exported: { names: Set<string>; families: string[] };

  before(async () => {
    tmp = tempDir('dashboard-test');
    ws = await startWorkspaceEmulator({ name: 'ws' });
    const cfg = loadForwarderConfig({
      LISTENING_PORT: '0',
      LISTENING_HOST: '127.0.0.1',
      IDENTITY_TYPE: 'none',
      SPOOL_DIR: tmp.dir,
      INGESTION_URL: ws.url,
      BATCH_MAX_WAIT: '50ms',
      SHUTDOWN_TIMEOUT: '1s',
    });
    // default metrics on, as `npm run proxy` runs it: the process panels read them
    f = await startForwarder(cfg, { log: createLogger(() => undefined) });
    assert.equal((await postWrite(f.url, generateRequest(1).body)).status, 204);
    await waitFor('delivered', () => receivedKeys(ws).size === 500);
    const res = await fetch(`${f.url}/metrics`);
    assert.equal(res.status, 200);
    exported = exportedNames(await res.text());
  });
  after(async () => {
    await f?.stop();
    await ws?.close();
    tmp?.remove();
  });

  it('every metric an expression or variable names is one the forwarder exports on /metrics', () => {
    const unknown: string[] = [];
    const sources = dashboard.queries.map((q) => ({ where: `panel "${q.panel}" ${q.refId}`, expr: q.expr }));
    for (const v of dashboard.variables.filter((x) => x.type === 'query')) {
      const lv = parseLabelValues(v.query);
      assert.ok(lv, `variable ${v.name}: ${v.query} is not label_values(<selector>, <label>)`);
      sources.push({ where: `variable ${v.name}`, expr: lv.selector });
    }
    for (const { where, expr } of sources) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${where} names no metric: ${expr}`);
      for (const n of names) if (!exported.names.has(n)) unknown.push(`${where}: ${n}`);
    }
    assert.deepEqual(unknown, [], 'metrics the forwarder does not export');
  });

  it("every label a legend names is kept by the query's aggregation (or the legend shows a blank)", () => {
    const blank: string[] = [];
    for (const q of dashboard.queries) {
      const kept = new Set(groupingLabels(q.expr));
      for (const l of legendLabels(q.legend)) if (!kept.has(l)) blank.push(`panel "${q.panel}" ${q.refId}: {{${l}}} not in by (${[...kept].join(', ')})`);
    }
    assert.deepEqual(blank, []);
  });

  it('every relay_proxy_ metric the forwarder exports has a panel', () => {
    const used = new Set(dashboard.queries.flatMap((q) => metricNames(q.expr)));
    const family = (n: string): string => n.replace(/_(bucket|sum|count)$/, '');
    const usedFamilies = new Set([...used].map(family).concat([...used]));
    const missing = exported.families.filter((n) => n.startsWith('relay_proxy_') && !usedFamilies.has(n) && !NOT_ON_THE_DASHBOARD.has(n));
    assert.deepEqual(missing, [], 'relay_proxy_ metrics without a panel (add one, or list it in NOT_ON_THE_DASHBOARD with the reason)');
    for (const n of NOT_ON_THE_DASHBOARD)
      assert.ok(exported.families.includes(n), `${n} is listed as left off the dashboard but the forwarder no longer exports it`);
  });

  it('the drop counters are there at 0 before anything is dropped, so their panels have data', async () => {
    // (rate() over a counter that does not exist yet shows "No data", and misses the first drop)
    const text = await (await fetch(`${f.url}/metrics`)).text();
    for (const reason of ['too_old', 'upstream_rejected', 'too_large', 'spool_full', 'corrupt']) {
      assert.match(text, new RegExp(`^relay_proxy_dropped_samples_total\\{reason="${reason}"\\} 0$`, 'm'));
      assert.match(text, new RegExp(`^relay_proxy_dropped_requests_total\\{reason="${reason}"\\} 0$`, 'm'));
    }
  });

  it('imports anywhere: a Prometheus datasource variable, every panel and query on it, every variable defined', () => {
    const raw = JSON.parse(readFileSync(FORWARDER_DASHBOARD, 'utf8')) as {
      uid?: string;
      panels: { id: number; type: string; title: string; datasource?: { uid?: string }; targets?: { datasource?: { uid?: string } }[] }[];
    };
    assert.ok(raw.uid, 'a fixed uid, so re-importing replaces the dashboard');
    const ds = dashboard.variables.find((v) => v.type === 'datasource');
    assert.ok(ds && ds.query === 'prometheus', 'a datasource variable of type prometheus');
    const ids = new Set<number>();
    for (const p of raw.panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} used twice`);
      ids.add(p.id);
      if (p.type === 'row') continue;
      assert.equal(p.datasource?.uid, `\${${ds.name}}`, `panel "${p.title}" is not on the datasource variable`);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, `\${${ds.name}}`, `a query of "${p.title}" is not on the datasource variable`);
    }
    // Every $variable in an expression is one the dashboard defines or one Grafana provides.
    const values: Record<string, string> = { __rate_interval: '1m', __range: '1h', __interval: '15s' };
    for (const v of dashboard.variables) values[v.name] = '.+';
    for (const q of dashboard.queries) assert.doesNotThrow(() => expandVariables(q.expr, values), `panel "${q.panel}"`);
    assert.ok(dashboard.queries.length >= 20, `${dashboard.queries.length} queries`);
  });
});

describe('reading PromQL for metric names', () => {
  it('finds selected metrics, not functions, label names, keywords, durations or variables', () => {
    const cases: [string, string[]][] = [
      ['sum by (lane, reason) (rate(relay_proxy_retries_total{job=~"$job", lane="x"}[$__rate_interval]))', ['relay_proxy_retries_total']],
      ['histogram_quantile(0.99, sum by (lane, le) (rate(a_bucket{x="y"}[5m])))', ['a_bucket']],
      ['sum(rate(a_sum[1m])) / sum(rate(a_count[1m])) > bool 0.5e3', ['a_sum', 'a_count']],
      ['up offset 5m and on (job) group_left (x) b or vector(0)', ['up', 'b']],
      ['{__name__="c_total", job="j"}', ['c_total']],
      ['max(d) without (instance)', ['d']],
      ['rate(e{l="sum(not_a_metric)"}[5m])', ['e']],
    ];
    for (const [expr, want] of cases) assert.deepEqual(metricNames(expr).sort(), [...want].sort(), expr);
  });

  it('reads label_values queries, expands variables as Grafana does, and refuses an undefined one', () => {
    assert.deepEqual(parseLabelValues('label_values(m_total{job=~"$job"}, instance)'), { selector: 'm_total{job=~"$job"}', label: 'instance' });
    assert.equal(parseLabelValues('query_result(up)'), undefined);
    assert.equal(expandVariables('rate(x{job=~"$job"}[${__rate_interval}])', { job: 'a', __rate_interval: '30s' }), 'rate(x{job=~"a"}[30s])');
    assert.throws(() => expandVariables('x{a="$nope"}', {}), /\$nope/);
    assert.equal(regexOf(['127.0.0.1:80']), '127\\\\.0\\\\.0\\\\.1:80');
    assert.equal(regexOf(['a', 'b']), '(a|b)');
    assert.deepEqual(legendLabels('p99 {{lane}} {{ outcome }}'), ['lane', 'outcome']);
    assert.deepEqual(groupingLabels('histogram_quantile(0.5, sum by (lane, le) (rate(x[1m]))) / sum by(code)(y)'), ['lane', 'le', 'code']);
  });

  it('a dashboard whose target lacks an expression is refused', () => {
    assert.throws(
      () => parseDashboard(JSON.stringify({ title: 't', panels: [{ title: 'p', targets: [{ refId: 'A' }] }] })),
      /panel "p" has a target without expr/,
    );
  });
});
