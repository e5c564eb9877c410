// deploy/azure/: the Bicep template is read by test/deploy/bicep/ (the Bicep CLI is not
// available here) and held to the settings table and to what the relay needs in Azure. The
// app settings are evaluated as ARM would, with the example parameters file and stand-ins
// for what Azure returns (an identity's client id…), and handed to the relay's own config
// loader: what it refuses at start-up, this test refuses before deployment.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadRelayConfig } from '../../shared/relay/config';
import { ConfigError } from '../../shared/config/loaders';
import { parseSize } from '../../shared/config/parse';
import { SETTINGS, settingValue } from '../../shared/config/settings';
import { type Declaration, type Expr, parseBicep } from './bicep/parse';
import { Evaluator, type Value, isArray } from './bicep/evaluate';
import { repoRoot } from '../../dev/kit/repo';

const dir = join(repoRoot, 'deploy/azure');
const read = (file: string): Declaration[] => parseBicep(readFileSync(join(dir, file), 'utf8'), `deploy/azure/${file}`);
const main = read('main.bicep');
const example = read('main.bicepparam');

const MONITORING_METRICS_PUBLISHER = '3913510d-42f4-4e42-8a64-420c390055eb';
const STORAGE_BLOB_DATA_OWNER = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b';
const KEY_VAULT_SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';

// Settings the Functions host reads, not the relay: they are not in the settings table, and
// docs/deploy.md documents each (checked below).
const HOST_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT',
  'NODE_OPTIONS',
];

// What Azure would return for the resources the template reads from: stand-ins, so the
// evaluation can show which value lands where.
const IDENTITY = {
  id: '/subscriptions/sub-1/resourceGroups/relay-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-relay',
  name: 'id-relay',
  properties: { clientId: '11111111-1111-1111-1111-111111111111', principalId: '22222222-2222-2222-2222-222222222222' },
};
const STORAGE = {
  id: '/subscriptions/sub-1/resourceGroups/relay-rg/providers/Microsoft.Storage/storageAccounts/stexample',
  name: 'stexample',
  properties: { primaryEndpoints: { blob: 'https://stexample.blob.core.windows.net/' } },
};
const CONNECTION_STRING = 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/';

function platformFor(decls: readonly Declaration[]): Record<string, Value> {
  const platform: Record<string, Value> = {};
  for (const d of decls) {
    if (d.kind === 'resource' || d.kind === 'module') platform[d.name] = { id: `/stand-in/${d.name}`, name: d.name, properties: {} };
  }
  return {
    ...platform,
    identity: IDENTITY,
    storage: STORAGE,
    appInsights: { id: '/stand-in/appInsights', name: 'appi', properties: { ConnectionString: CONNECTION_STRING } },
    functionApp: { id: '/stand-in/functionApp', name: 'relay', properties: { defaultHostName: 'relay.azurewebsites.net' } },
  };
}

/** `<placeholder>` → `placeholder`, so the example's values parse as URLs and resource ids. */
const fillPlaceholders = (v: Value): Value => (typeof v === 'string' ? v.replace(/<([a-z0-9-]+)>/g, '$1') : Array.isArray(v) ? v.map(fillPlaceholders) : v);

/** The example parameters file's values, placeholders filled. */
function exampleParams(): Record<string, Value> {
  const ev = new Evaluator(example, { params: {}, platform: {} });
  const out: Record<string, Value> = {};
  for (const d of example) if (d.kind === 'param' && d.value) out[d.name] = fillPlaceholders(ev.eval(d.value));
  return out;
}

const find = <K extends Declaration['kind']>(
  decls: readonly Declaration[],
  kind: K,
  pred: (d: Extract<Declaration, { kind: K }>) => boolean = () => true,
): Array<Extract<Declaration, { kind: K }>> =>
  decls.filter((d): d is Extract<Declaration, { kind: K }> => d.kind === kind && pred(d as Extract<Declaration, { kind: K }>));

const one = <T>(xs: readonly T[], what: string): T => {
  assert.equal(xs.length, 1, `expected exactly one ${what}, found ${xs.length}`);
  return xs[0];
};

/** The expression at a path of nested object literals (before evaluation). */
function entry(e: Expr, ...path: string[]): Expr {
  let cur = e.kind === 'for' || e.kind === 'if' ? e.body : e;
  for (const k of path) {
    assert.equal(cur.kind, 'object', `${path.join('.')}: not an object literal`);
    const found = cur.entries.find((x) => x.key.kind === 'string' && x.key.parts.length === 1 && x.key.parts[0] === k);
    assert.ok(found, `no ${k} (of ${path.join('.')})`);
    cur = found.value;
  }
  return cur;
}

const ofType = (type: string) => (d: { type: string }) => d.type.split('@')[0] === type;

const field = (v: Value, ...path: string[]): Value => {
  let cur = v;
  for (const k of path) {
    assert.ok(cur !== null && typeof cur === 'object' && !Array.isArray(cur) && k in cur, `no ${path.join('.')} in ${JSON.stringify(v)}`);
    cur = (cur as Record<string, Value>)[k];
  }
  return cur;
};

/** The value as a string, failing the test when it is not one. */
function text(v: Value): string {
  assert.ok(typeof v === 'string', `expected a string, got ${JSON.stringify(v)}`);
  return v;
}

const site = one(find(main, 'resource', ofType('Microsoft.Web/sites')), 'Microsoft.Web/sites resource');

/** The Function app as ARM would create it with these parameters. */
function evaluateSite(params: Record<string, Value>): Value {
  return new Evaluator(main, { params, platform: platformFor(main) }).eval(site.value);
}

function appSettings(params: Record<string, Value>): Array<{ name: string; value: string }> {
  const settings = field(evaluateSite(params), 'properties', 'siteConfig', 'appSettings');
  assert.ok(isArray(settings));
  return settings.map((s) => {
    const name = field(s, 'name');
    const value = field(s, 'value');
    assert.equal(typeof name, 'string');
    assert.equal(typeof value, 'string', `app setting ${JSON.stringify(name)} is not a string`);
    return { name: name as string, value: value as string };
  });
}

/** The environment the relay starts with: app settings, Key Vault references resolved by the platform. */
function relayEnv(params: Record<string, Value>, vault: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { name, value } of appSettings(params)) {
    const ref = /^@Microsoft\.KeyVault\((.*)\)$/.exec(value);
    env[name] = ref && ref[1] in vault ? vault[ref[1]] : value;
  }
  return env;
}

const TENANTS = JSON.stringify({
  tenants: [
    {
      name: 'payments-prod',
      cluster: 'aks-payments-weu',
      keySha256: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
      ingestionUrls: [
        'https://dce-payments.westeurope-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-1/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24',
      ],
    },
  ],
});

describe('deploy/azure: the template and its example parameters', () => {
  test('every file is read whole; modules exist and get exactly the parameters they declare', () => {
    for (const mod of find(main, 'module')) {
      const decls = read(mod.path);
      const params = entry(mod.value, 'params');
      assert.equal(params.kind, 'object', `module ${mod.name} passes no params`);
      const given = params.entries.map((e) => (e.key.kind === 'string' && e.key.parts.every((p) => typeof p === 'string') ? e.key.parts.join('') : '?'));
      const declared = find(decls, 'param').map((p) => p.name);
      const required = find(decls, 'param', (p) => p.value === undefined).map((p) => p.name);
      for (const g of given) assert.ok(declared.includes(g), `module ${mod.name} passes ${g}, which ${mod.path} does not declare`);
      for (const r of required) assert.ok(given.includes(r), `module ${mod.name} does not pass ${r}, which ${mod.path} requires`);
    }
  });

  test('the example parameters file uses main.bicep, names only its parameters and gives every required one', () => {
    assert.equal(one(find(example, 'using'), 'using').path, 'main.bicep');
    const declared = find(main, 'param').map((p) => p.name);
    const given = find(example, 'param').map((p) => p.name);
    for (const g of given) assert.ok(declared.includes(g), `main.bicepparam sets ${g}, which main.bicep does not declare`);
    for (const p of find(main, 'param', (d) => d.value === undefined)) assert.ok(given.includes(p.name), `main.bicepparam does not set the required ${p.name}`);
  });

  test('Flex Consumption, Linux, Node 20 or 22, HTTPS only', () => {
    const plan = one(find(main, 'resource', ofType('Microsoft.Web/serverfarms')), 'plan');
    const params = exampleParams();
    const platform = platformFor(main);
    const planValue = new Evaluator(main, { params, platform }).eval(plan.value);
    assert.deepEqual(field(planValue, 'sku'), { tier: 'FlexConsumption', name: 'FC1' });
    const app = evaluateSite(params);
    assert.equal(field(app, 'kind'), 'functionapp,linux');
    assert.equal(field(app, 'properties', 'serverFarmId'), `/stand-in/${plan.name}`);
    assert.equal(field(app, 'properties', 'httpsOnly'), true);
    assert.equal(field(app, 'properties', 'functionAppConfig', 'runtime', 'name'), 'node');
    // Whatever a user may choose, not only the example's: the parameter's allowed values.
    const version = entry(site.value, 'properties', 'functionAppConfig', 'runtime', 'version');
    assert.equal(version.kind, 'ident', 'runtime.version is a parameter');
    const versionParam = one(
      find(main, 'param', (p) => p.name === (version as { name: string }).name),
      'runtime version parameter',
    );
    const allowed = new Evaluator(main, { params: {}, platform }).eval(
      one(
        versionParam.decorators.filter((d) => d.name === 'allowed'),
        '@allowed',
      ).args[0],
    );
    assert.ok(Array.isArray(allowed) && allowed.length > 0);
    for (const v of allowed) assert.ok(v === '20' || v === '22', `node ${String(v)} is allowed; the relay runs on 20 or 22`);
    assert.equal(field(evaluateSite({ ...params, [versionParam.name]: '22' }), 'properties', 'functionAppConfig', 'runtime', 'version'), '22');
  });

  test('every app setting written is in the settings table (relay) or a documented host setting', () => {
    const names = appSettings(exampleParams()).map((s) => s.name);
    assert.equal(new Set(names).size, names.length, `an app setting is written twice: ${names.join(', ')}`);
    const deployDoc = readFileSync(join(repoRoot, 'docs/deploy.md'), 'utf8');
    for (const name of names) {
      const spec = SETTINGS.find((s) => s.name === name);
      if (spec) {
        assert.ok(spec.components.includes('relay'), `${name} is a forwarder setting, not the relay's`);
      } else {
        assert.ok(HOST_SETTINGS.includes(name), `${name} is neither in shared/config/settings.ts nor a known Functions host setting`);
        assert.ok(deployDoc.includes(`\`${name}\``), `docs/deploy.md does not document the host setting ${name}`);
      }
    }
  });

  test('the relay starts with what the template writes: identity, endpoints, cluster', () => {
    const params = exampleParams();
    const cfg = loadRelayConfig(relayEnv(params));
    assert.equal(cfg.identity.type, 'userAssigned');
    assert.equal(cfg.identity.clientId, IDENTITY.properties.clientId);
    assert.deepEqual(
      cfg.endpoints.map((e) => e.url),
      params.ingestionUrls,
    );
    assert.equal(cfg.cluster, params.cluster);
    assert.equal(cfg.appInsightsConnectionString, CONNECTION_STRING);
    assert.equal(cfg.tenants, undefined);
  });

  test('several ingestion endpoints become one comma-separated INGESTION_URL', () => {
    const urls = [
      'https://a.westeurope-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-a/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24',
      'https://b.northeurope-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-b/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24',
    ];
    const cfg = loadRelayConfig(relayEnv({ ...exampleParams(), ingestionUrls: urls }));
    assert.deepEqual(
      cfg.endpoints.map((e) => e.url),
      urls,
    );
  });

  test('no endpoints and no tenant table: the relay refuses to start, naming INGESTION_URL', () => {
    assert.throws(
      () => loadRelayConfig(relayEnv({ ...exampleParams(), ingestionUrls: [] })),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('INGESTION_URL')),
    );
  });

  test('a tenant table from the parameters file reaches the relay as RELAY_TENANTS', () => {
    const cfg = loadRelayConfig(relayEnv({ ...exampleParams(), ingestionUrls: [], tenantsJson: TENANTS }));
    assert.deepEqual(
      cfg.tenants?.tenants.map((t) => t.name),
      ['payments-prod'],
    );
  });

  test('a tenant table in Key Vault: a reference resolved with the relay identity, which may read the vault', () => {
    const params = { ...exampleParams(), ingestionUrls: [], tenantsKeyVaultName: 'kv-relay', tenantsSecretName: 'relay-tenants' };
    const written = appSettings(params).find((s) => s.name === 'RELAY_TENANTS');
    assert.equal(written?.value, '@Microsoft.KeyVault(VaultName=kv-relay;SecretName=relay-tenants)');
    assert.equal(field(evaluateSite(params), 'properties', 'keyVaultReferenceIdentity'), IDENTITY.id);
    const cfg = loadRelayConfig(relayEnv(params, { 'VaultName=kv-relay;SecretName=relay-tenants': TENANTS }));
    assert.deepEqual(
      cfg.tenants?.tenants.map((t) => t.name),
      ['payments-prod'],
    );
    // Unresolved (no access, no secret), App Service passes the reference through as text:
    // the relay must stop at start-up naming RELAY_TENANTS, not run without its tenants.
    assert.throws(
      () => loadRelayConfig(relayEnv(params)),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.includes('RELAY_TENANTS')),
    );
    const mod = one(
      find(main, 'module', (m) => m.path === 'keyvault-role.bicep'),
      'Key Vault role module',
    );
    assert.equal(mod.value.kind, 'if');
    const ev = new Evaluator(main, { params, platform: platformFor(main) });
    const deployed = ev.eval(mod.value);
    assert.equal(field(deployed, 'params', 'keyVaultName'), 'kv-relay');
    assert.equal(field(deployed, 'params', 'principalId'), IDENTITY.properties.principalId);
    assert.equal(new Evaluator(main, { params: exampleParams(), platform: platformFor(main) }).eval(mod.value), null, 'without a vault, no role on one');
    const role = one(find(read('keyvault-role.bicep'), 'resource', ofType('Microsoft.Authorization/roleAssignments')), 'role assignment');
    const inner = new Evaluator(read('keyvault-role.bicep'), {
      params: { keyVaultName: 'kv-relay', principalId: 'p' },
      platform: { vault: { id: '/vault', name: 'kv-relay' } },
    }).eval(role.value);
    assert.match(text(field(inner, 'properties', 'roleDefinitionId')), new RegExp(`/roleDefinitions/${KEY_VAULT_SECRETS_USER}$`));
    assert.deepEqual(field(inner, 'scope'), { id: '/vault', name: 'kv-relay' });
  });

  test('FUNCTIONS_REQUEST_BODY_SIZE_LIMIT is above MAX_BODY_BYTES, so the relay answers 413 itself', () => {
    const env = relayEnv(exampleParams());
    const hostLimit = Number(env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT);
    assert.ok(Number.isSafeInteger(hostLimit), `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT=${env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT} is not a number of bytes`);
    const relayLimit = parseSize(settingValue(env, 'MAX_BODY_BYTES') as string);
    assert.ok(hostLimit > relayLimit, `host limit ${hostLimit} ≤ MAX_BODY_BYTES ${relayLimit}`);
  });

  test("one Monitoring Metrics Publisher assignment per data collection rule, in the rule's own subscription and group", () => {
    const mod = one(
      find(main, 'module', (m) => m.path === 'dcr-role.bicep'),
      'DCR role module',
    );
    assert.equal(mod.value.kind, 'for');
    const loop = mod.value;
    assert.deepEqual(loop.source, { kind: 'ident', name: 'dataCollectionRuleIds' });
    const rules = [
      '/subscriptions/sub-a/resourceGroups/ws-a/providers/Microsoft.Insights/dataCollectionRules/dcr-a',
      '/subscriptions/sub-b/resourceGroups/ws-b/providers/Microsoft.Insights/dataCollectionRules/dcr-b',
    ];
    const ev = new Evaluator(main, { params: { ...exampleParams(), dataCollectionRuleIds: rules }, platform: platformFor(main) });
    const instances = ev.each(loop);
    assert.equal(instances.length, 2);
    assert.deepEqual(
      instances.map((m) => field(m, 'scope')),
      [
        { subscriptionId: 'sub-a', name: 'ws-a' },
        { subscriptionId: 'sub-b', name: 'ws-b' },
      ],
    );
    assert.deepEqual(
      instances.map((m) => field(m, 'params', 'dataCollectionRuleName')),
      ['dcr-a', 'dcr-b'],
    );
    assert.equal(new Set(instances.map((m) => field(m, 'name'))).size, 2, 'module deployment names must differ');
    for (const m of instances) assert.equal(field(m, 'params', 'principalId'), IDENTITY.properties.principalId);
    // At least one rule: a relay that may publish nowhere is a mistake caught at deployment.
    const rulesParam = one(
      find(main, 'param', (p) => p.name === 'dataCollectionRuleIds'),
      'dataCollectionRuleIds',
    );
    assert.ok(
      rulesParam.value === undefined &&
        rulesParam.decorators.some((d) => d.name === 'minLength' && JSON.stringify(d.args) === JSON.stringify([{ kind: 'number', value: 1 }])),
    );

    // Inside the module: exactly one assignment, unconditional, on the rule, for that principal.
    const inner = read('dcr-role.bicep');
    const rule = one(find(inner, 'resource', ofType('Microsoft.Insights/dataCollectionRules')), 'rule');
    assert.equal(rule.existing, true);
    const role = one(find(inner, 'resource', ofType('Microsoft.Authorization/roleAssignments')), 'role assignment in dcr-role.bicep');
    assert.equal(role.value.kind, 'object', 'the assignment is neither looped nor conditional');
    const assignment = new Evaluator(inner, {
      params: { dataCollectionRuleName: 'dcr-a', principalId: 'principal-1' },
      platform: { [rule.name]: { id: '/dcr-a', name: 'dcr-a' } },
    }).eval(role.value);
    assert.deepEqual(field(assignment, 'scope'), { id: '/dcr-a', name: 'dcr-a' });
    assert.match(
      text(field(assignment, 'properties', 'roleDefinitionId')),
      new RegExp(`/providers/Microsoft\\.Authorization/roleDefinitions/${MONITORING_METRICS_PUBLISHER}$`),
    );
    assert.equal(field(assignment, 'properties', 'principalId'), 'principal-1');
    assert.equal(field(assignment, 'properties', 'principalType'), 'ServicePrincipal');
  });

  test("the identity tokens come from is the one the app runs as, and it owns the host's storage", () => {
    const params = exampleParams();
    const app = evaluateSite(params);
    assert.equal(field(app, 'identity', 'type'), 'UserAssigned');
    assert.deepEqual(Object.keys(field(app, 'identity', 'userAssignedIdentities') as object), [IDENTITY.id]);
    const env = relayEnv(params);
    assert.equal(env.AzureWebJobsStorage__accountName, STORAGE.name);
    assert.equal(env.AzureWebJobsStorage__credential, 'managedidentity');
    assert.equal(env.AzureWebJobsStorage__clientId, IDENTITY.properties.clientId);
    assert.deepEqual(field(app, 'properties', 'functionAppConfig', 'deployment', 'storage', 'authentication'), {
      type: 'UserAssignedIdentity',
      userAssignedIdentityResourceId: IDENTITY.id,
    });
    assert.match(
      text(field(app, 'properties', 'functionAppConfig', 'deployment', 'storage', 'value')),
      /^https:\/\/stexample\.blob\.core\.windows\.net\/[a-z0-9-]+$/,
    );
    const ev = new Evaluator(main, { params, platform: platformFor(main) });
    const owners = find(main, 'resource', ofType('Microsoft.Authorization/roleAssignments')).map((r) => ev.eval(r.value));
    assert.ok(
      owners.some(
        (o) =>
          JSON.stringify(field(o, 'scope')) === JSON.stringify(STORAGE) &&
          text(field(o, 'properties', 'roleDefinitionId')).endsWith(STORAGE_BLOB_DATA_OWNER) &&
          field(o, 'properties', 'principalId') === IDENTITY.properties.principalId,
      ),
      'the identity needs Storage Blob Data Owner on the storage account',
    );
  });
});
