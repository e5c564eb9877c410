// The end-to-end topology, all on 127.0.0.1 with ports the OS picked and data in one
// temporary directory:
//
//   prometheus (sender: itself + node-exporter) ─┐
//                                                ├─▶ forwarder (relay mode, spool) ─▶ relay dev host ─┬─▶ workspace emulator ─▶ victoria-metrics
//   vmagent    (sender: the same two targets)   ─┘                                  (tokens from the  └─▶ workspace emulator ─▶ prometheus (remote-write receiver)
//                                                                                    identity emulator, real @azure/identity)
//   prometheus (dashboard: scrapes the forwarder's /metrics; writes nowhere)
//
// Real software from Debian packages runs as child processes; our relay and forwarder run
// as child processes from dist/, as they are deployed; the two emulators run in this
// process, so faults are switched on and off directly.

import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { endpointId } from '../shared/fanout/endpoints';
import { type IdentityEmulator, startIdentityEmulator } from '../dev/emulators/identity-endpoint';
import { type WorkspaceEmulator, type WorkspaceEmulatorOptions, startWorkspaceEmulator } from '../dev/emulators/workspace';
import { type Azurite, startAzurite } from '../dev/emulators/azurite';
import { PromApi, scrapeMetrics } from './lib/prom-api';
import type { MetricRow } from '../dev/kit/metrics-text';
import { type Proc, Supervisor } from './lib/supervisor';
import { http, httpOk } from './lib/util';
import { WaitAborted, waitUntil } from '../dev/kit/wait';
import { freePorts } from '../dev/kit/ports';
import { FORWARDER_NODE_FLAGS } from '../local-proxy/node-flags';
import { RELAY_NODE_FLAGS } from '../functions/node-flags';

export const SCRAPE_INTERVAL_S = 2;
/** the cluster label the forwarder (the per-cluster side car) adds */
export const CLUSTER = 'e2e-cluster';
/** the relay's CLUSTER: only for series arriving without one, which must never happen here */
export const RELAY_FALLBACK_CLUSTER = 'relay-fallback';
export const SENDERS = ['prometheus', 'vmagent'] as const;
export const JOBS = ['prometheus', 'node'] as const;
/**
 * Token lifetime of the identity emulator. Azure's are ~24 h, so an outage of 30 s would
 * never meet a refresh; 80 s makes the relay refresh every 40 s (half life) and keep each
 * token usable for 72 s, so a 30 s outage placed over a refresh must be bridged by the
 * cached token while @azure/identity's requests fail.
 */
export const TOKEN_LIFETIME_S = 80;
export const AUDIENCE = 'https://monitor.azure.com';
/**
 * The relay's UPSTREAM_TIMEOUT (default 20 s), shorter than the e2e's hang so that a
 * hanging workspace meets it: the relay must neither wait that long for the healthy one's
 * acknowledgement nor let the forwarder's calls queue behind it.
 */
export const RELAY_UPSTREAM_TIMEOUT_S = 10;
/** Concurrency above 1: calls in flight per endpoint (Prometheus's min_shards/max_shards). */
export const FORWARDER_SHARDS = { min: 4, max: 8 } as const;

/** the job name under which the dashboard's Prometheus scrapes the forwarder */
export const FORWARDER_JOB = 'forwarder';

export const PACKAGES = 'prometheus victoria-metrics prometheus-node-exporter';
const BINARIES = { prometheus: 'prometheus', victoriaMetrics: 'victoria-metrics', vmagent: 'vmagent', nodeExporter: 'prometheus-node-exporter' } as const;
export type Binaries = Record<keyof typeof BINARIES, string>;

/** The Debian packages' binaries on PATH, or the names missing. */
export function findBinaries(): { found: Binaries } | { missing: string[] } {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const found: Partial<Binaries> = {};
  const missing: string[] = [];
  for (const [k, name] of Object.entries(BINARIES) as [keyof Binaries, string][]) {
    const hit = dirs
      .map((d) => join(d, name))
      .find((p) => {
        try {
          accessSync(p, fsConstants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
    if (hit) found[k] = hit;
    else missing.push(name);
  }
  return missing.length > 0 ? { missing } : { found: found as Binaries };
}

export interface Ports {
  nodeExporter: number;
  promSender: number;
  vmagent: number;
  vmStore: number;
  promStore: number;
  forwarder: number;
  relay: number;
  /** the Prometheus scraping the forwarder for the dashboard check */
  promDashboard: number;
  wsVictoriaMetrics: number;
  wsPrometheus: number;
}

export type WorkspaceName = 'victoriametrics' | 'prometheus';

export interface Workspace {
  name: WorkspaceName;
  emu: WorkspaceEmulator;
  opts: WorkspaceEmulatorOptions;
  port: number;
  /** endpoint id as the relay and forwarder name it (X-Relay-Failed-Endpoints, lane:<id>) */
  id: string;
  /** requests answered by earlier incarnations (the emulator is restarted for "down") */
  history: { status: number }[];
  down: boolean;
}

const repoRoot = resolve(__dirname, '..', '..');

export class Topology {
  readonly sup: Supervisor;
  readonly functionKey = randomBytes(16).toString('hex');
  readonly key = randomBytes(32);
  identity!: IdentityEmulator;
  /** the storage emulator behind AzureWebJobsStorage (shared state, HA dedup) */
  azurite?: Azurite;
  readonly ws = new Map<WorkspaceName, Workspace>();
  readonly procs: Record<string, Proc> = {};
  readonly vmStore: PromApi;
  readonly promStore: PromApi;
  /** the Prometheus sender's own TSDB: the ground truth of what it scraped */
  readonly senderApi: PromApi;
  /** a Prometheus scraping only the forwarder's /metrics, as an operator's would: the dashboard's queries run on it */
  readonly dashboardApi: PromApi;

  private constructor(
    readonly tmp: string,
    readonly ports: Ports,
    readonly bin: Binaries,
  ) {
    this.sup = new Supervisor(join(tmp, 'logs'));
    this.vmStore = new PromApi('victoria-metrics', `http://127.0.0.1:${ports.vmStore}`);
    this.promStore = new PromApi('prometheus-store', `http://127.0.0.1:${ports.promStore}`);
    this.senderApi = new PromApi('prometheus-sender', `http://127.0.0.1:${ports.promSender}`);
    this.dashboardApi = new PromApi('prometheus-dashboard', `http://127.0.0.1:${ports.promDashboard}`);
  }

  static async create(tmp: string, bin: Binaries): Promise<Topology> {
    const [nodeExporter, promSender, vmagent, vmStore, promStore, forwarder, relay, promDashboard, wsVictoriaMetrics, wsPrometheus] = await freePorts(10);
    mkdirSync(join(tmp, 'logs'), { recursive: true });
    return new Topology(tmp, { nodeExporter, promSender, vmagent, vmStore, promStore, forwarder, relay, promDashboard, wsVictoriaMetrics, wsPrometheus }, bin);
  }

  dir(name: string): string {
    const d = join(this.tmp, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  private spawn(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const p = this.sup.start({ name, command, args, cwd: this.dir(`cwd-${name}`), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.tmp, ...env } });
    this.procs[name] = p;
    return p;
  }

  private async ready(p: Proc, url: string, timeoutMs = 30_000): Promise<void> {
    await waitUntil(
      `${p.spec.name} at ${url}`,
      async () => {
        if (p.exit) throw new WaitAborted(`${p.spec.name} exited (${p.exit.code ?? p.exit.signal}); log ${p.logPath}:\n${this.sup.tail(p)}`);
        return httpOk(url);
      },
      timeoutMs,
      200,
    );
  }

  // ---- the two stores (the "workspaces' databases") ----

  async startStores(): Promise<void> {
    const vm = this.spawn('victoria-metrics', this.bin.victoriaMetrics, [
      `-httpListenAddr=127.0.0.1:${this.ports.vmStore}`,
      `-storageDataPath=${this.dir('victoria-metrics-data')}`,
      '-retentionPeriod=1d',
      // queries see samples at once (default: 30 s late), computed from raw data every time
      '-search.latencyOffset=0s',
      '-search.disableCache',
      // retries deliver some samples twice; keep one sample per series and millisecond
      '-dedup.minScrapeInterval=1ms',
    ]);
    // No out_of_order_time_window: Prometheus 2.42 then refuses, with 400, every sample
    // older than its series' newest one ("out of order sample"), counts it in
    // prometheus_tsdb_out_of_order_samples_total and logs "Out of order sample from remote
    // write". Azure drops such samples silently (OutOfOrder), so this store is the e2e's
    // probe of per-series order: the checks require zero refusals.
    writeFileSync(join(this.tmp, 'prometheus-store.yml'), '# remote-write receiver standing in for the second workspace; no scraping\nglobal: {}\n');
    const prom = this.spawn('prometheus-store', this.bin.prometheus, [
      `--config.file=${join(this.tmp, 'prometheus-store.yml')}`,
      `--web.listen-address=127.0.0.1:${this.ports.promStore}`,
      `--storage.tsdb.path=${this.dir('prometheus-store-data')}`,
      '--storage.tsdb.retention.time=1d',
      '--web.enable-remote-write-receiver',
      // remote-write 2.0's native histograms are checked here (native-histograms.ts)
      '--enable-feature=native-histograms',
    ]);
    await Promise.all([this.ready(vm, `${this.vmStore.base}/health`), this.ready(prom, `${this.promStore.base}/-/ready`)]);
  }

  // ---- emulated Azure: identity endpoint, two workspaces in proxy mode, storage (Azurite) ----

  async startEmulators(): Promise<void> {
    [this.identity, this.azurite] = await Promise.all([startIdentityEmulator({ key: this.key, tokenLifetimeSeconds: TOKEN_LIFETIME_S }), startAzurite()]);
    const workspaces = [
      ['victoriametrics', this.ports.wsVictoriaMetrics, this.ports.vmStore],
      ['prometheus', this.ports.wsPrometheus, this.ports.promStore],
    ] as const;
    for (const [name, port, store] of workspaces) {
      const opts: WorkspaceEmulatorOptions = {
        key: this.key,
        audience: AUDIENCE,
        name: `workspace-${name}`,
        port,
        forwardTo: `http://127.0.0.1:${store}/api/v1/write`,
      };
      const emu = await startWorkspaceEmulator(opts);
      this.ws.set(name, { name, emu, opts, port, id: endpointId(new URL(emu.url).href), history: [], down: false });
    }
  }

  workspace(name: WorkspaceName): Workspace {
    return this.ws.get(name)!;
  }

  /** "Down": the listening socket closes, so the relay gets connection refused. */
  async workspaceDown(name: WorkspaceName): Promise<void> {
    const w = this.workspace(name);
    w.history.push(...w.emu.requests);
    w.down = true;
    await w.emu.close();
  }

  async workspaceUp(name: WorkspaceName): Promise<void> {
    const w = this.workspace(name);
    // Continues from the closed emulator: Azure keeps what it ingested (and the drop counts) across an outage.
    w.emu = await startWorkspaceEmulator({ ...w.opts, continueFrom: w.emu });
    w.down = false;
  }

  /**
   * The emulator's GET /emulator/summary as JSON, unvalidated (checks.ts reads it
   * defensively). Its counts span restarts (workspaceUp continues from the closed one);
   * while "down", the closed emulator's own summary stands in.
   */
  async workspaceSummary(name: WorkspaceName): Promise<unknown> {
    if (this.workspace(name).down) return this.workspace(name).emu.summary();
    const r = await http(`${new URL(this.workspace(name).emu.url).origin}/emulator/summary`, { timeoutMs: 5000 });
    if (r.status !== 200) throw new Error(`workspace ${name}: GET /emulator/summary answered ${r.status}`);
    return JSON.parse(r.text) as unknown;
  }

  /** Statuses a workspace answered, across restarts. */
  workspaceStatuses(name: WorkspaceName): number[] {
    const w = this.workspace(name);
    return [...w.history, ...w.emu.requests].map((r) => r.status);
  }

  // ---- our relay and forwarder, as processes ----

  get relayUrl(): string {
    return `http://127.0.0.1:${this.ports.relay}`;
  }

  get forwarderUrl(): string {
    return `http://127.0.0.1:${this.ports.forwarder}`;
  }

  async startRelay(): Promise<void> {
    const urls = [this.workspace('victoriametrics').emu.url, this.workspace('prometheus').emu.url].join(',');
    const p = this.spawn('relay', process.execPath, [...RELAY_NODE_FLAGS, join(repoRoot, 'dist', 'dev', 'relay-host.js')], {
      PORT: String(this.ports.relay),
      INGESTION_URL: urls,
      IDENTITY_TYPE: 'systemAssigned',
      ...this.identity.env(),
      CLUSTER: RELAY_FALLBACK_CLUSTER,
      DEV_FUNCTION_KEY: this.functionKey,
      UPSTREAM_TIMEOUT: `${RELAY_UPSTREAM_TIMEOUT_S}s`,
      // as in Azure, with shared state; HA dedup on: the senders are no HA pair (no replica
      // label), so everything must pass as it would without it
      AzureWebJobsStorage: this.azurite!.connectionString,
      HA_DEDUP: 'on',
    });
    await this.ready(p, `${this.relayUrl}/api/health`);
  }

  async stopRelay(): Promise<void> {
    await this.sup.stop(this.procs.relay);
  }

  async relayHealth(): Promise<{ token?: { hasToken: boolean; lastError?: string; requests: number; expiresInSeconds?: number } | null }> {
    return JSON.parse((await http(`${this.relayUrl}/api/health`, { timeoutMs: 5000 })).text) as {
      token?: { hasToken: boolean; lastError?: string; requests: number } | null;
    };
  }

  async startForwarder(): Promise<void> {
    const p = this.spawn('forwarder', process.execPath, [...FORWARDER_NODE_FLAGS, join(repoRoot, 'dist', 'local-proxy', 'main.js')], {
      RELAY_URL: `${this.relayUrl}/api/v1/write`,
      RELAY_KEY: this.functionKey,
      LISTENING_PORT: String(this.ports.forwarder),
      LISTENING_HOST: '127.0.0.1',
      SPOOL_DIR: this.dir('forwarder-spool'),
      CLUSTER,
      MIN_SHARDS: String(FORWARDER_SHARDS.min),
      MAX_SHARDS: String(FORWARDER_SHARDS.max),
    });
    await this.ready(p, `${this.forwarderUrl}/health`);
  }

  async killForwarder(): Promise<void> {
    await this.sup.kill(this.procs.forwarder);
  }

  forwarderMetrics(): Promise<MetricRow[]> {
    return scrapeMetrics(`${this.forwarderUrl}/metrics`);
  }

  /**
   * A third Prometheus, scraping the forwarder's /metrics every scrape interval and writing
   * nowhere. Not the sender: its whole TSDB is the checks' ground truth (and the forwarder
   * would be scraping into itself), and dropping a job from its remote write would count as
   * dropped samples, which the checks forbid.
   */
  async startDashboardPrometheus(): Promise<void> {
    const config = join(this.tmp, 'prometheus-dashboard.yml');
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${SCRAPE_INTERVAL_S}s`,
        `  scrape_timeout: ${SCRAPE_INTERVAL_S}s`,
        'scrape_configs:',
        `  - job_name: ${FORWARDER_JOB}`,
        '    static_configs:',
        `      - targets: ['127.0.0.1:${this.ports.forwarder}']`,
        '',
      ].join('\n'),
    );
    const p = this.spawn('prometheus-dashboard', this.bin.prometheus, [
      `--config.file=${config}`,
      `--web.listen-address=127.0.0.1:${this.ports.promDashboard}`,
      `--storage.tsdb.path=${this.dir('prometheus-dashboard-data')}`,
      '--storage.tsdb.retention.time=1d',
    ]);
    await this.ready(p, `${this.dashboardApi.base}/-/ready`);
  }

  // ---- the scraped target and the two senders ----

  async startNodeExporter(): Promise<void> {
    const p = this.spawn('node-exporter', this.bin.nodeExporter, [`--web.listen-address=127.0.0.1:${this.ports.nodeExporter}`]);
    await this.ready(p, `http://127.0.0.1:${this.ports.nodeExporter}/metrics`);
  }

  async startSenders(): Promise<void> {
    const targets = (job: string): string =>
      `  - job_name: ${job}\n    static_configs:\n      - targets: ['127.0.0.1:${job === 'node' ? this.ports.nodeExporter : this.ports.promSender}']\n`;
    const scrape = `scrape_configs:\n${targets('prometheus')}${targets('node')}`;
    writeFileSync(
      join(this.tmp, 'prometheus-sender.yml'),
      [
        'global:',
        `  scrape_interval: ${SCRAPE_INTERVAL_S}s`,
        `  scrape_timeout: ${SCRAPE_INTERVAL_S}s`,
        '  external_labels: {sender: prometheus}',
        scrape,
        'remote_write:',
        `  - url: ${this.forwarderUrl}/api/v1/write`,
        '    name: forwarder',
        '    queue_config: {batch_send_deadline: 1s}',
        '',
      ].join('\n'),
    );
    const prom = this.spawn('prometheus-sender', this.bin.prometheus, [
      `--config.file=${join(this.tmp, 'prometheus-sender.yml')}`,
      `--web.listen-address=127.0.0.1:${this.ports.promSender}`,
      `--storage.tsdb.path=${this.dir('prometheus-sender-data')}`,
      '--storage.remote.flush-deadline=5s',
    ]);
    writeFileSync(join(this.tmp, 'vmagent-scrape.yml'), [`global:\n  scrape_interval: ${SCRAPE_INTERVAL_S}s`, scrape].join('\n'));
    const vma = this.spawn('vmagent', this.bin.vmagent, [
      `-httpListenAddr=127.0.0.1:${this.ports.vmagent}`,
      `-promscrape.config=${join(this.tmp, 'vmagent-scrape.yml')}`,
      `-remoteWrite.url=${this.forwarderUrl}/api/v1/write`,
      '-remoteWrite.label=sender=vmagent',
      // One queue: with several (default 2 per CPU) vmagent sends blocks concurrently and a
      // block retried after a failure (the forwarder's restart) can land after a newer one,
      // reordering series before they reach us. The e2e proves our pipeline keeps order.
      '-remoteWrite.queues=1',
      `-remoteWrite.tmpDataPath=${this.dir('vmagent-queue')}`,
    ]);
    await Promise.all([this.ready(prom, `${this.senderApi.base}/-/ready`), this.ready(vma, `http://127.0.0.1:${this.ports.vmagent}/health`)]);
  }

  vmagentMetrics(): Promise<MetricRow[]> {
    return scrapeMetrics(`http://127.0.0.1:${this.ports.vmagent}/metrics`);
  }

  promSenderMetrics(): Promise<MetricRow[]> {
    return scrapeMetrics(`${this.senderApi.base}/metrics`);
  }

  promStoreMetrics(): Promise<MetricRow[]> {
    return scrapeMetrics(`${this.promStore.base}/metrics`);
  }

  /** The Prometheus store's log (stdout and stderr), for its refusals of remote writes. */
  get promStoreLogPath(): string {
    return this.procs['prometheus-store'].logPath;
  }

  /** VictoriaMetrics keeps recent rows in memory buffers for a few seconds; make them searchable. */
  async flushVm(): Promise<void> {
    await http(`${this.vmStore.base}/internal/force_flush`, { timeoutMs: 10_000 });
  }

  /** Senders first (while the pipeline still takes their last data), then ours, then the stores. */
  async stopAll(): Promise<void> {
    await this.sup.stopAll(
      ['prometheus-sender', 'vmagent', 'node-exporter', 'forwarder', 'relay', 'prometheus-store', 'victoria-metrics', 'prometheus-dashboard'],
      10_000,
    );
    await Promise.all([this.identity?.close(), this.azurite?.stop(), ...[...this.ws.values()].filter((w) => !w.down).map((w) => w.emu.close())]);
  }
}
