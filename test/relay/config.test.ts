// loadRelayConfig: every misconfiguration stops start-up with a ConfigError whose message
// names the setting and says what to set; valid spellings load to the expected values;
// describeRelayConfig never shows secrets or full ingestion URLs.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RelayConfig, describeRelayConfig, loadRelayConfig } from '../../shared/relay/config';
import { ConfigError } from '../../shared/config/loaders';
import type { Env } from '../../shared/config/settings';
import { endpointId } from '../../shared/fanout/endpoints';

const DCR = 'dcr-5f0c2a9e8b7d4c3fa1b2c3d4e5f60718';
const URL_A = `https://ws-a-abcd.eastus-1.metrics.ingest.monitor.azure.com/dataCollectionRules/${DCR}/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24`;
const URL_B =
  'https://ws-b-efgh.westeurope-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-0000aaaa/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '3c1d9a2e-0b4f-4e7a-9c8d-1a2b3c4d5e6f';

let tmp: string;
let certPath: string;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'relay-config-test-'));
  certPath = join(tmp, 'client.pem');
  writeFileSync(certPath, '-----BEGIN CERTIFICATE-----\nnot a real certificate\n-----END CERTIFICATE-----\n');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A valid environment plus the overrides; `undefined` removes a setting. */
function env(overrides: Record<string, string | undefined> = {}): Env {
  const e: Record<string, string | undefined> = { INGESTION_URL: URL_A, ...overrides };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e;
}

/** Loads and expects a ConfigError; returns it. */
function configError(e: Env): ConfigError {
  try {
    loadRelayConfig(e);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err.problems.length > 0);
    assert.equal(err.message, `invalid configuration:\n  - ${err.problems.join('\n  - ')}`);
    return err;
  }
  assert.fail('loadRelayConfig accepted the configuration');
}

/**
 * Expects exactly one problem that names `setting` and matches every `hint` (what to set),
 * and that the error message shows it.
 */
function expectProblem(e: Env, setting: string, ...hints: RegExp[]): string {
  const err = configError(e);
  assert.equal(err.problems.length, 1, `expected one problem, got:\n${err.message}`);
  const p = err.problems[0];
  assert.ok(p.includes(setting), `"${p}" does not name ${setting}`);
  for (const h of hints) assert.match(p, h);
  assert.ok(err.message.includes(p));
  return p;
}

describe('loadRelayConfig: misconfigurations', () => {
  it('INGESTION_URL not set', () => {
    expectProblem(env({ INGESTION_URL: undefined }), 'INGESTION_URL', /not set/, /https:\/\/.*metrics\.ingest\.monitor\.azure\.com\/dataCollectionRules\//);
  });

  it('INGESTION_URL blank counts as not set', () => {
    expectProblem(env({ INGESTION_URL: '   ' }), 'INGESTION_URL', /not set/);
  });

  it('INGESTION_URL holding only commas', () => {
    expectProblem(env({ INGESTION_URL: ' , ,' }), 'INGESTION_URL', /no URL/, /https:\/\//);
  });

  it('INGESTION_URL malformed', () => {
    expectProblem(env({ INGESTION_URL: 'dce.eastus-1.metrics.ingest.monitor.azure.com/api/v1/write' }), 'INGESTION_URL', /not a valid URL/, /https:\/\//);
  });

  it('CLUSTER longer than a label value may be', () => {
    expectProblem(env({ CLUSTER: 'c'.repeat(1024) }), 'CLUSTER', /1024 characters, over MAX_LABEL_VALUE_LENGTH=1023/);
  });

  it('INGESTION_URL malformed is not echoed (it may hold a secret)', () => {
    const p = expectProblem(
      env({ INGESTION_URL: `${URL_A},https//user:s3cr3t-value@host/x` }),
      'INGESTION_URL',
      /entry 2 \(\d+ characters\) is not a valid URL/,
    );
    assert.ok(!p.includes('s3cr3t-value'));
  });

  it('INGESTION_URL with http:// to a non-loopback host', () => {
    const p = expectProblem(env({ INGESTION_URL: URL_A.replace('https://', 'http://') }), 'INGESTION_URL', /must use https:\/\//, /loopback/);
    assert.ok(!p.includes(DCR), 'the problem must not echo the DCR id');
  });

  it('INGESTION_URL with http:// to loopback hosts is accepted (emulators)', () => {
    for (const u of ['http://127.0.0.1:9091/api/v1/write', 'http://localhost:9091/write', 'http://[::1]:9091/write', 'http://127.1.2.3/write']) {
      const cfg = loadRelayConfig(env({ INGESTION_URL: u }));
      assert.equal(cfg.endpoints.length, 1, u);
      assert.equal(cfg.endpoints[0].url, new URL(u).href);
    }
  });

  it('INGESTION_URL with other schemes is refused', () => {
    expectProblem(env({ INGESTION_URL: 'ftp://127.0.0.1/write' }), 'INGESTION_URL', /must use https:\/\//);
  });

  it('INGESTION_URL listing the same endpoint twice', () => {
    expectProblem(env({ INGESTION_URL: `${URL_A},${URL_B}, ${URL_A}` }), 'INGESTION_URL', /twice/, /remove/);
  });

  it('INGESTION_URL duplicates are found after URL normalisation (host case, default port)', () => {
    const variant = URL_A.replace('https://ws-a-abcd.eastus-1', 'https://WS-A-ABCD.EastUS-1').replace('.azure.com/', '.azure.com:443/');
    expectProblem(env({ INGESTION_URL: `${URL_A},${variant}` }), 'INGESTION_URL', /twice/);
  });

  it('INGESTION_URL with credentials in it', () => {
    const p = expectProblem(env({ INGESTION_URL: URL_A.replace('https://', 'https://user:hunter2@') }), 'INGESTION_URL', /credentials/, /remove/);
    assert.ok(!p.includes('hunter2'), 'the problem must not echo the password');
  });

  it('IDENTITY_TYPE unknown', () => {
    expectProblem(
      env({ IDENTITY_TYPE: 'managedIdentity' }),
      'IDENTITY_TYPE',
      /managedIdentity/,
      /systemAssigned, userAssigned, workloadIdentity, aadApplication or none/,
    );
  });

  it('userAssigned without AZURE_CLIENT_ID', () => {
    expectProblem(env({ IDENTITY_TYPE: 'userAssigned' }), 'AZURE_CLIENT_ID', /IDENTITY_TYPE=userAssigned/, /client id of the user-assigned managed identity/);
  });

  describe('workloadIdentity', () => {
    const full = {
      IDENTITY_TYPE: 'workloadIdentity',
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: TENANT,
      AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
    };

    it('loads when complete', () => {
      const cfg = loadRelayConfig(env(full));
      assert.equal(cfg.identity.type, 'workloadIdentity');
      assert.equal(cfg.identity.federatedTokenFile, full.AZURE_FEDERATED_TOKEN_FILE);
    });

    it('without AZURE_CLIENT_ID', () => {
      expectProblem(env({ ...full, AZURE_CLIENT_ID: undefined }), 'AZURE_CLIENT_ID', /IDENTITY_TYPE=workloadIdentity/, /client id/);
    });

    it('without AZURE_TENANT_ID', () => {
      expectProblem(env({ ...full, AZURE_TENANT_ID: undefined }), 'AZURE_TENANT_ID', /IDENTITY_TYPE=workloadIdentity/, /tenant id/);
    });

    it('without AZURE_FEDERATED_TOKEN_FILE', () => {
      expectProblem(
        env({ ...full, AZURE_FEDERATED_TOKEN_FILE: '' }),
        'AZURE_FEDERATED_TOKEN_FILE',
        /IDENTITY_TYPE=workloadIdentity/,
        /azure\.workload\.identity\/use=true/,
      );
    });
  });

  describe('aadApplication', () => {
    const withSecret = { IDENTITY_TYPE: 'aadApplication', AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: CLIENT, AZURE_CLIENT_SECRET: 'app-secret-value' };

    it('loads with a client secret, and with an existing certificate file', () => {
      assert.equal(loadRelayConfig(env(withSecret)).identity.clientSecret, 'app-secret-value');
      const cfg = loadRelayConfig(env({ ...withSecret, AZURE_CLIENT_SECRET: undefined, AZURE_CLIENT_CERTIFICATE_PATH: certPath }));
      assert.equal(cfg.identity.certificatePath, certPath);
    });

    it('without AZURE_TENANT_ID', () => {
      expectProblem(env({ ...withSecret, AZURE_TENANT_ID: undefined }), 'AZURE_TENANT_ID', /IDENTITY_TYPE=aadApplication/, /tenant id/);
    });

    it('without AZURE_CLIENT_ID', () => {
      expectProblem(env({ ...withSecret, AZURE_CLIENT_ID: undefined }), 'AZURE_CLIENT_ID', /IDENTITY_TYPE=aadApplication/, /application \(client\) id/);
    });

    it('with neither certificate nor secret', () => {
      expectProblem(
        env({ ...withSecret, AZURE_CLIENT_SECRET: undefined }),
        'AZURE_CLIENT_CERTIFICATE_PATH',
        /IDENTITY_TYPE=aadApplication/,
        /AZURE_CLIENT_SECRET/,
      );
    });

    it('with a certificate path that does not exist', () => {
      const missing = join(tmp, 'missing.pem');
      expectProblem(
        env({ ...withSecret, AZURE_CLIENT_SECRET: undefined, AZURE_CLIENT_CERTIFICATE_PATH: missing }),
        'AZURE_CLIENT_CERTIFICATE_PATH',
        /does not exist/,
        new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
        /mount|fix the path/,
      );
    });
  });

  it('INGESTION_AAD_AUDIENCE not ending in /.default', () => {
    expectProblem(
      env({ INGESTION_AAD_AUDIENCE: 'https://monitor.azure.com' }),
      'INGESTION_AAD_AUDIENCE',
      /must end in \/\.default/,
      /https:\/\/monitor\.azure\.com\/\.default/,
    );
  });

  it('CLOUD unknown', () => {
    expectProblem(env({ CLOUD: 'AzureGermany' }), 'CLOUD', /AzureGermany/, /AZUREPUBLIC, AZUREGOVERNMENT, AZURECHINA or AZURECUSTOM/);
  });

  it('CLOUD=AZURECUSTOM without INGESTION_AAD_AUDIENCE', () => {
    expectProblem(env({ CLOUD: 'AZURECUSTOM' }), 'INGESTION_AAD_AUDIENCE', /CLOUD=AZURECUSTOM/, /\/\.default/);
  });

  it('CLOUD=AZURECUSTOM with an Entra application but no AAD_HOST_ENDPOINT', () => {
    expectProblem(
      env({
        CLOUD: 'AZURECUSTOM',
        INGESTION_AAD_AUDIENCE: 'https://monitor.example.cloud/.default',
        IDENTITY_TYPE: 'aadApplication',
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: CLIENT,
        AZURE_CLIENT_SECRET: 's',
      }),
      'AAD_HOST_ENDPOINT',
      /login host/,
    );
  });

  it('AAD_HOST_ENDPOINT with http://', () => {
    expectProblem(env({ AAD_HOST_ENDPOINT: 'http://login.example.cloud' }), 'AAD_HOST_ENDPOINT', /https/);
  });

  for (const name of ['MAX_BODY_BYTES', 'MAX_DECODED_BYTES', 'MAX_UPSTREAM_BYTES']) {
    it(`${name} not a size`, () => {
      expectProblem(env({ [name]: '32MB' }), name, /"32MB"/, /KiB, MiB or GiB/, /32MiB/);
    });
  }

  it('MAX_BODY_BYTES of zero', () => {
    expectProblem(env({ MAX_BODY_BYTES: '0' }), 'MAX_BODY_BYTES', /32MiB/);
  });

  for (const name of ['MAX_LABELS_PER_SERIES', 'MAX_LABEL_NAME_LENGTH', 'MAX_LABEL_VALUE_LENGTH', 'MAX_METRIC_NAME_LENGTH']) {
    it(`${name} not a positive whole number`, () => {
      expectProblem(env({ [name]: '0' }), name, /positive whole number/);
    });
  }

  for (const name of ['UPSTREAM_TIMEOUT', 'PUBLISH_LOG_INTERVAL']) {
    it(`${name} not a duration`, () => {
      expectProblem(env({ [name]: '20' }), name, /not a duration/, /30s/);
    });

    it(`${name} of zero`, () => {
      expectProblem(env({ [name]: '0s' }), name, /longer than zero/, /30s/);
    });
  }

  it('reports several problems together, each naming its setting', () => {
    const err = configError({
      IDENTITY_TYPE: 'userAssigned',
      CLOUD: 'mars',
      MAX_BODY_BYTES: 'big',
      UPSTREAM_TIMEOUT: 'soon',
      INGESTION_AAD_AUDIENCE: 'api://x',
    });
    const expected = ['INGESTION_URL', 'AZURE_CLIENT_ID', 'CLOUD', 'MAX_BODY_BYTES', 'UPSTREAM_TIMEOUT', 'INGESTION_AAD_AUDIENCE'];
    assert.equal(err.problems.length, expected.length, err.message);
    for (const name of expected) {
      assert.equal(err.problems.filter((p) => p.includes(name)).length >= 1, true, `${name} missing from:\n${err.message}`);
      assert.ok(err.message.includes(name));
    }
  });

  it('reports problems with several INGESTION_URL entries together', () => {
    const err = configError(env({ INGESTION_URL: `http://example.com/w, ${URL_A}, nonsense, ${URL_A}` }));
    assert.equal(err.problems.length, 3, err.message);
    assert.match(err.problems[0], /must use https/);
    assert.match(err.problems[1], /not a valid URL/);
    assert.match(err.problems[2], /twice/);
  });
});

describe('loadRelayConfig: valid settings', () => {
  it('defaults', () => {
    const cfg = loadRelayConfig(env());
    assert.deepEqual(cfg.sizes, { maxBodyBytes: 32 * 1024 * 1024, maxDecodedBytes: 32 * 1024 * 1024, maxUpstreamBytes: 8 * 1024 * 1024 });
    assert.deepEqual(cfg.limits, { maxLabelsPerSeries: 63, maxLabelNameLength: 511, maxLabelValueLength: 1023, maxMetricNameLength: 511 });
    assert.equal(cfg.upstreamTimeoutMs, 20_000);
    assert.equal(cfg.publishLogIntervalMs, 60_000);
    assert.equal(cfg.cluster, undefined);
    assert.equal(cfg.appInsightsConnectionString, undefined);
    assert.equal(cfg.identity.type, 'systemAssigned');
    assert.equal(cfg.identity.cloud, 'AZUREPUBLIC');
    assert.equal(cfg.identity.scope, 'https://monitor.azure.com/.default');
    assert.equal(cfg.identity.authorityHost, 'https://login.microsoftonline.com');
    assert.equal(cfg.endpoints.length, 1);
    assert.equal(cfg.endpoints[0].url, URL_A);
    assert.equal(cfg.endpoints[0].host, 'ws-a-abcd.eastus-1.metrics.ingest.monitor.azure.com');
  });

  it('blank values count as unset; values are trimmed', () => {
    const cfg = loadRelayConfig(env({ MAX_BODY_BYTES: '  ', UPSTREAM_TIMEOUT: '', CLUSTER: '  aks-prod-1 ', IDENTITY_TYPE: ' ' }));
    assert.equal(cfg.sizes.maxBodyBytes, 32 * 1024 * 1024);
    assert.equal(cfg.upstreamTimeoutMs, 20_000);
    assert.equal(cfg.cluster, 'aks-prod-1');
    assert.equal(cfg.identity.type, 'systemAssigned');
  });

  it('reads every limit', () => {
    const cfg = loadRelayConfig(
      env({
        MAX_BODY_BYTES: '1MiB',
        MAX_DECODED_BYTES: '4MiB',
        MAX_UPSTREAM_BYTES: '512KiB',
        MAX_LABELS_PER_SERIES: '40',
        MAX_LABEL_NAME_LENGTH: '100',
        MAX_LABEL_VALUE_LENGTH: '200',
        MAX_METRIC_NAME_LENGTH: '300',
        UPSTREAM_TIMEOUT: '5s',
        PUBLISH_LOG_INTERVAL: '1h30m',
      }),
    );
    assert.deepEqual(cfg.sizes, { maxBodyBytes: 1024 * 1024, maxDecodedBytes: 4 * 1024 * 1024, maxUpstreamBytes: 512 * 1024 });
    assert.deepEqual(cfg.limits, { maxLabelsPerSeries: 40, maxLabelNameLength: 100, maxLabelValueLength: 200, maxMetricNameLength: 300 });
    assert.equal(cfg.upstreamTimeoutMs, 5000);
    assert.equal(cfg.publishLogIntervalMs, 90 * 60_000);
  });

  const clouds: [string, string, string][] = [
    ['AZUREPUBLIC', 'https://monitor.azure.com/.default', 'https://login.microsoftonline.com'],
    ['azure_public_cloud', 'https://monitor.azure.com/.default', 'https://login.microsoftonline.com'],
    ['AzureCloud', 'https://monitor.azure.com/.default', 'https://login.microsoftonline.com'],
    ['AzureChina', 'https://monitor.azure.cn/.default', 'https://login.chinacloudapi.cn'],
    ['AZURE_CHINA_CLOUD', 'https://monitor.azure.cn/.default', 'https://login.chinacloudapi.cn'],
    ['AZUREGOVERNMENT', 'https://monitor.azure.us/.default', 'https://login.microsoftonline.us'],
    ['AZURE_US_GOVERNMENT', 'https://monitor.azure.us/.default', 'https://login.microsoftonline.us'],
    ['azure-government', 'https://monitor.azure.us/.default', 'https://login.microsoftonline.us'],
  ];
  for (const [cloud, scope, authority] of clouds) {
    it(`CLOUD=${cloud} → ${scope}`, () => {
      const cfg = loadRelayConfig(env({ CLOUD: cloud }));
      assert.equal(cfg.identity.scope, scope);
      assert.equal(cfg.identity.authorityHost, authority);
    });
  }

  it("INGESTION_AAD_AUDIENCE overrides the cloud's audience", () => {
    const cfg = loadRelayConfig(env({ CLOUD: 'AzureChina', INGESTION_AAD_AUDIENCE: 'https://monitor.example.cloud/.default' }));
    assert.equal(cfg.identity.scope, 'https://monitor.example.cloud/.default');
    assert.equal(cfg.identity.cloud, 'AZURECHINA');
  });

  it('CLOUD=AZURECUSTOM with audience and AAD host', () => {
    const cfg = loadRelayConfig(
      env({ CLOUD: 'AzureCustom', INGESTION_AAD_AUDIENCE: 'https://monitor.example.cloud/.default', AAD_HOST_ENDPOINT: 'login.example.cloud' }),
    );
    assert.equal(cfg.identity.cloud, 'AZURECUSTOM');
    assert.equal(cfg.identity.scope, 'https://monitor.example.cloud/.default');
    assert.equal(cfg.identity.authorityHost, 'https://login.example.cloud');
  });

  it('CLOUD=AZURECUSTOM needs no audience when IDENTITY_TYPE=none', () => {
    const cfg = loadRelayConfig(env({ CLOUD: 'AZURECUSTOM', IDENTITY_TYPE: 'none' }));
    assert.equal(cfg.identity.type, 'none');
  });

  for (const host of ['login.microsoftonline.us', 'https://login.microsoftonline.us', 'https://login.microsoftonline.us/', 'login.microsoftonline.us//']) {
    it(`AAD_HOST_ENDPOINT=${host} → https://login.microsoftonline.us`, () => {
      const cfg = loadRelayConfig(env({ AAD_HOST_ENDPOINT: host }));
      assert.equal(cfg.identity.authorityHost, 'https://login.microsoftonline.us');
    });
  }

  it('comma-separated endpoints: order kept, blanks skipped, stable distinct ids', () => {
    const local = 'http://127.0.0.1:9091/api/v1/write';
    const raw = ` ${URL_A} ,${URL_B},, ${local} `;
    const a = loadRelayConfig(env({ INGESTION_URL: raw }));
    const b = loadRelayConfig(env({ INGESTION_URL: `${URL_A},${URL_B},${local}` }));
    assert.deepEqual(
      a.endpoints.map((e) => e.url),
      [URL_A, URL_B, local],
    );
    assert.deepEqual(
      a.endpoints.map((e) => e.host),
      ['ws-a-abcd.eastus-1.metrics.ingest.monitor.azure.com', 'ws-b-efgh.westeurope-1.metrics.ingest.monitor.azure.com', '127.0.0.1:9091'],
    );
    const ids = a.endpoints.map((e) => e.id);
    for (const id of ids) assert.match(id, /^[0-9a-f]{10}$/);
    assert.equal(new Set(ids).size, 3, 'ids are distinct');
    assert.deepEqual(
      b.endpoints.map((e) => e.id),
      ids,
      'ids are stable across loads',
    );
    assert.equal(ids[0], endpointId(URL_A));
    // an id depends on the URL only, not on its position in the list
    const reordered = loadRelayConfig(env({ INGESTION_URL: `${URL_B},${URL_A}` }));
    assert.deepEqual(
      reordered.endpoints.map((e) => e.id),
      [ids[1], ids[0]],
    );
    // and no id reveals the DCR id
    for (const id of ids) assert.ok(!DCR.includes(id));
  });

  const typeSpellings: [string, string, Record<string, string>][] = [
    ['SYSTEMASSIGNED', 'systemAssigned', {}],
    ['systemassigned', 'systemAssigned', {}],
    ['UserAssigned', 'userAssigned', { AZURE_CLIENT_ID: CLIENT }],
    ['WORKLOADIDENTITY', 'workloadIdentity', { AZURE_CLIENT_ID: CLIENT, AZURE_TENANT_ID: TENANT, AZURE_FEDERATED_TOKEN_FILE: '/t' }],
    ['AadApplication', 'aadApplication', { AZURE_CLIENT_ID: CLIENT, AZURE_TENANT_ID: TENANT, AZURE_CLIENT_SECRET: 's' }],
    ['NONE', 'none', {}],
  ];
  for (const [raw, type, extra] of typeSpellings) {
    it(`IDENTITY_TYPE=${raw} → ${type}`, () => {
      assert.equal(loadRelayConfig(env({ IDENTITY_TYPE: raw, ...extra })).identity.type, type);
    });
  }

  it('CLUSTER and APPLICATIONINSIGHTS_CONNECTION_STRING are read', () => {
    const cfg = loadRelayConfig(env({ CLUSTER: 'aks-west', APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000' }));
    assert.equal(cfg.cluster, 'aks-west');
    assert.equal(cfg.appInsightsConnectionString, 'InstrumentationKey=00000000-0000-0000-0000-000000000000');
  });
});

describe('describeRelayConfig', () => {
  const CLIENT_SECRET = 'Zq8~client-secret-value-do-not-log';
  const CERT_PASSWORD = 'cert-password-do-not-log';
  const AI = 'InstrumentationKey=9f8e7d6c-5b4a-3210-fedc-ba9876543210;IngestionEndpoint=https://eastus-8.in.applicationinsights.azure.com/';
  const QUERY = 'api-version=2023-04-24';

  function assertSafe(cfg: RelayConfig): string {
    const text = JSON.stringify(describeRelayConfig(cfg));
    for (const secret of [
      CLIENT_SECRET,
      CERT_PASSWORD,
      AI,
      '9f8e7d6c-5b4a-3210-fedc-ba9876543210',
      'eastus-8.in.applicationinsights',
      DCR,
      QUERY,
      '/dataCollectionRules/',
      URL_A,
    ]) {
      assert.ok(!text.includes(secret), `describeRelayConfig shows ${secret}: ${text}`);
    }
    return text;
  }

  it('shows no client secret, connection string, DCR id or query string', () => {
    const cfg = loadRelayConfig(
      env({
        INGESTION_URL: `${URL_A},${URL_B}`,
        IDENTITY_TYPE: 'aadApplication',
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: CLIENT,
        AZURE_CLIENT_SECRET: CLIENT_SECRET,
        APPLICATIONINSIGHTS_CONNECTION_STRING: AI,
      }),
    );
    const text = assertSafe(cfg);
    // it still says what is configured
    const d = describeRelayConfig(cfg) as { endpoints: { id: string; host: string }[]; identity: Record<string, unknown>; applicationInsights: string };
    assert.deepEqual(
      d.endpoints,
      cfg.endpoints.map((e) => ({ id: e.id, host: e.host })),
    );
    assert.equal(d.identity.type, 'aadApplication');
    assert.equal(d.identity.credential, 'secret');
    assert.equal(d.applicationInsights, 'enabled');
    assert.ok(text.includes('ws-a-abcd.eastus-1.metrics.ingest.monitor.azure.com'));
    assert.ok(text.includes('32MiB'));
  });

  it('shows no certificate password', () => {
    const cfg = loadRelayConfig(
      env({
        IDENTITY_TYPE: 'aadApplication',
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: CLIENT,
        AZURE_CLIENT_CERTIFICATE_PATH: certPath,
        AZURE_CLIENT_CERTIFICATE_PASSWORD: CERT_PASSWORD,
      }),
    );
    assertSafe(cfg);
    assert.equal((describeRelayConfig(cfg).identity as Record<string, unknown>).credential, 'certificate');
  });

  it('the secrets it hides are really in the loaded config (the check above can fail)', () => {
    const cfg = loadRelayConfig(
      env({
        IDENTITY_TYPE: 'aadApplication',
        AZURE_TENANT_ID: TENANT,
        AZURE_CLIENT_ID: CLIENT,
        AZURE_CLIENT_SECRET: CLIENT_SECRET,
        APPLICATIONINSIGHTS_CONNECTION_STRING: AI,
      }),
    );
    const raw = JSON.stringify(cfg);
    for (const s of [CLIENT_SECRET, DCR, QUERY]) assert.ok(raw.includes(s), s);
    assert.ok(raw.includes('9f8e7d6c-5b4a-3210-fedc-ba9876543210'));
  });
});

describe('loadRelayConfig: shared state and HA dedup', () => {
  const CONN = 'DefaultEndpointsProtocol=https;AccountName=relayapp;AccountKey=c2VjcmV0LXN0b3JhZ2Uta2V5;EndpointSuffix=core.windows.net';

  it('HA_DEDUP=on without storage, or with bad values, stops start-up naming what to set', () => {
    expectProblem(env({ HA_DEDUP: 'on' }), 'AzureWebJobsStorage', /HA_DEDUP=on needs shared state/, /UseDevelopmentStorage=true/);
    expectProblem(env({ HA_DEDUP: 'yes' }), 'HA_DEDUP', /must be on or off, not "yes"/);
    expectProblem(env({ HA_DEDUP: 'on', AzureWebJobsStorage: CONN, HA_FAILOVER_TIMEOUT: '2s' }), 'HA_FAILOVER_TIMEOUT', /at least 3s/);
    expectProblem(env({ HA_DEDUP: 'on', AzureWebJobsStorage: CONN, HA_REPLICA_LABEL: 'cluster' }), 'HA_REPLICA_LABEL', /must differ/);
    expectProblem(env({ HA_DEDUP: 'on', AzureWebJobsStorage: CONN, HA_REPLICA_LABEL: 'replica-id' }), 'HA_REPLICA_LABEL', /not a Prometheus label name/);
    expectProblem(env({ AzureWebJobsStorage: CONN, STATE_TABLE: 'relay-state' }), 'STATE_TABLE', /letters and digits/);
    expectProblem(env({ AzureWebJobsStorage__accountName: 'relayapp', IDENTITY_TYPE: 'none' }), 'AzureWebJobsStorage', /needs an identity: set IDENTITY_TYPE/);
    expectProblem(
      env({ AzureWebJobsStorage__tableServiceUri: 'http://relayapp.table.core.windows.net' }),
      'AzureWebJobsStorage__tableServiceUri',
      /https:\/\//,
    );
  });

  it("loads the defaults (Mimir's 30 s failover, cluster and __replica__) and never shows the connection string", () => {
    const cfg = loadRelayConfig(env({ HA_DEDUP: 'ON', AzureWebJobsStorage: CONN }));
    assert.deepEqual(cfg.ha, { clusterLabel: 'cluster', replicaLabel: '__replica__', failoverTimeoutMs: 30_000 });
    assert.deepEqual(cfg.state, { source: { kind: 'connectionString', value: CONN }, table: 'relaystate', timeoutMs: 2000, quotaSyncMs: 5000 });
    const shown = JSON.stringify(describeRelayConfig(cfg));
    assert.ok(!shown.includes('c2VjcmV0LXN0b3JhZ2Uta2V5') && !shown.includes('AccountKey'), shown);
    assert.match(shown, /"sharedState":\{"table":"relaystate","connection":"connection string"\}/);
    const byIdentity = loadRelayConfig(env({ AzureWebJobsStorage__accountName: 'relayapp' }));
    assert.deepEqual(byIdentity.state?.source, { kind: 'identity', url: 'https://relayapp.table.core.windows.net' });
    assert.equal(byIdentity.ha, undefined);
    assert.equal(loadRelayConfig(env()).state, undefined, 'no storage: quotas per instance');
  });
});
