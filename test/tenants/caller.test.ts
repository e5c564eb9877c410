// Caller authentication: per-tenant relay keys (stored as SHA-256) and Entra tokens
// validated in-process against a local issuer emulator with real RS256 signatures.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type EntraIssuerEmulator, startEntraIssuer } from '../../dev/emulators/entra-issuer';
import { HttpError } from '../../shared/errors';
import { createCallerResolver } from '../../shared/tenants/caller';
import { createEntraVerifier } from '../../shared/tenants/entra-token';
import { type TenantTable, parseTenantTable } from '../../shared/tenants/tenants';

const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
const URL_A = 'https://a.example/dataCollectionRules/dcr-a/streams/Microsoft-PrometheusMetrics/api/v1/write';

function table(issuer: EntraIssuerEmulator): TenantTable {
  const problems: string[] = [];
  const t = parseTenantTable(
    {
      tenants: [
        { name: 'team-a', cluster: 'aks-a', keySha256: [sha('key-a-1'), sha('key-a-2')], principals: ['oid-a'], ingestionUrls: [URL_A] },
        { name: 'team-b', cluster: 'aks-b', keySha256: [`sha256:${sha('key-b').toUpperCase()}`], principals: ['app-b'], ingestionUrls: [URL_A] },
      ],
      entra: { audience: 'api://relay', issuer: issuer.issuer, jwksUrl: issuer.jwksUrl },
    },
    'test',
    problems,
    'https://login.microsoftonline.com',
  );
  assert.deepEqual(problems, []);
  return t!;
}

async function rejects(p: Promise<unknown>, status: number, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof HttpError, String(err));
    assert.equal(err.status, status, err.message);
    assert.match(err.message, re);
    return true;
  });
}

describe('caller authentication', () => {
  let issuer: EntraIssuerEmulator;
  let resolve: (h: Record<string, string>) => Promise<string>;
  before(async () => {
    issuer = await startEntraIssuer();
    const t = table(issuer);
    const resolver = createCallerResolver(t, createEntraVerifier(t.entra!));
    resolve = async (h) => (await resolver.resolve((n) => h[n])).name;
  });
  after(() => issuer.close());

  test('relay keys map to their tenant, via x-relay-key or Authorization: Bearer', async () => {
    assert.equal(await resolve({ 'x-relay-key': 'key-a-1' }), 'team-a');
    assert.equal(await resolve({ 'x-relay-key': 'key-a-2' }), 'team-a');
    assert.equal(await resolve({ authorization: 'Bearer key-b' }), 'team-b');
  });

  test('missing or unknown credentials → 401', async () => {
    await rejects(resolve({}), 401, /missing credentials/);
    await rejects(resolve({ 'x-relay-key': 'nope' }), 401, /not a key of any tenant/);
    await rejects(resolve({ authorization: 'Bearer nope' }), 401, /not a key of any tenant/);
  });

  test('asking for another tenant → 403', async () => {
    await rejects(resolve({ 'x-relay-key': 'key-a-1', 'x-relay-tenant': 'team-b' }), 403, /tenant "team-a" cannot write as tenant "team-b"/);
    assert.equal(await resolve({ 'x-relay-key': 'key-a-1', 'x-relay-tenant': 'team-a' }), 'team-a');
  });

  test('a valid Entra token maps by oid, appid or azp', async () => {
    assert.equal(await resolve({ authorization: `Bearer ${issuer.sign({ aud: 'api://relay', oid: 'oid-a' })}` }), 'team-a');
    assert.equal(await resolve({ authorization: `Bearer ${issuer.sign({ aud: 'api://relay', oid: 'x', appid: 'app-b' })}` }), 'team-b');
    assert.equal(await resolve({ authorization: `Bearer ${issuer.sign({ aud: ['other', 'api://relay'], azp: 'app-b' })}` }), 'team-b');
  });

  test("a valid token of nobody's principal → 403", async () => {
    await rejects(
      resolve({ authorization: `Bearer ${issuer.sign({ aud: 'api://relay', oid: 'stranger' })}` }),
      403,
      /stranger holds a valid token but belongs to no tenant/,
    );
  });

  test('bad tokens → 401 with the reason', async () => {
    const t = Math.floor(Date.now() / 1000);
    const cases: [string, RegExp][] = [
      [issuer.sign({ aud: 'api://other', oid: 'oid-a' }), /audience is not api:\/\/relay/],
      [issuer.sign({ aud: 'api://relay', oid: 'oid-a', iss: 'https://evil.example/' }), /issuer https:\/\/evil\.example\/ is not accepted/],
      [issuer.sign({ aud: 'api://relay', oid: 'oid-a', exp: t - 600 }), /expired/],
      [issuer.sign({ aud: 'api://relay', oid: 'oid-a', nbf: t + 900 }), /not valid yet/],
      [issuer.sign({ aud: 'api://relay', oid: 'oid-a' }, { key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }), /bad signature/],
      [issuer.sign({ aud: 'api://relay', oid: 'oid-a' }, { kid: issuer.currentKid, alg: 'PS256' }), /algorithm PS256 is not accepted/],
      [unsignedToken(), /algorithm none is not accepted/],
      [hmacToken(issuer), /algorithm HS256 is not accepted/],
    ];
    for (const [token, re] of cases) await rejects(resolve({ authorization: `Bearer ${token}` }), 401, re);
  });

  test('key rotation: an unknown kid refreshes the JWKS once, then tokens with the new key pass', async () => {
    const before = issuer.jwksRequests;
    issuer.rotate();
    // The verifier refetches at most once a minute; a fresh verifier shows the refetch on an unknown kid.
    const t = table(issuer);
    const v = createEntraVerifier(t.entra!, { minRefetchIntervalMs: 0 });
    const old = issuer.sign({ aud: 'api://relay', oid: 'oid-a' });
    await v.verify(old);
    const afterFirst = issuer.jwksRequests;
    assert.equal(afterFirst, before + 1);
    issuer.rotate();
    await v.verify(issuer.sign({ aud: 'api://relay', oid: 'oid-a' }));
    assert.equal(issuer.jwksRequests, afterFirst + 1, 'an unknown kid triggers one refetch');
    await v.verify(issuer.sign({ aud: 'api://relay', oid: 'oid-a' }));
    assert.equal(issuer.jwksRequests, afterFirst + 1, 'known keys are served from the cache');
  });
});

describe('tenant table', () => {
  const parse = (json: unknown): string[] => {
    const problems: string[] = [];
    parseTenantTable(json, 'RELAY_TENANTS', problems, 'https://login.microsoftonline.com');
    return problems;
  };
  const ok = { name: 'a', cluster: 'c', keySha256: [sha('k')], ingestionUrls: [URL_A] };

  test('a good table has no problems, and tenantId fills issuers and JWKS', () => {
    const problems: string[] = [];
    const t = parseTenantTable(
      { tenants: [{ ...ok, principals: ['p'] }], entra: { audience: 'api://relay', tenantId: 'tid' } },
      'x',
      problems,
      'https://login.microsoftonline.com',
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(t?.entra?.issuers, ['https://sts.windows.net/tid/', 'https://login.microsoftonline.com/tid/v2.0']);
    assert.equal(t?.entra?.jwksUrl, 'https://login.microsoftonline.com/tid/discovery/v2.0/keys');
    assert.equal(t?.tenants[0].clusterConflict, 'reject');
  });

  const bad: [string, unknown, RegExp][] = [
    ['no tenants', { tenants: [] }, /non-empty "tenants" array/],
    ['bad name', { tenants: [{ ...ok, name: 'a b' }] }, /"name" must be/],
    ['no cluster', { tenants: [{ ...ok, cluster: '' }] }, /\(a\): "cluster" is required/],
    ['plain key instead of hash', { tenants: [{ ...ok, keySha256: ['my-secret-key'] }] }, /64 hex digits \(SHA-256 of the key/],
    ['no credential', { tenants: [{ ...ok, keySha256: [] }] }, /give "keySha256" or "principals"/],
    ['no endpoint', { tenants: [{ ...ok, ingestionUrls: [] }] }, /"ingestionUrls" must list/],
    ['http endpoint', { tenants: [{ ...ok, ingestionUrls: ['http://a.example/x'] }] }, /must use https/],
    ['duplicate name', { tenants: [ok, { ...ok, keySha256: [sha('other')] }] }, /name "a" is used twice/],
    ['shared key', { tenants: [ok, { ...ok, name: 'b' }] }, /also listed for "a"/],
    ['bad conflict mode', { tenants: [{ ...ok, clusterConflict: 'merge' }] }, /"reject" or "overwrite"/],
    ['bad limits', { tenants: [{ ...ok, limits: { samplesPerSecond: -1, maxBodyBytes: '1XB' } }] }, /samplesPerSecond" must be a positive number/],
    // a list used to pass as its one element's text ("32MiB"), an object as "[object Object]"
    [
      'body limit not a size',
      { tenants: [{ ...ok, limits: { maxBodyBytes: ['32MiB'] } }] },
      /"limits.maxBodyBytes" must be a size like "32MiB" or a number of bytes/,
    ],
    ['principals without entra', { tenants: [{ ...ok, principals: ['p'] }] }, /"entra" needs at least/],
    ['entra without audience', { tenants: [ok], entra: { tenantId: 't' } }, /"audience" is required/],
  ];
  for (const [name, json, re] of bad) {
    test(`${name} → a problem naming it`, () => {
      const problems = parse(json);
      assert.ok(
        problems.some((p) => re.test(p)),
        problems.join('\n'),
      );
    });
  }
});

function unsignedToken(): string {
  const b = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b({ alg: 'none', kid: 'x' })}.${b({ aud: 'api://relay', oid: 'oid-a', exp: 9e9 })}.c2ln`;
}

function hmacToken(issuer: EntraIssuerEmulator): string {
  const b = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const data = `${b({ alg: 'HS256', kid: issuer.currentKid })}.${b({ aud: 'api://relay', oid: 'oid-a', iss: issuer.issuer, exp: 9e9 })}`;
  return `${data}.${createHmac('sha256', 'guess').update(data).digest('base64url')}`;
}
