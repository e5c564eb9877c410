// Every setting in one table: name, default, description, who reads it, and whether it
// is a secret. The loaders read through `settingValue`, and docs/settings.md is
// generated from this table (npm run docs:settings; a test keeps them in sync).

export type Component = 'relay' | 'forwarder';

export interface SettingSpec {
  name: string;
  /** the value used when unset, as a user would write it */
  default?: string;
  description: string;
  components: readonly Component[];
  /** never logged, never shown in health output */
  secret?: boolean;
}

const both: readonly Component[] = ['relay', 'forwarder'];
const relay: readonly Component[] = ['relay'];

export const SETTINGS: readonly SettingSpec[] = [
  // ---- where the data goes (the seed side car's names) ----
  {
    name: 'INGESTION_URL',
    components: both,
    description:
      'Azure Monitor workspace metrics ingestion endpoint (`https://…/dataCollectionRules/<dcr>/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=…`). Several may be given, separated by commas: every request is fanned out to all of them. `http://` is accepted only for loopback hosts (emulators).',
  },
  {
    name: 'CLUSTER',
    components: both,
    description: 'Value of the `cluster` label added to every series that has none. Series that already carry a `cluster` label keep it.',
  },
  // ---- identity ----
  {
    name: 'IDENTITY_TYPE',
    default: 'systemAssigned',
    components: both,
    description:
      'How tokens for the ingestion endpoints are obtained: `systemAssigned` (managed identity), `userAssigned` (managed identity, needs AZURE_CLIENT_ID), `workloadIdentity` (AKS workload identity: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), `aadApplication` (Entra application: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_SECRET), or `none` (no Authorization header; local sinks only). Case-insensitive.',
  },
  {
    name: 'AZURE_CLIENT_ID',
    components: both,
    description: 'Client id of the user-assigned managed identity, the workload identity or the Entra application.',
  },
  { name: 'AZURE_TENANT_ID', components: both, description: 'Entra tenant id (workloadIdentity, aadApplication).' },
  {
    name: 'AZURE_CLIENT_CERTIFICATE_PATH',
    components: both,
    description: "PEM file holding the Entra application's certificate and private key (aadApplication), e.g. mounted from Key Vault.",
  },
  {
    name: 'AZURE_CLIENT_CERTIFICATE_PASSWORD',
    components: both,
    secret: true,
    description: 'Password of the certificate file, if it has one (aadApplication).',
  },
  {
    name: 'AZURE_CLIENT_SECRET',
    components: both,
    secret: true,
    description: 'Client secret of the Entra application (aadApplication), as an alternative to a certificate.',
  },
  {
    name: 'AZURE_FEDERATED_TOKEN_FILE',
    components: both,
    description: 'Service-account token file for workloadIdentity; injected by the AKS workload identity webhook.',
  },
  {
    name: 'CLOUD',
    default: 'AZUREPUBLIC',
    components: both,
    description:
      'Azure cloud, which picks the token audience and authority: `AZUREPUBLIC` (monitor.azure.com), `AZUREGOVERNMENT` (monitor.azure.us), `AZURECHINA` (monitor.azure.cn) or `AZURECUSTOM` (set INGESTION_AAD_AUDIENCE and AAD_HOST_ENDPOINT). Any case, with or without underscores (`AZURE_PUBLIC_CLOUD`, `AzureChina`).',
  },
  {
    name: 'INGESTION_AAD_AUDIENCE',
    components: both,
    description: 'Token scope overriding the one CLOUD picks; must end in `/.default` (e.g. `https://monitor.azure.com/.default`).',
  },
  {
    name: 'AAD_HOST_ENDPOINT',
    components: both,
    description: 'Entra authority host for custom or air-gapped clouds (e.g. `login.microsoftonline.us`); overrides the one CLOUD picks.',
  },
  // ---- tenants (multi-cluster relay) ----
  {
    name: 'TENANTS_FILE',
    components: relay,
    description:
      'Path of the tenant table (JSON, schema in docs/tenants.md): per caller its relay-key hashes or Entra principals, cluster, ingestion endpoints, identity and limits. With a table, callers authenticate to the relay itself and INGESTION_URL is not needed.',
  },
  { name: 'RELAY_TENANTS', components: relay, description: 'The tenant table as inline JSON, instead of TENANTS_FILE.' },
  // ---- shared state (HA dedup, cluster-wide quotas): docs/ha.md ----
  {
    name: 'AzureWebJobsStorage',
    components: relay,
    secret: true,
    description:
      "The Function app's storage account (Azure sets it). Its table service holds the state every instance shares: HA elections and tenant quota usage. A connection string (`UseDevelopmentStorage=true` for Azurite); for an identity-based connection set AzureWebJobsStorage__accountName or AzureWebJobsStorage__tableServiceUri instead. Unset: quotas are per instance and HA_DEDUP cannot be on.",
  },
  {
    name: 'AzureWebJobsStorage__accountName',
    components: relay,
    description:
      "Identity-based storage connection: the storage account name; tables are reached at `https://<name>.table.core.windows.net` with the relay's identity (IDENTITY_TYPE, AZURE_CLIENT_ID), which needs the **Storage Table Data Contributor** role.",
  },
  {
    name: 'AzureWebJobsStorage__tableServiceUri',
    components: relay,
    description: 'Identity-based storage connection: the table service URL (other clouds, private endpoints), instead of AzureWebJobsStorage__accountName.',
  },
  {
    name: 'STATE_TABLE',
    default: 'relaystate',
    components: relay,
    description: 'Name of the table holding the shared state (created when missing): 3 to 63 letters and digits, starting with a letter.',
  },
  {
    name: 'STATE_TIMEOUT',
    default: '2s',
    components: relay,
    description:
      'Longest one shared-state call may take; a slower or failed call counts as storage down (docs/ha.md: each feature then fails open), and for the next 10 s no write waits on storage.',
  },
  {
    name: 'HA_DEDUP',
    default: 'off',
    components: relay,
    description:
      "`on`: deduplicate Prometheus HA pairs (Mimir's HA tracker): per tenant and HA_CLUSTER_LABEL value one HA_REPLICA_LABEL value is elected; the other replicas' requests are answered 202 and not forwarded. Needs AzureWebJobsStorage. docs/ha.md.",
  },
  {
    name: 'HA_CLUSTER_LABEL',
    default: 'cluster',
    components: relay,
    description: "Label naming the HA cluster (read from a request's first series; when absent, the cluster the relay adds).",
  },
  {
    name: 'HA_REPLICA_LABEL',
    default: '__replica__',
    components: relay,
    description: 'Label naming the replica within its HA cluster; removed from every series before forwarding. Requests without it are forwarded as they are.',
  },
  {
    name: 'HA_FAILOVER_TIMEOUT',
    default: '30s',
    components: relay,
    description:
      "How long the elected replica may send nothing before another replica of its cluster is elected. The stored election is refreshed every half of it (±1/6 jitter per instance), as Mimir's 15 s ± 5 s for 30 s. At least 3s.",
  },
  {
    name: 'QUOTA_SYNC_INTERVAL',
    default: '5s',
    components: relay,
    description:
      "With AzureWebJobsStorage and tenant quotas: how often each instance writes its tenants' recent demand to the shared table and takes its share of each samplesPerSecond (proportional to demand). Writes never wait on it; a new instance or a shift in load is balanced within about two intervals. docs/tenants.md.",
  },
  // ---- limits ----
  {
    name: 'MAX_BODY_BYTES',
    default: '32MiB',
    components: both,
    description: 'Largest compressed request body accepted; larger → 413. Sizes take bytes or KiB/MiB/GiB.',
  },
  {
    name: 'NATIVE_FAST_PATH',
    default: 'auto',
    components: both,
    description:
      "The native fast path (native/fastpath.c, compiled by `npm ci` when a C compiler and Node's headers are there): it decompresses and checks the commonest request (plain series, ASCII, sorted labels, the cluster label right or missing) in one native call, and translates a remote-write 2.0 request of plain series to 1.0 in the same way; with relabel rules or series limits it decompresses a 1.0 request into reused memory before them and checks and compresses what they left; it leaves every other request, and every rejection, to the JS path. `auto`: use it when it was built; `off`: JS only; `required`: refuse to start without it.",
  },
  {
    name: 'MAX_DECODED_BYTES',
    default: '32MiB',
    components: both,
    description: 'Largest decompressed WriteRequest accepted, checked against the snappy header before decompressing; larger → 413.',
  },
  {
    name: 'MAX_UPSTREAM_BYTES',
    default: '8MiB',
    components: both,
    description:
      'Largest uncompressed WriteRequest sent upstream in one request; larger data is split into several requests (on series boundaries), never dropped. An endpoint answering 413 makes the relay split further.',
  },
  {
    name: 'MAX_LABELS_PER_SERIES',
    default: '63',
    components: both,
    description: "Most labels one series may have, the cluster label included (Azure Monitor's limit).",
  },
  { name: 'MAX_LABEL_NAME_LENGTH', default: '511', components: both, description: "Longest label name, in characters (Azure Monitor's limit)." },
  { name: 'MAX_LABEL_VALUE_LENGTH', default: '1023', components: both, description: "Longest label value, in characters (Azure Monitor's limit)." },
  { name: 'MAX_METRIC_NAME_LENGTH', default: '511', components: both, description: "Longest metric name, in characters (Azure Monitor's limit)." },
  // ---- cost control ----
  {
    name: 'RELABEL_CONFIG_FILE',
    components: both,
    description:
      'Path of a YAML list of Prometheus `relabel_config` rules (what goes under `write_relabel_configs`), applied to every series before the cluster label is added; dropped series are never sent nor billed, and counted per rule. Checked at start-up. See docs/relabel.md.',
  },
  {
    name: 'MAX_HOURLY_SERIES',
    default: '0',
    components: ['forwarder'],
    description:
      'Most distinct series forwarded per hour (vmagent\'s `-remoteWrite.maxHourlySeries`): samples of series first seen after the limit are dropped and counted in `relay_proxy_series_limit_dropped_samples_total{window="hourly"}`; series already seen keep flowing. Counted after relabelling, in windows from start-up; memory is 2 bytes per allowed series. `0`: no limit. Relay tenants have `limits.maxHourlySeries` (docs/tenants.md).',
  },
  {
    name: 'MAX_DAILY_SERIES',
    default: '0',
    components: ['forwarder'],
    description: 'The same per day (vmagent\'s `-remoteWrite.maxDailySeries`), `window="daily"`. `0`: no limit.',
  },
  // ---- sending ----
  {
    name: 'UPSTREAM_TIMEOUT',
    default: '20s',
    components: both,
    description:
      "Time one ingestion endpoint has to answer one request, from connect to response. Kept below Prometheus's 30 s remote_timeout so the relay answers before the sender gives up.",
  },
  // ---- observability ----
  {
    name: 'PUBLISH_LOG_INTERVAL',
    default: '1m',
    components: both,
    description: "How often the `Metric packets published in last 1 minute` line is logged (the name keeps the side car's wording). Durations take ms/s/m/h.",
  },
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
    components: relay,
    secret: true,
    description:
      'Application Insights connection string. When set, custom metrics (samples received, samples published per endpoint, rejections by reason, fan-out latency) are sent there; when unset nothing is sent.',
  },
  // ---- forwarder (local-proxy/): listening, relay mode, spool, batching, retries ----
  {
    name: 'LISTENING_PORT',
    default: '8081',
    components: ['forwarder'],
    description:
      'Port the forwarder serves `POST /api/v1/write` (Prometheus `remote_write` url `http://localhost:<port>/api/v1/write`), `GET /health`, `GET /ready` and `GET /metrics` on. `0` picks a free port (tests).',
  },
  {
    name: 'LISTENING_HOST',
    components: ['forwarder'],
    description:
      "Address the forwarder binds to. Unset: all interfaces, which the kubelet's probes need (they reach the pod IP). `127.0.0.1` keeps it loopback-only.",
  },
  {
    name: 'RELAY_URL',
    components: ['forwarder'],
    description:
      "Relay mode: the relay Function's write URL, e.g. `https://<app>.azurewebsites.net/api/v1/write`. Set either this (relay mode) or INGESTION_URL (direct mode), not both. `http://` is accepted only for loopback hosts.",
  },
  {
    name: 'RELAY_KEY',
    components: ['forwarder'],
    secret: true,
    description: 'Relay mode: the Function key, sent as `x-functions-key`. Keep it in a Kubernetes Secret (deploy/relay-key-secret.yaml).',
  },
  {
    name: 'RELAY_SCOPE',
    components: ['forwarder'],
    description:
      'Relay mode, for a relay behind App Service authentication (Easy Auth): token scope such as `api://<app-client-id>/.default`. The token comes from IDENTITY_TYPE and the AZURE_* settings and is sent as `Authorization: Bearer`; may be combined with RELAY_KEY.',
  },
  {
    name: 'SPOOL_DIR',
    default: '.spool',
    components: ['forwarder'],
    description:
      'Directory of the on-disk spool, the write-ahead log every accepted request is in before it is acknowledged. Must be writable; use a volume that outlives the container (an emptyDir survives container restarts). The container image sets `/var/lib/prom-remotewrite/spool`.',
  },
  {
    name: 'SPOOL_MAX_BYTES',
    default: '1GiB',
    components: ['forwarder'],
    description:
      'Most bytes the spool may hold on disk (uncompressed WriteRequests, relay-mode lanes included). When it is full, SPOOL_FULL_POLICY decides what gives.',
  },
  {
    name: 'SPOOL_FULL_POLICY',
    default: 'reject',
    components: ['forwarder'],
    description:
      '`reject`: new writes get 503 with Retry-After, so Prometheus keeps the data in its own WAL and retries; nothing accepted is lost. `drop-oldest`: the oldest spooled segments are deleted to make room, counted in `relay_proxy_dropped_samples_total{reason="spool_full"}` and logged.',
  },
  {
    name: 'SPOOL_SEGMENT_BYTES',
    default: '16MiB',
    components: ['forwarder'],
    description:
      'Size at which the spool starts a new segment file. Space is reclaimed one whole segment at a time, once every reader has passed it. SPOOL_MAX_BYTES must be at least twice this.',
  },
  {
    name: 'BATCH_MAX_BYTES',
    default: '8MiB',
    components: ['forwarder'],
    description: 'Largest merged WriteRequest (uncompressed) the forwarder sends upstream in one call; a single larger request goes alone.',
  },
  {
    name: 'BATCH_MAX_SAMPLES',
    default: '20000',
    components: ['forwarder'],
    description: "Most samples (histogram samples included) per upstream call: Prometheus 2.x's 500-sample requests are merged 40 to a call.",
  },
  {
    name: 'BATCH_MAX_WAIT',
    default: '1s',
    components: ['forwarder'],
    description: 'Longest a batch waits for more requests after its first one, so at low load a request goes upstream within about this long.',
  },
  {
    name: 'RETRY_MIN_BACKOFF',
    default: '500ms',
    components: ['forwarder'],
    description:
      'Delay before the first retry of a failed upstream call (network error, timeout, 5xx, 429, 401/403); it doubles per failure up to RETRY_MAX_BACKOFF, with jitter. A Retry-After from upstream (honoured up to 5 minutes) takes its place.',
  },
  { name: 'RETRY_MAX_BACKOFF', default: '30s', components: ['forwarder'], description: 'Longest delay between retries of a failed upstream call.' },
  {
    name: 'CATCHUP_MAX_RATE',
    default: '0',
    components: ['forwarder'],
    description:
      "Most samples per second sent to one upstream (each ingestion endpoint in direct mode, the relay in relay mode). `0` (default): no cap — a backlog races Azure Monitor's 20-minute window (MAX_SAMPLE_AGE), so it drains as fast as MAX_SHARDS, latency and MAX_REQUESTS_PER_MINUTE allow. Set a rate to drain more gently (keep it well above the steady ingest rate).",
  },
  {
    name: 'MIN_SHARDS',
    default: '1',
    components: ['forwarder'],
    description:
      "Fewest calls each lane keeps in flight (Prometheus's `min_shards`). Series are hashed to shards and each shard sends one call at a time, so a series' samples always arrive in timestamp order however many calls are in flight. With one shard, batches are the senders' own compressed bytes merged; with more, each request is split by series and compressed once.",
  },
  {
    name: 'MAX_SHARDS',
    default: '16',
    components: ['forwarder'],
    description:
      "Most calls each lane keeps in flight (Prometheus's `max_shards`, at most 256). The count follows latency and backlog between MIN_SHARDS and this, as Prometheus's does: the time calls take per sample times the rate to send at (the intake plus the backlog spread over 5 s), with 30 % headroom; a near endpoint keeps one shard. Memory stays bounded (24MiB of compressed batches per lane, read ahead or in flight).",
  },
  {
    name: 'MAX_SAMPLE_AGE',
    default: '20m',
    components: ['forwarder'],
    description:
      'Azure Monitor drops samples older than 20 minutes after answering 2xx. Samples older than this minus UPSTREAM_TIMEOUT (they must arrive inside the window) are not sent but dropped and counted: `relay_proxy_dropped_samples_total{reason="too_old"}`, `tooOldSamples` in the per-minute line, and a warning. `0`: no window (stores that keep old data).',
  },
  {
    name: 'ALLOW_OUT_OF_ORDER',
    default: 'false',
    components: ['forwarder'],
    description:
      "`true` only for stores known to accept out-of-order samples (not Azure Monitor, which drops them silently): whole batches are spread over the shards without splitting by series, so a series' samples may arrive out of order.",
  },
  {
    name: 'MAX_REQUESTS_PER_MINUTE',
    default: '15000',
    components: ['forwarder'],
    description:
      'Most upstream calls per minute to one host: a data collection endpoint takes at most 15 000 requests per minute (not raisable), shared by every lane sending there. `0`: no cap.',
  },
  {
    name: 'RELAY_STRAGGLER_TIMEOUT',
    default: '2s',
    components: ['forwarder'],
    description:
      'Relay mode: sent as `X-Relay-Straggler-Timeout`. Once one workspace has taken a batch, the relay gives the others this much longer, then answers 503 naming the slow ones; their share goes to their own durable lane, so a hanging workspace never slows the healthy ones. `0`: off (the relay waits for every workspace up to its UPSTREAM_TIMEOUT).',
  },
  {
    name: 'SHUTDOWN_TIMEOUT',
    default: '10s',
    components: ['forwarder'],
    description:
      "On SIGTERM, how long an upstream call in flight may take to finish before the forwarder exits anyway; its batch stays in the spool and is sent after the restart. Keep it well under the pod's 30 s termination grace period.",
  },
];

const byName = new Map(SETTINGS.map((s) => [s.name, s]));

export type Env = Readonly<Record<string, string | undefined>>;

/** The setting's value, its default when unset or blank; throws on an undeclared name. */
export function settingValue(env: Env, name: string): string | undefined {
  const spec = byName.get(name);
  if (!spec) throw new Error(`setting ${name} is not declared in shared/config/settings.ts`);
  const raw = env[name];
  return raw !== undefined && raw.trim() !== '' ? raw.trim() : spec.default;
}

export function isSecretSetting(name: string): boolean {
  return byName.get(name)?.secret === true;
}
