// `npm run e2e`: the product with real software no one here wrote. Prometheus and vmagent
// scrape Prometheus itself and a node-exporter every 2 s and remote-write to the forwarder
// (relay mode); the relay dev host fans out to two emulated workspaces, each a token check
// in front of a real store (VictoriaMetrics, Prometheus as remote-write receiver). After a
// baseline, six faults, each followed by recovery and every check over the whole run:
//
//   1. the relay stops; the forwarder acknowledges into its spool; the forwarder is SIGKILLed,
//      restarted on the same spool, then the relay restarts
//   2. one workspace is down (connection refused) for 60 s
//   3. the managed-identity endpoint fails for 30 s, over a token refresh
//   4. one workspace answers 429 with Retry-After for 30 s
//   5. the workspace whose store refuses out-of-order samples answers 503 for 30 s
//   6. the other workspace hangs for 30 s, past the relay's UPSTREAM_TIMEOUT, while the
//      healthy one's store is polled: what is scraped meanwhile must reach it within seconds
//
// Then the forwarder's Grafana dashboard: a third Prometheus has scraped the forwarder all
// along, and every dashboard query must return data over the run (dashboard-check.ts).
//
// The forwarder runs with several calls in flight (MIN_SHARDS/MAX_SHARDS), and the
// Prometheus store has no out-of-order window: every phase checks per-series order too.
//
// Missing Debian packages: skip (exit 0) locally, fail with CI=true. Every process started
// is stopped at the end, on failure, and on Ctrl+C. See checks.ts for what is checked.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type CheckResult, type EmulatorDrops, GAP_LIMIT_MS, IN_FLIGHT_S, runChecks } from './checks';
import { type DashboardCheck, checkDashboard, provokeRefusal } from './dashboard-check';
import { type MetricRow, sumMetric } from '../dev/kit/metrics-text';
import { fmtInt, secs } from './lib/util';
import { sleep, waitUntil } from '../dev/kit/wait';
import { Monitor } from './monitor';
import { V2_SENDER, checkNativeHistograms, sendNativeHistograms } from './native-histograms';
import { FORWARDER_SHARDS, JOBS, PACKAGES, RELAY_UPSTREAM_TIMEOUT_S, SCRAPE_INTERVAL_S, SENDERS, TOKEN_LIFETIME_S, Topology, findBinaries } from './topology';
import { asError } from '../shared/errors';

const BASELINE_MS = 20_000;
const RELAY_DOWN_BEFORE_KILL_MS = 10_000;
const WORKSPACE_DOWN_MS = 60_000;
const IDENTITY_OUTAGE_MS = 30_000;
const THROTTLE_MS = 30_000;
const RETRY_AFTER_S = 10;
const FAIL_503_MS = 30_000;
/** the hang: longer than the relay's UPSTREAM_TIMEOUT, so the relay's calls to it time out */
const HANG_MS = 30_000;
/**
 * During the hang, the newest `up` of every sender × job in the healthy store may be at most
 * this old: a scrape interval (2 s), the sender's batch deadline (1 s), the forwarder's
 * batch wait (1 s), the relay's straggler timeout (2 s) and some slack; well below the
 * relay's UPSTREAM_TIMEOUT, which is what a healthy workspace waits for when the relay
 * answers only after the slowest one.
 */
const FRESH_LIMIT_MS = 8_000;
/** after recovery, time for the data up to the recovery moment to settle in both stores */
const SETTLE_MS = 8_000;
const RECOVERY_TIMEOUT_MS = 90_000;
/** the whole run is abandoned (everything stopped) after this */
const WATCHDOG_MS = 14 * 60_000;
/** baseline + six faults */
const PHASE_COUNT = 7;

const t0 = Date.now();
const log = (msg: string): void => {
  process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
};

interface PhaseResult {
  name: string;
  faultMs: number;
  recoveryMs: number;
  evidence: string[];
  problems: string[];
  check?: CheckResult;
}

async function main(): Promise<number> {
  const bins = findBinaries();
  if ('missing' in bins) {
    const msg = `skipping e2e: ${bins.missing.join(', ')} not found (apt-get install -y --no-install-recommends ${PACKAGES})`;
    if (process.env.CI === 'true') {
      process.stderr.write(`${msg.replace(/^skipping e2e/, 'e2e cannot run')}; CI=true, so this fails\n`);
      return 1;
    }
    process.stdout.write(`${msg}\n`);
    return 0;
  }
  const repoRoot = resolve(__dirname, '..', '..');
  for (const f of ['dist/dev/relay-host.js', 'dist/local-proxy/main.js']) {
    if (!existsSync(join(repoRoot, f))) {
      process.stderr.write(`e2e: ${f} is missing: build first (npm run e2e builds; or npx tsc -p .)\n`);
      return 1;
    }
  }

  const tmp = mkdtempSync(join(tmpdir(), 'relay-e2e-'));
  const top = await Topology.create(tmp, bins.found);
  const monitor = new Monitor(top);
  let interrupted = false;

  // ---- cleanup on every path: normal end, failure, Ctrl+C, crash ----
  process.on('exit', () => top.sup.killAllNow());
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (interrupted) {
      top.sup.killAllNow();
      process.exit(code);
    }
    interrupted = true;
    process.stdout.write(`\n${signal}: stopping ${top.sup.running().length} processes (again to kill at once)\n`);
    monitor.stop();
    void top
      .stopAll()
      .catch(() => top.sup.killAllNow())
      .finally(() => {
        if (!process.env.E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
        process.exit(code);
      });
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  process.on('SIGHUP', () => onSignal('SIGHUP', 129));
  const watchdog = setTimeout(() => {
    process.stderr.write(`e2e: still running after ${WATCHDOG_MS / 60_000} minutes; killing everything\n`);
    top.sup.killAllNow();
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();

  const phases: PhaseResult[] = [];
  const fatal: string[] = [];
  let dashboard: DashboardCheck | undefined;
  let sendersStartedMs = 0;
  log(`temporary directory ${tmp} (logs in ${join(tmp, 'logs')})`);
  try {
    log(
      `ports: ${Object.entries(top.ports)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    await top.startStores();
    log('stores up: victoria-metrics, prometheus (remote-write receiver, refusing out-of-order samples)');
    await top.startEmulators();
    await top.startRelay();
    await top.startForwarder();
    await top.startDashboardPrometheus();
    const dashboardFromMs = Date.now();
    const refusal = await provokeRefusal(top);
    if (refusal) fatal.push(refusal);
    log(
      `relay and forwarder up, and a Prometheus scraping the forwarder for the dashboard (sent one request to refuse); workspace ids: ${[...top.ws.values()].map((w) => `${w.name}=${w.id}`).join(', ')}`,
    );
    await top.startNodeExporter();
    sendersStartedMs = Date.now();
    await top.startSenders();
    monitor.start();
    log(`senders up: prometheus and vmagent scraping every ${SCRAPE_INTERVAL_S} s`);
    const ctx = { top, monitor, sendersStartedMs };

    /** `fault` returns once the fault is over; with its bounds if they are not the call's own. */
    const runPhase = async (name: string, fault: (evidence: string[], problems: string[]) => Promise<{ from: number; to: number } | void>): Promise<void> => {
      const r: PhaseResult = { name, faultMs: 0, recoveryMs: 0, evidence: [], problems: [] };
      phases.push(r);
      log(`── ${name}`);
      const started = Date.now();
      const bounds = await fault(r.evidence, r.problems);
      const faultEnd = bounds?.to ?? Date.now();
      r.faultMs = faultEnd - (bounds?.from ?? started);
      let recoveredAt: number;
      try {
        recoveredAt = await waitRecovered(top);
        r.recoveryMs = recoveredAt - faultEnd;
        log(`recovered ${secs(r.recoveryMs)} after the fault ended`);
      } catch (err) {
        recoveredAt = Date.now();
        r.recoveryMs = recoveredAt - faultEnd;
        r.problems.push(`not recovered: ${(err as Error).message}`);
        log(`NOT recovered: ${(err as Error).message}`);
      }
      await sleep(Math.max(0, recoveredAt + SETTLE_MS - Date.now()));
      r.check = await runChecks(ctx, recoveredAt);
      r.problems.push(...r.check.problems, ...(await droppedData(top, monitor)), ...unexpectedExits(top));
      log(`checked in ${secs(r.check.tookMs)}: ${r.problems.length === 0 ? 'ok' : `${r.problems.length} problem(s)`}`);
      for (const p of r.problems) log(`  ✗ ${p}`);
    };

    await runPhase('baseline', async (ev, problems) => {
      // The freshness the hang phase demands, measured (and required) in normal operation,
      // once the senders' first scrapes have had time to arrive.
      const end = Date.now() + BASELINE_MS;
      // remote-write 2.0 with native histograms, through forwarder and relay, while the senders run
      const sent = await sendNativeHistograms(top.forwarderUrl, V2_SENDER);
      problems.push(...sent.problems);
      await sleep(Math.max(0, end - BASELINE_MS / 2 - Date.now()));
      const fresh = await watchFreshness(top, end);
      const nh = await checkNativeHistograms(top.promStore, V2_SENDER, sent.times);
      problems.push(...nh.problems);
      ev.push(
        `remote-write 2.0 to the forwarder: ${nh.checked} native histograms (integer and float, schemas 0 and 3) read back from the Prometheus store${nh.problems.length === 0 ? ' with their count, sum and buckets equal' : ', not all equal'}`,
      );
      ev.push(
        `${BASELINE_MS / 1000} s of normal operation; in its second half the Prometheus store's newest up sample was at most ${secs(fresh.worstLagMs)} old (${fresh.polls} polls)`,
      );
      if (fresh.worstLagMs > FRESH_LIMIT_MS)
        problems.push(
          `the Prometheus store fell behind in normal operation: its newest ${fresh.worstSeries} was ${secs(fresh.worstLagMs)} old (limit ${FRESH_LIMIT_MS / 1000} s)`,
        );
    });

    await runPhase('forwarder SIGKILL while relay down', async (ev, problems) => {
      const before = await top.forwarderMetrics();
      const relayStopped = Date.now();
      await top.stopRelay();
      log('relay stopped; senders keep writing to the forwarder');
      await sleep(RELAY_DOWN_BEFORE_KILL_MS);
      const atKill = await top.forwarderMetrics();
      const acked = diff(atKill, before, 'relay_proxy_received_samples_total');
      const ackedReq = diff(atKill, before, 'relay_proxy_received_requests_total', { code: '204' });
      const backlog = sumMetric(atKill, 'relay_proxy_lane_backlog_bytes', { lane: 'relay' }) ?? 0;
      const oldPid = top.procs.forwarder.pid;
      await top.killForwarder();
      log(`forwarder (pid ${oldPid}) SIGKILLed after acknowledging ${fmtInt(acked)} samples in ${fmtInt(ackedReq)} requests with the relay down`);
      await top.startForwarder();
      const afterRestart = await top.forwarderMetrics();
      const replay = sumMetric(afterRestart, 'relay_proxy_lane_backlog_bytes', { lane: 'relay' }) ?? 0;
      log(`forwarder restarted (pid ${top.procs.forwarder.pid}) on the same spool: ${fmtInt(replay)} bytes to deliver`);
      await sleep(3000);
      await top.startRelay();
      log('relay restarted');
      ev.push(
        `relay down ${secs(Date.now() - relayStopped)}; the forwarder acknowledged ${fmtInt(acked)} samples (${fmtInt(ackedReq)} requests) into its spool (${fmtInt(backlog)} bytes undelivered), was SIGKILLed, and its successor found ${fmtInt(replay)} bytes to deliver`,
      );
      if (acked === 0) problems.push('fault without effect: the forwarder acknowledged nothing while the relay was down');
      if (replay === 0) problems.push('the restarted forwarder found nothing to deliver in its spool: what it acknowledged before SIGKILL is gone');
    });

    await runPhase(`workspace (VictoriaMetrics) down ${WORKSPACE_DOWN_MS / 1000} s`, async (ev, problems) => {
      const w = top.workspace('victoriametrics');
      const parked0 = monitor.forwarderCounter('relay_proxy_lane_parked_batches_total', { endpoint: w.id });
      await top.workspaceDown('victoriametrics');
      log(`workspace ${w.name} refuses connections for ${WORKSPACE_DOWN_MS / 1000} s`);
      await sleep(WORKSPACE_DOWN_MS);
      await monitor.poll();
      const backlog = sumMetric(monitor.forwarderLatest(), 'relay_proxy_lane_backlog_bytes', { lane: `lane:${w.id}` }) ?? 0;
      await top.workspaceUp('victoriametrics');
      const parked = monitor.forwarderCounter('relay_proxy_lane_parked_batches_total', { endpoint: w.id }) - parked0;
      log(`workspace back; the forwarder had parked ${fmtInt(parked)} batches for it (${fmtInt(backlog)} bytes)`);
      ev.push(
        `connection refused ${WORKSPACE_DOWN_MS / 1000} s; the relay answered 503 naming it, the forwarder parked ${fmtInt(parked)} batches (${fmtInt(backlog)} bytes) on lane:${w.id} while the other workspace kept receiving`,
      );
      if (parked === 0) problems.push('fault without effect: the forwarder parked nothing for the workspace that was down');
    });

    await runPhase(`identity endpoint failing ${IDENTITY_OUTAGE_MS / 1000} s`, async (ev, problems) => {
      // Start the outage 5-9 s before the relay's next background refresh (at half the
      // token's life), so the refresh and its retries fail while the cached token, usable
      // until 90 % of its life, must carry every write through the rest of the outage.
      const id = top.identity;
      const half = (TOKEN_LIFETIME_S / 2) * 1000;
      await waitUntil(
        "a point 5-9 s before the relay's next token refresh",
        () => {
          const age = Date.now() - (id.requests.at(-1)?.at ?? 0);
          return age >= half - 9_000 && age <= half - 5_000;
        },
        2 * half,
        100,
      );
      const lastToken = id.requests.at(-1)?.at ?? 0;
      const req0 = id.requests.length;
      const retries0 = monitor.forwarderCounter('relay_proxy_retries_total');
      const started = Date.now();
      id.failUntil = started + IDENTITY_OUTAGE_MS;
      const ended = id.failUntil;
      log(
        `identity endpoint answers 500 for ${IDENTITY_OUTAGE_MS / 1000} s (last token issued ${secs(started - lastToken)} ago; refresh due in ${secs(lastToken + half - started)})`,
      );
      let sawRefreshError = '';
      let lostToken = false;
      while (Date.now() < id.failUntil - 1000) {
        await sleep(Math.min(2000, id.failUntil - Date.now()));
        const token = (await top.relayHealth().catch(() => undefined))?.token;
        if (token?.lastError) sawRefreshError ||= token.lastError;
        if (token && !token.hasToken) lostToken = true;
      }
      await sleep(Math.max(0, id.failUntil - Date.now()));
      await monitor.poll();
      const refusedAt = id.requests
        .slice(req0)
        .filter((r) => r.at < id.failUntil)
        .map((r) => `+${((r.at - started) / 1000).toFixed(0)}`);
      const retries = monitor.forwarderCounter('relay_proxy_retries_total') - retries0;
      ev.push(
        `${refusedAt.length} token requests refused (at ${refusedAt.join(', ')} s); ${sawRefreshError ? "the relay's refresh failed and it kept using its cached token" : 'no refresh failure surfaced (@azure/identity was still retrying)'}; it ${lostToken ? 'LOST' : 'always held'} a valid token; forwarder retries meanwhile: ${fmtInt(retries)}`,
      );
      if (refusedAt.length === 0) problems.push('fault without effect: no token request fell into the outage');
      // A failed refresh keeps the still-valid token: an outage shorter than the rest of
      // the token's life must never reach a write.
      if (lostToken) problems.push('the relay had no valid token during the identity outage although the cached one had not expired');
      if (retries > 0)
        problems.push(`the forwarder had to retry ${retries} times during the identity outage: the relay answered 503 although it held a valid token`);
      await waitUntil('the relay to get a fresh token after the outage', () => id.requests.some((r) => r.at >= id.failUntil), 60_000, 500);
      const fresh = id.requests.find((r) => r.at >= id.failUntil)!;
      ev.push(`fresh token ${secs(fresh.at - id.failUntil)} after the endpoint recovered`);
      return { from: started, to: ended };
    });

    await runPhase(`workspace (Prometheus) 429 + Retry-After ${RETRY_AFTER_S} s for ${THROTTLE_MS / 1000} s`, async (ev, problems) => {
      const w = top.workspace('prometheus');
      const n0 = top.workspaceStatuses('prometheus').length;
      const parked0 = monitor.forwarderCounter('relay_proxy_lane_parked_batches_total', { endpoint: w.id });
      const laneRetries0 = monitor.forwarderCounter('relay_proxy_retries_total', { lane: `lane:${w.id}` });
      w.emu.fault = { status: 429, retryAfterSeconds: RETRY_AFTER_S, untilMs: Date.now() + THROTTLE_MS };
      log(`workspace ${w.name} answers 429 (Retry-After: ${RETRY_AFTER_S}) for ${THROTTLE_MS / 1000} s`);
      await sleep(THROTTLE_MS);
      await monitor.poll();
      const statuses = top.workspaceStatuses('prometheus').slice(n0);
      const throttled = statuses.filter((s) => s === 429).length;
      const parked = monitor.forwarderCounter('relay_proxy_lane_parked_batches_total', { endpoint: w.id }) - parked0;
      const laneRetries = monitor.forwarderCounter('relay_proxy_retries_total', { lane: `lane:${w.id}` }) - laneRetries0;
      ev.push(
        `${throttled} requests answered 429; the forwarder parked ${fmtInt(parked)} batches on lane:${w.id}, whose retries (${laneRetries} in ${THROTTLE_MS / 1000} s) waited for Retry-After`,
      );
      // One probe per Retry-After, plus the calls already in flight when the first 429 came
      // back (up to MAX_SHARDS, all refused at once); a lane ignoring Retry-After retries every
      // RETRY_MIN_BACKOFF…RETRY_MAX_BACKOFF instead, dozens of times in 30 s.
      const most = Math.ceil(THROTTLE_MS / 1000 / RETRY_AFTER_S) + 2 + (FORWARDER_SHARDS.max - 1);
      if (laneRetries > most)
        problems.push(`lane:${w.id} retried ${laneRetries} times in ${THROTTLE_MS / 1000} s: Retry-After: ${RETRY_AFTER_S} allows at most ${most}`);
      if (throttled === 0 || parked === 0) problems.push('fault without effect: no request met the 429 fault, or nothing was parked');
    });

    await runPhase(`workspace (Prometheus) 503 for ${FAIL_503_MS / 1000} s`, async (ev, problems) => {
      // The store without an out-of-order window: whatever the forwarder replays to it after
      // the failure must not be older than what already reached it through other calls.
      const w = top.workspace('prometheus');
      const n0 = top.workspaceStatuses('prometheus').length;
      const parked0 = monitor.forwarderCounter('relay_proxy_lane_parked_batches_total', { endpoint: w.id });
      w.emu.fault = { status: 503, untilMs: Date.now() + FAIL_503_MS };
      log(`workspace ${w.name} answers 503 for ${FAIL_503_MS / 1000} s`);
      await sleep(FAIL_503_MS);
      await monitor.poll();
      const failed = top
        .workspaceStatuses('prometheus')
        .slice(n0)
        .filter((x) => x === 503).length;
      const parked = monitor.forwarderCounter('relay_proxy_lane_parked_batches_total', { endpoint: w.id }) - parked0;
      ev.push(`${failed} requests answered 503; the forwarder parked ${fmtInt(parked)} batches for ${w.id} while VictoriaMetrics kept receiving`);
      if (failed === 0) problems.push('fault without effect: no request met the 503 fault');
    });

    await runPhase(`workspace (VictoriaMetrics) hangs ${HANG_MS / 1000} s (relay UPSTREAM_TIMEOUT ${RELAY_UPSTREAM_TIMEOUT_S} s)`, async (ev, problems) => {
      const w = top.workspace('victoriametrics');
      const n0 = top.workspaceStatuses('victoriametrics').length;
      const started = Date.now();
      const until = started + HANG_MS;
      // Every request arriving before `until` is held for HANG_MS and then answered 503 into
      // a connection the relay closed long before (UPSTREAM_TIMEOUT): the workspace accepts,
      // never answers, and nothing it was sent reaches its store late.
      w.emu.fault = { status: 503, delayMs: HANG_MS, untilMs: until };
      log(`workspace ${w.name} hangs for ${HANG_MS / 1000} s; watching the Prometheus store stay fresh`);
      const fresh = await watchFreshness(top, until - 1000);
      const cutoff = fresh.lastPollMs - FRESH_LIMIT_MS;
      const reached = await scrapesReached(top, started, cutoff, fresh.lastPollMs);
      await sleep(Math.max(0, until - Date.now()));
      const hung = top.workspaceStatuses('victoriametrics').length - n0;
      ev.push(
        `${hung} requests reached the hanging workspace; in the healthy store the newest up sample was at most ${secs(fresh.worstLagMs)} old (${fresh.worstSeries}, +${secs(fresh.worstAtMs - started)} into the hang; ${fresh.polls} polls, limit ${FRESH_LIMIT_MS / 1000} s)`,
        `scrapes taken in the hang's first ${secs(cutoff - started)} and in the healthy store before it ended: ${reached.summary}`,
      );
      if (hung === 0) problems.push('fault without effect: no request reached the hanging workspace');
      if (fresh.polls === 0) problems.push('the healthy store could not be polled during the hang');
      if (fresh.worstLagMs > FRESH_LIMIT_MS) {
        problems.push(
          `the healthy workspace stalled while the other hung: the Prometheus store's newest ${fresh.worstSeries} was ${secs(fresh.worstLagMs)} old at +${secs(fresh.worstAtMs - started)} into the hang (limit ${FRESH_LIMIT_MS / 1000} s)`,
        );
      }
      if (reached.missing > 0)
        problems.push(
          `${reached.missing} up samples scraped during the hang had not reached the healthy store ${FRESH_LIMIT_MS / 1000} s later: ${reached.summary}`,
        );
      return { from: started, to: until };
    });

    log("── the forwarder's Grafana dashboard, over the run");
    const dashStarted = Date.now();
    dashboard = await checkDashboard(top, dashboardFromMs);
    log(`dashboard checked in ${secs(Date.now() - dashStarted)}: ${dashboard.problems.length === 0 ? 'ok' : `${dashboard.problems.length} problem(s)`}`);
    for (const p of dashboard.problems) log(`  ✗ ${p}`);
  } catch (err) {
    fatal.push((err as Error).stack ?? String(err));
    log(`FAILED: ${(err as Error).message}`);
  } finally {
    monitor.stop();
    log('stopping every process');
    await top.stopAll().catch((err: unknown) => {
      fatal.push(`stopping: ${asError(err).message}`);
      top.sup.killAllNow();
    });
  }
  if (interrupted) await new Promise<never>(() => undefined); // the signal handler finishes and exits
  const left = top.sup.running();
  if (left.length > 0) fatal.push(`still running after stop: ${left.map((p) => `${p.spec.name} (pid ${p.pid})`).join(', ')}`);

  const ok = fatal.length === 0 && phases.length === PHASE_COUNT && phases.every((p) => p.problems.length === 0) && dashboard?.problems.length === 0;
  printSummary(phases, dashboard, fatal, ok, sendersStartedMs);
  if (!ok) {
    for (const p of Object.values(top.procs))
      if (p.exit && !p.intended) process.stdout.write(`\n--- ${p.spec.name} exited unexpectedly; last lines of ${p.logPath}:\n${top.sup.tail(p, 20)}\n`);
  }
  if (ok && !process.env.E2E_KEEP) rmSync(tmp, { recursive: true, force: true });
  else process.stdout.write(`logs and data kept in ${tmp}\n`);
  return ok ? 0 : 1;
}

function emuFig(d: EmulatorDrops | string, k: keyof EmulatorDrops): string {
  return typeof d === 'string' ? '?' : fmtInt(d[k]);
}

function diff(a: MetricRow[], b: MetricRow[], name: string, where: Record<string, string> = {}): number {
  return (sumMetric(a, name, where) ?? 0) - (sumMetric(b, name, where) ?? 0);
}

/** Caught up: nothing parked in the forwarder, senders' queues current, both stores fresh. */
async function waitRecovered(top: Topology): Promise<number> {
  let why = '';
  const no = (reason: string): false => {
    why = reason;
    return false;
  };
  await waitUntil(
    'the pipeline to catch up',
    async () => {
      const fw = await top.forwarderMetrics();
      const parked = fw.filter((r) => r.name === 'relay_proxy_lane_backlog_bytes' && r.labels.lane !== 'relay' && r.value > 0);
      if (parked.length > 0) return no(`forwarder lanes still hold ${parked.map((r) => `${r.labels.lane}: ${r.value} bytes`).join(', ')}`);
      const ps = await top.promSenderMetrics();
      const lag =
        (sumMetric(ps, 'prometheus_remote_storage_highest_timestamp_in_seconds') ?? 0) -
        (sumMetric(ps, 'prometheus_remote_storage_queue_highest_sent_timestamp_seconds') ?? 0);
      if (lag > 5) return no(`prometheus sender is ${lag.toFixed(0)} s behind`);
      const va = await top.vmagentMetrics();
      const pending = sumMetric(va, 'vmagent_remotewrite_pending_data_bytes') ?? 0;
      if (pending > 0) return no(`vmagent has ${pending} bytes queued on disk`);
      await top.flushVm();
      const now = Date.now();
      for (const store of [top.promStore, top.vmStore]) {
        const rows = await store.raw('up', 15, now);
        for (const sender of SENDERS) {
          for (const job of JOBS) {
            const r = rows.find((x) => x.labels.sender === sender && x.labels.job === job);
            const newest = r?.samples.at(-1)?.t ?? 0;
            if (now - newest > 6000) return no(`${store.name} has no recent up{sender="${sender}",job="${job}"}`);
          }
        }
      }
      return true;
    },
    RECOVERY_TIMEOUT_MS,
    1000,
  ).catch((err: unknown) => {
    throw new Error(`${asError(err).message}; ${why}`);
  });
  return Date.now();
}

/**
 * Polls the Prometheus store's `up` once a second until `untilMs`: the oldest "newest sample"
 * seen, over every sender × job (one without any sample counts as stale since the watch began).
 */
async function watchFreshness(
  top: Topology,
  untilMs: number,
): Promise<{ worstLagMs: number; worstAtMs: number; worstSeries: string; polls: number; lastPollMs: number }> {
  const began = Date.now();
  const r = { worstLagMs: 0, worstAtMs: 0, worstSeries: '', polls: 0, lastPollMs: began };
  while (Date.now() < untilMs) {
    await sleep(Math.min(1000, Math.max(0, untilMs - Date.now())));
    const now = Date.now();
    const rows = await top.promStore.raw('up', 60, now).catch(() => undefined);
    if (!rows) continue;
    r.polls++;
    r.lastPollMs = now;
    for (const sender of SENDERS) {
      for (const job of JOBS) {
        const newest = rows.find((x) => x.labels.sender === sender && x.labels.job === job)?.samples.at(-1)?.t ?? began;
        if (now - newest > r.worstLagMs) Object.assign(r, { worstLagMs: now - newest, worstAtMs: now, worstSeries: `up{sender="${sender}",job="${job}"}` });
      }
    }
  }
  return r;
}

/**
 * `up` samples scraped in [fromMs, toMs] that the Prometheus store held at atMs: the
 * Prometheus sender's own TSDB says which scrapes exist; vmagent's are expected one per
 * interval.
 */
async function scrapesReached(top: Topology, fromMs: number, toMs: number, atMs: number): Promise<{ missing: number; summary: string }> {
  const windowS = (atMs - fromMs) / 1000 + 10;
  const [store, truth] = await Promise.all([top.promStore.raw('up', windowS, atMs), top.senderApi.raw('up', windowS, atMs)]);
  const inRange = (samples: { t: number }[] | undefined): number => (samples ?? []).filter((x) => x.t >= fromMs && x.t <= toMs).length;
  let missing = 0;
  const parts: string[] = [];
  for (const sender of SENDERS) {
    for (const job of JOBS) {
      const have = inRange(store.find((x) => x.labels.sender === sender && x.labels.job === job)?.samples);
      const want =
        sender === 'prometheus' ? inRange(truth.find((x) => x.labels.job === job)?.samples) : Math.floor((toMs - fromMs) / (SCRAPE_INTERVAL_S * 1000)) - 1;
      missing += Math.max(0, want - have);
      parts.push(`${sender}/${job} ${have} of ${want}`);
    }
  }
  return { missing, summary: parts.join(', ') };
}

async function droppedData(top: Topology, monitor: Monitor): Promise<string[]> {
  const out: string[] = [];
  const ps = await top.promSenderMetrics();
  const failed =
    (sumMetric(ps, 'prometheus_remote_storage_samples_failed_total') ?? 0) + (sumMetric(ps, 'prometheus_remote_storage_samples_dropped_total') ?? 0);
  if (failed > 0) out.push(`the Prometheus sender gave up on ${fmtInt(failed)} samples (prometheus_remote_storage_samples_failed_total + _dropped_total)`);
  const fwDropped = monitor.forwarderCounter('relay_proxy_dropped_samples_total');
  if (fwDropped > 0) out.push(`the forwarder dropped ${fmtInt(fwDropped)} samples (relay_proxy_dropped_samples_total)`);
  const vmaDropped = sumMetric(monitor.vmagentLatest(), 'vmagent_remotewrite_packets_dropped_total') ?? 0;
  if (vmaDropped > 0) out.push(`vmagent dropped ${fmtInt(vmaDropped)} blocks (vmagent_remotewrite_packets_dropped_total)`);
  return out;
}

function unexpectedExits(top: Topology): string[] {
  return top.sup.unexpectedExits().map((p) => `${p.spec.name} (pid ${p.pid}) exited by itself (${p.exit?.code ?? p.exit?.signal}); see ${p.logPath}`);
}

function printSummary(phases: PhaseResult[], dashboard: DashboardCheck | undefined, fatal: string[], ok: boolean, sendersStartedMs: number): void {
  const out: string[] = [''];
  const line = (s = ''): number => out.push(s);
  line('═══ end-to-end summary ═══');
  line(`prometheus + vmagent → forwarder (relay mode) → relay → workspace emulators → victoria-metrics | prometheus`);
  line(`scrape interval ${SCRAPE_INTERVAL_S} s; a gap is > ${GAP_LIMIT_MS / 1000} s between scrapes; in-flight window ${IN_FLIGHT_S} s`);
  line(
    `forwarder MIN_SHARDS=${FORWARDER_SHARDS.min} MAX_SHARDS=${FORWARDER_SHARDS.max}; relay UPSTREAM_TIMEOUT=${RELAY_UPSTREAM_TIMEOUT_S}s; the Prometheus store refuses out-of-order samples`,
  );
  line('');
  line('columns, cumulative over the run: "refused P" = samples the Prometheus store refused as out of order, out of bounds or too old');
  line(
    '(TSDB counters; in brackets this phase\'s share) and writes it logged as refused; "emu ooo P / VM" = samples each emulated workspace would have dropped as',
  );
  line('out of order (Azure\'s OutOfOrder; "?" = emulator too old to tell); "emu dup" = duplicates it saw (harmless, for information)');
  line('');
  const head = ['phase', 'fault', 'recovery', 'series P / VM', 'samples P / VM', 'missing', 'gaps', 'refused P', 'emu ooo P / VM', 'emu dup', 'result'];
  const refused = (c: CheckResult | undefined): number => (c ? c.order.promStore.outOfOrder + c.order.promStore.outOfBounds + c.order.promStore.tooOld : 0);
  const rows = phases.map((p, i) => {
    const c = p.check;
    const added = refused(c) - refused(phases[i - 1]?.check);
    const missing = c ? c.truthMissing.prom + c.truthMissing.vm + c.cross.onlyProm + c.cross.onlyVm : NaN;
    return [
      p.name,
      p.name === 'baseline' ? '—' : secs(p.faultMs),
      secs(p.recoveryMs),
      c ? `${fmtInt(c.series.prom)} / ${fmtInt(c.series.vm)}` : '—',
      c ? `${fmtInt(c.samples.prom)} / ${fmtInt(c.samples.vm)}` : '—',
      c ? fmtInt(missing) : '—',
      c ? String(c.gaps.length) : '—',
      c ? `${fmtInt(refused(c))}${added > 0 ? ` (+${fmtInt(added)})` : ''} / log ${c.order.promStoreLog.lines}` : '—',
      c ? `${emuFig(c.order.emulators.prometheus, 'outOfOrder')} / ${emuFig(c.order.emulators.victoriametrics, 'outOfOrder')}` : '—',
      c ? `${emuFig(c.order.emulators.prometheus, 'duplicate')} / ${emuFig(c.order.emulators.victoriametrics, 'duplicate')}` : '—',
      p.problems.length === 0 && c ? 'PASS' : 'FAIL',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmtRow = (r: string[]): string => r.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  line(fmtRow(head));
  line(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const r of rows) line(fmtRow(r));
  line('');
  for (const p of phases) {
    if (p.evidence.length === 0 && p.problems.length === 0) continue;
    line(`${p.name}:`);
    for (const e of p.evidence) line(`  · ${e}`);
    for (const e of p.problems) line(`  ✗ ${e}`);
  }
  const last = [...phases].reverse().find((p) => p.check)?.check;
  if (last) {
    line('');
    line(`final check over ${last.windowS} s (evaluated at ${new Date(last.evalMs).toISOString()}):`);
    line(
      `  ${fmtInt(last.truthMissing.checked)} samples of the Prometheus sender's own TSDB looked up in both stores: ${fmtInt(last.truthMissing.prom)} / ${fmtInt(last.truthMissing.vm)} missing`,
    );
    for (const c of last.counts)
      line(
        `  ${c.sender}: sent ${fmtInt(c.sent)} samples; Prometheus store ${fmtInt(c.prom)}, VictoriaMetrics ${fmtInt(c.vm)} (NaN added back); allowed ±${fmtInt(c.tolerance)}`,
      );
    line(`  NaN: ${fmtInt(last.nanSamples)} samples in ${last.nanOnlySeries} NaN-only series and others, kept by Prometheus, dropped by VictoriaMetrics`);
    const o = last.order;
    line(
      `  Prometheus store: ${fmtInt(o.promStore.outOfOrder)} samples refused as out of order, ${fmtInt(o.promStore.outOfBounds)} out of bounds, ${fmtInt(o.promStore.tooOld)} too old; ${o.promStoreLog.lines} refused writes in its log`,
    );
    for (const [name, d] of Object.entries(o.emulators)) {
      line(
        `  ${typeof d === 'string' ? d : `workspace ${name} (emulated Azure): dropped ${fmtInt(d.outOfOrder)} out of order, ${fmtInt(d.tooOld)} too old, ${fmtInt(d.tooNew)} too new, ${fmtInt(d.duplicate)} duplicates; ${fmtInt(d.throttled)} requests throttled`}`,
      );
    }
    if (last.sourceGaps.length > 0) line(`  the Prometheus sender itself skipped scrapes ${last.sourceGaps.length} time(s) (not counted as gaps)`);
  }
  line('');
  if (dashboard) {
    line(`forwarder dashboard (deploy/grafana/forwarder.json): ${dashboard.problems.length === 0 ? 'PASS' : 'FAIL'}`);
    for (const e of dashboard.evidence) line(`  · ${e}`);
    for (const p of dashboard.problems) line(`  ✗ ${p}`);
  } else line('FAIL: the forwarder dashboard was not checked (the run stopped before)');
  for (const f of fatal) line(`✗ ${f}`);
  line('');
  line(
    `${ok ? 'PASS' : 'FAIL'}: ${phases.length} of ${PHASE_COUNT} phase(s) in ${secs(Date.now() - (sendersStartedMs || t0))} of data, ${secs(Date.now() - t0)} in all`,
  );
  const failed = phases.filter((p) => p.problems.length > 0 || !p.check);
  if (failed.length > 0) line(`FAIL in: ${failed.map((p) => `${p.name} (${p.problems.length || 'no check'})`).join('; ')}`);
  if (phases.length < PHASE_COUNT) line(`FAIL: the run stopped before phase ${phases.length + 1} of ${PHASE_COUNT}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = asError(err);
    process.stderr.write(`e2e crashed: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
