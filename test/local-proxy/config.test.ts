// loadForwarderConfig: the seed side car's environments (user-assigned, workload identity,
// Entra application with a certificate) load unchanged in direct mode; RELAY_URL selects
// relay mode; every mistake stops start-up naming the setting and what to set; sizes and
// durations take the documented spellings; nothing secret is ever described.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ForwarderConfig, describeForwarderConfig, loadForwarderConfig } from '../../local-proxy/config';
import { ConfigError } from '../../shared/config/loaders';
import { SETTINGS } from '../../shared/config/settings';
import { endpointId } from '../../shared/fanout/endpoints';
import { repoRoot } from '../../dev/kit/repo';

const INGESTION =
  'https://my-azure-monitor-workspace.eastus2-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-00000000000000000/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2021-11-01-preview';
const RELAY = 'https://my-relay.azurewebsites.net/api/v1/write';
const CLIENT = '00000000-0000-0000-0000-00000000000a';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const KEY = 'c2VjcmV0LWZ1bmN0aW9uLWtleQ==';

let tmp: string;
let cert: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'proxy-config-test-'));
  cert = join(tmp, 'cert.pem');
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nnot real\n-----END CERTIFICATE-----\n');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function problems(env: Record<string, string>): string[] {
  try {
    loadForwarderConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

function direct(cfg: ForwarderConfig): Extract<ForwarderConfig['target'], { mode: 'direct' }> {
  assert.equal(cfg.target.mode, 'direct');
  return cfg.target;
}

describe("the seed side car's environments load unchanged (direct mode)", () => {
  it('managed identity (the seed YAML): userAssigned', () => {
    const cfg = loadForwarderConfig({
      INGESTION_URL: INGESTION,
      LISTENING_PORT: '8081',
      IDENTITY_TYPE: 'userAssigned',
      AZURE_CLIENT_ID: CLIENT,
      CLUSTER: 'aks-prod',
    });
    const t = direct(cfg);
    assert.equal(cfg.listen.port, 8081);
    assert.equal(cfg.listen.host, undefined, 'all interfaces: the kubelet probes the pod IP');
    assert.equal(t.endpoints[0].url, INGESTION, 'the query string is kept as given');
    assert.equal(t.identity.type, 'userAssigned');
    assert.equal(t.identity.clientId, CLIENT);
    assert.equal(t.identity.scope, 'https://monitor.azure.com/.default');
    assert.equal(cfg.cluster, 'aks-prod');
  });

  it('workload identity: the webhook-injected variables are enough', () => {
    const cfg = loadForwarderConfig({
      INGESTION_URL: INGESTION,
      LISTENING_PORT: '8081',
      IDENTITY_TYPE: 'workloadIdentity',
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: TENANT,
      AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
    });
    assert.equal(direct(cfg).identity.type, 'workloadIdentity');
    assert.equal(direct(cfg).identity.federatedTokenFile, '/var/run/secrets/azure/tokens/azure-identity-token');
  });

  it('Entra application with a certificate from Key Vault; other clouds', () => {
    const cfg = loadForwarderConfig({
      INGESTION_URL: INGESTION,
      LISTENING_PORT: '8081',
      IDENTITY_TYPE: 'aadApplication',
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_CERTIFICATE_PATH: cert,
      CLUSTER: 'onprem-1',
      CLOUD: 'AzureChina',
    });
    assert.equal(direct(cfg).identity.certificatePath, cert);
    assert.equal(direct(cfg).identity.scope, 'https://monitor.azure.cn/.default');
  });

  it('what the seed does not set takes the documented defaults', () => {
    const cfg = loadForwarderConfig({ INGESTION_URL: INGESTION, IDENTITY_TYPE: 'userAssigned', AZURE_CLIENT_ID: CLIENT });
    assert.deepEqual(cfg.spool, { dir: '.spool', maxBytes: 1024 ** 3, segmentBytes: 16 * 1024 ** 2, fullPolicy: 'reject' });
    assert.deepEqual(cfg.batch, { maxBytes: 8 * 1024 ** 2, maxSamples: 20000, maxWaitMs: 1000 });
    assert.deepEqual(cfg.retry, { minBackoffMs: 500, maxBackoffMs: 30_000 });
    assert.equal(cfg.catchupMaxRate, 0);
    assert.deepEqual(cfg.shards, { min: 1, max: 16 });
    assert.equal(cfg.maxSampleAgeMs, 20 * 60_000);
    assert.equal(cfg.allowOutOfOrder, false);
    assert.equal(cfg.maxRequestsPerMinute, 15_000);
    assert.equal(cfg.relayStragglerTimeoutMs, 2000);
    assert.equal(cfg.shutdownTimeoutMs, 10_000);
    assert.equal(cfg.upstreamTimeoutMs, 20_000);
    assert.equal(cfg.publishLogIntervalMs, 60_000);
  });

  it('several INGESTION_URLs: one lane per endpoint, by stable id', () => {
    const other = INGESTION.replace('eastus2-1', 'westeurope-1');
    const t = direct(loadForwarderConfig({ INGESTION_URL: `${INGESTION}, ${other}`, IDENTITY_TYPE: 'systemAssigned' }));
    assert.deepEqual(
      t.endpoints.map((e) => e.id),
      [endpointId(INGESTION), endpointId(other)],
    );
  });
});

describe('relay mode', () => {
  it('RELAY_URL with a function key', () => {
    const cfg = loadForwarderConfig({ RELAY_URL: RELAY, RELAY_KEY: KEY });
    assert.equal(cfg.target.mode, 'relay');
    if (cfg.target.mode !== 'relay') return;
    assert.equal(cfg.target.endpoint.url, RELAY);
    assert.equal(cfg.target.key, KEY);
    assert.equal(cfg.target.identity, undefined, 'no token without RELAY_SCOPE');
  });

  it('RELAY_SCOPE (Easy Auth): token from the identity settings, with that scope', () => {
    const cfg = loadForwarderConfig({
      RELAY_URL: RELAY,
      RELAY_SCOPE: 'api://relay-app/.default',
      IDENTITY_TYPE: 'workloadIdentity',
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: TENANT,
      AZURE_FEDERATED_TOKEN_FILE: '/t',
    });
    assert.equal(cfg.target.mode, 'relay');
    if (cfg.target.mode !== 'relay') return;
    assert.equal(cfg.target.identity?.scope, 'api://relay-app/.default');
    assert.equal(cfg.target.identity?.type, 'workloadIdentity');
  });

  it('loopback http is accepted (dev relay host)', () => {
    assert.equal(loadForwarderConfig({ RELAY_URL: 'http://127.0.0.1:7071/api/v1/write' }).target.mode, 'relay');
  });
});

describe('mistakes stop start-up with what to set', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['nothing to forward to', {}, /set INGESTION_URL .* or RELAY_URL/],
    ['both modes', { INGESTION_URL: INGESTION, RELAY_URL: RELAY }, /both RELAY_URL and INGESTION_URL .* not both/],
    ['relay key in direct mode', { INGESTION_URL: INGESTION, RELAY_KEY: KEY }, /RELAY_KEY is set but RELAY_URL is not/],
    ['two relay URLs', { RELAY_URL: `${RELAY},${RELAY.replace('my-relay', 'other')}` }, /RELAY_URL holds 2 URLs/],
    ['plain http to a remote relay', { RELAY_URL: 'http://relay.example.com/api/v1/write' }, /RELAY_URL .* must use https/],
    [
      'RELAY_SCOPE without an identity',
      { RELAY_URL: RELAY, RELAY_SCOPE: 'api://x/.default', IDENTITY_TYPE: 'none' },
      /RELAY_SCOPE is set but IDENTITY_TYPE=none/,
    ],
    ['userAssigned without client id', { INGESTION_URL: INGESTION, IDENTITY_TYPE: 'userAssigned' }, /AZURE_CLIENT_ID/],
    ['bad port', { INGESTION_URL: INGESTION, LISTENING_PORT: '80808' }, /LISTENING_PORT: .*port number/],
    ['bad size', { INGESTION_URL: INGESTION, SPOOL_MAX_BYTES: '1TB' }, /SPOOL_MAX_BYTES: .*KiB, MiB or GiB/],
    ['bad duration', { INGESTION_URL: INGESTION, BATCH_MAX_WAIT: '1 second' }, /BATCH_MAX_WAIT: .*500ms, 30s/],
    ['bad policy', { INGESTION_URL: INGESTION, SPOOL_FULL_POLICY: 'block' }, /SPOOL_FULL_POLICY: .*reject .* drop-oldest/],
    [
      'spool smaller than two segments',
      { INGESTION_URL: INGESTION, SPOOL_MAX_BYTES: '16MiB' },
      /SPOOL_MAX_BYTES=16MiB must be at least twice SPOOL_SEGMENT_BYTES=16MiB/,
    ],
    [
      'backoff bounds reversed',
      { INGESTION_URL: INGESTION, RETRY_MIN_BACKOFF: '1m', RETRY_MAX_BACKOFF: '10s' },
      /RETRY_MIN_BACKOFF .* longer than RETRY_MAX_BACKOFF/,
    ],
    ['zero samples per batch', { INGESTION_URL: INGESTION, BATCH_MAX_SAMPLES: '0' }, /BATCH_MAX_SAMPLES: .*positive/],
    ['negative catch-up rate', { INGESTION_URL: INGESTION, CATCHUP_MAX_RATE: '-5' }, /CATCHUP_MAX_RATE: .*whole number/],
  ];
  for (const [what, env, re] of cases) {
    it(what, () => {
      const p = problems({ IDENTITY_TYPE: 'none', ...env });
      assert.ok(
        p.some((x) => re.test(x)),
        `${p.join('\n')}\n  does not match ${re}`,
      );
    });
  }

  it('reports every problem at once', () => {
    const p = problems({ INGESTION_URL: INGESTION, IDENTITY_TYPE: 'none', SPOOL_MAX_BYTES: 'x', BATCH_MAX_WAIT: 'y', LISTENING_PORT: 'z' });
    assert.equal(p.length, 3);
  });
});

describe('values', () => {
  it('sizes in bytes or KiB/MiB/GiB, durations Prometheus-style, CATCHUP_MAX_RATE 0 = unlimited', () => {
    const cfg = loadForwarderConfig({
      INGESTION_URL: INGESTION,
      IDENTITY_TYPE: 'none',
      SPOOL_MAX_BYTES: '2GiB',
      SPOOL_SEGMENT_BYTES: '1048576',
      BATCH_MAX_BYTES: '512KiB',
      BATCH_MAX_WAIT: '1s500ms',
      RETRY_MAX_BACKOFF: '2m',
      SHUTDOWN_TIMEOUT: '0s',
      CATCHUP_MAX_RATE: '0',
      SPOOL_FULL_POLICY: 'DROP_OLDEST',
      LISTENING_PORT: '0',
      LISTENING_HOST: '127.0.0.1',
    });
    assert.equal(cfg.spool.maxBytes, 2 * 1024 ** 3);
    assert.equal(cfg.spool.segmentBytes, 1024 * 1024);
    assert.equal(cfg.batch.maxBytes, 512 * 1024);
    assert.equal(cfg.batch.maxWaitMs, 1500);
    assert.equal(cfg.retry.maxBackoffMs, 120_000);
    assert.equal(cfg.shutdownTimeoutMs, 0);
    assert.equal(cfg.catchupMaxRate, 0);
    assert.equal(cfg.spool.fullPolicy, 'drop-oldest');
    assert.deepEqual(cfg.listen, { port: 0, host: '127.0.0.1' });
  });
});

describe('nothing secret is described', () => {
  it('no function key, no certificate password, no full URL in the description', () => {
    const relay = describeForwarderConfig(loadForwarderConfig({ RELAY_URL: `${RELAY}?code=url-key-secret`, RELAY_KEY: KEY }));
    const text = JSON.stringify(relay);
    assert.ok(!text.includes(KEY) && !text.includes('url-key-secret'), text);
    assert.match(text, /"functionKey":"set"/);
    const d = JSON.stringify(
      describeForwarderConfig(
        loadForwarderConfig({
          INGESTION_URL: INGESTION,
          IDENTITY_TYPE: 'aadApplication',
          AZURE_CLIENT_ID: CLIENT,
          AZURE_TENANT_ID: TENANT,
          AZURE_CLIENT_CERTIFICATE_PATH: cert,
          AZURE_CLIENT_CERTIFICATE_PASSWORD: 'pfx-password-secret',
        }),
      ),
    );
    assert.ok(!d.includes('pfx-password-secret') && !d.includes('dcr-00000000000000000'), d);
  });

  it('every forwarder setting is in the settings table, with a description; RELAY_KEY is secret', () => {
    const forwarder = SETTINGS.filter((s) => s.components.includes('forwarder')).map((s) => s.name);
    for (const name of [
      'LISTENING_PORT',
      'RELAY_URL',
      'RELAY_KEY',
      'RELAY_SCOPE',
      'SPOOL_DIR',
      'SPOOL_MAX_BYTES',
      'SPOOL_FULL_POLICY',
      'BATCH_MAX_BYTES',
      'BATCH_MAX_SAMPLES',
      'BATCH_MAX_WAIT',
      'CATCHUP_MAX_RATE',
      'INGESTION_URL',
      'CLUSTER',
      'IDENTITY_TYPE',
      'UPSTREAM_TIMEOUT',
    ]) {
      assert.ok(forwarder.includes(name), name);
    }
    assert.equal(SETTINGS.find((s) => s.name === 'RELAY_KEY')?.secret, true);
    for (const s of SETTINGS) assert.ok(s.description.length > 20, s.name);
  });
});

describe('deploy/ values', () => {
  /** The side car's env from a values file: name → value ("<secret>" for valueFrom). */
  function sidecarEnv(file: string): Record<string, string> {
    const text = readFileSync(join(repoRoot, 'deploy', file), 'utf8');
    assert.match(text, /- name: prom-remotewrite\n/);
    assert.match(text, /- name: rw-port\n\s+containerPort: 8081/);
    assert.match(text, /livenessProbe:\n\s+httpGet:\n\s+path: \/health\n\s+port: rw-port/);
    assert.match(text, /readinessProbe:\n\s+httpGet:\n\s+path: \/ready\n\s+port: rw-port/);
    assert.match(text, /url: "http:\/\/localhost:8081\/api\/v1\/write"/);
    const env: Record<string, string> = {};
    const lines = text.split('\n').filter((l) => !l.trim().startsWith('#'));
    for (let i = 0; i < lines.length; i++) {
      const m = /^\s+- name: ([A-Z_]+)$/.exec(lines[i]);
      if (!m) continue;
      const v = /^\s+value: "?([^"]*)"?$/.exec(lines[i + 1] ?? '');
      if (v) env[m[1]] = v[1];
      else if (/valueFrom:/.test(lines[i + 1] ?? '')) env[m[1]] = '<secret>';
    }
    return env;
  }

  /** Placeholders filled the way a user would. */
  function filled(env: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) {
      out[k] = v
        .replace('<INGESTION_URL>', INGESTION)
        .replace('https://<FUNCTION-APP>.azurewebsites.net/api/v1/write', RELAY)
        .replace(/\/mnt\/secrets-store\/<CERT-NAME>/, cert)
        .replace(/<[A-Z-]+>/g, 'x');
    }
    return out;
  }

  it("each mode's values file gives a configuration that loads, in the mode it says", () => {
    const webhook = { AZURE_CLIENT_ID: CLIENT, AZURE_TENANT_ID: TENANT, AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token' };
    const expect: [string, string, string | undefined, Record<string, string>][] = [
      ['values-direct-user-assigned.yaml', 'direct', 'userAssigned', {}],
      ['values-direct-workload-identity.yaml', 'direct', 'workloadIdentity', webhook],
      ['values-direct-aad-application.yaml', 'direct', 'aadApplication', {}],
      ['values-relay.yaml', 'relay', undefined, {}],
    ];
    for (const [file, mode, identityType, injected] of expect) {
      const env = { ...injected, ...filled(sidecarEnv(file)) };
      const cfg = loadForwarderConfig(env);
      assert.equal(cfg.target.mode, mode, file);
      assert.equal(cfg.listen.port, 8081, file);
      assert.equal(cfg.spool.dir, '/var/lib/prom-remotewrite/spool', file);
      if (cfg.target.mode === 'direct') assert.equal(cfg.target.identity.type, identityType, file);
      else assert.equal(cfg.target.key, '<secret>', file);
    }
  });

  it('the Secret holds RELAY_KEY under the name the relay values refer to', () => {
    const secret = readFileSync(join(repoRoot, 'deploy', 'relay-key-secret.yaml'), 'utf8');
    const values = readFileSync(join(repoRoot, 'deploy', 'values-relay.yaml'), 'utf8');
    assert.match(secret, /kind: Secret[\s\S]*name: prom-remotewrite-relay[\s\S]*stringData:\n\s+RELAY_KEY:/);
    assert.match(values, /secretKeyRef:\n\s+name: prom-remotewrite-relay\n\s+key: RELAY_KEY/);
  });
});
