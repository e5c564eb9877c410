// The tenant table: which caller may write, as which cluster, to which workspaces,
// with which identity and limits. Read from TENANTS_FILE or RELAY_TENANTS (JSON), checked
// whole at start-up; every problem names the tenant and the field. Schema: docs/tenants.md.

import { readFileSync } from 'node:fs';
import { type Endpoint, parseEndpoints } from '../fanout/endpoints';
import { ConfigProblem, parseSize } from '../config/parse';
import { type RelabelRule, RelabelConfigError, parseRelabelConfigs } from '../relabel/config';
import { MAX_SERIES_LIMIT } from '../cost/series-limit';

export type ClusterConflict = 'reject' | 'overwrite';

export interface TenantLimits {
  /** sustained samples per second (token bucket rate); undefined: unlimited */
  samplesPerSecond?: number;
  /** bucket size; defaults to 10 s of samplesPerSecond */
  burstSamples?: number;
  /** largest compressed request body for this tenant */
  maxBodyBytes?: number;
  /** distinct series per hour / per day (vmagent's maxHourlySeries / maxDailySeries); undefined: unlimited */
  maxHourlySeries?: number;
  maxDailySeries?: number;
}

export interface Tenant {
  name: string;
  /** value of the cluster label set on every series of this tenant */
  cluster: string;
  /** what to do with a series that claims another cluster */
  clusterConflict: ClusterConflict;
  /** lower-case hex SHA-256 of each accepted relay key */
  keySha256: string[];
  /** Entra object/application ids (oid, appid, azp) accepted for this tenant */
  principals: string[];
  endpoints: Endpoint[];
  /** user-assigned managed identity for this tenant's tokens; undefined: the relay's own */
  clientId?: string;
  limits: TenantLimits;
  /** this tenant's relabel_config rules, after RELABEL_CONFIG_FILE's; empty: none */
  relabelConfigs: RelabelRule[];
}

export interface EntraCallers {
  /** expected `aud` of callers' tokens (the relay's App ID URI or client id) */
  audience: string;
  /** accepted `iss` values */
  issuers: string[];
  jwksUrl: string;
}

export interface TenantTable {
  tenants: Tenant[];
  entra?: EntraCallers;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const LOOPBACK_HTTP = /^http:\/\/(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?\//i;

/** The table from TENANTS_FILE or RELAY_TENANTS, undefined when neither is set. */
export function loadTenantTable(
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
  authorityHost = 'https://login.microsoftonline.com',
): TenantTable | undefined {
  const file = env.TENANTS_FILE?.trim();
  const inline = env.RELAY_TENANTS?.trim();
  if (file && inline) {
    problems.push('TENANTS_FILE and RELAY_TENANTS are both set: keep one');
    return undefined;
  }
  let text: string;
  let source: string;
  if (file) {
    source = `TENANTS_FILE (${file})`;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(`${source} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  } else if (inline) {
    source = 'RELAY_TENANTS';
    text = inline;
  } else {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    problems.push(`${source} is not valid JSON: ${(err as Error).message}`);
    return undefined;
  }
  return parseTenantTable(json, source, problems, authorityHost);
}

export function parseTenantTable(json: unknown, source: string, problems: string[], authorityHost: string): TenantTable | undefined {
  if (!isObject(json) || !Array.isArray(json.tenants) || json.tenants.length === 0) {
    problems.push(`${source} must be an object with a non-empty "tenants" array (see docs/tenants.md)`);
    return undefined;
  }
  const tenants: Tenant[] = [];
  const names = new Set<string>();
  const keyOwner = new Map<string, string>();
  const principalOwner = new Map<string, string>();
  json.tenants.forEach((raw: unknown, i: number) => {
    const where = `${source} tenants[${i}]`;
    const t = parseTenant(raw, where, problems);
    if (!t) return;
    if (names.has(t.name)) problems.push(`${where}: name "${t.name}" is used twice`);
    names.add(t.name);
    for (const k of t.keySha256) {
      const other = keyOwner.get(k);
      if (other) problems.push(`${where} (${t.name}): a key hash is also listed for "${other}": each key must name one tenant`);
      keyOwner.set(k, t.name);
    }
    for (const p of t.principals) {
      const other = principalOwner.get(p);
      if (other) problems.push(`${where} (${t.name}): principal ${p} is also listed for "${other}": each caller must name one tenant`);
      principalOwner.set(p, t.name);
    }
    tenants.push(t);
  });
  const entra = parseEntra(json.entra, `${source} entra`, problems, authorityHost);
  if (!entra && tenants.some((t) => t.principals.length > 0)) {
    problems.push(`${source}: tenants list Entra principals, so "entra" needs at least {"audience": "<relay app id uri>", "tenantId": "<entra tenant id>"}`);
  }
  return { tenants, entra };
}

function parseTenant(raw: unknown, where: string, problems: string[]): Tenant | undefined {
  if (!isObject(raw)) {
    problems.push(`${where} must be an object`);
    return undefined;
  }
  const name = typeof raw.name === 'string' ? raw.name : '';
  if (!NAME.test(name)) problems.push(`${where}: "name" must be 1-63 letters, digits, '.', '_' or '-'`);
  const label = `${where} (${name || 'unnamed'})`;
  const cluster = typeof raw.cluster === 'string' ? raw.cluster : '';
  if (cluster === '') problems.push(`${label}: "cluster" is required (the cluster label set on every series)`);
  const conflict = raw.clusterConflict ?? 'reject';
  if (conflict !== 'reject' && conflict !== 'overwrite') problems.push(`${label}: "clusterConflict" must be "reject" or "overwrite"`);
  const keys = stringList(raw.keySha256, `${label}: "keySha256"`, problems).map((k) => k.toLowerCase().replace(/^sha256:/, ''));
  for (const k of keys)
    if (!HEX64.test(k)) problems.push(`${label}: "keySha256" entries must be 64 hex digits (SHA-256 of the key; see docs/tenants.md), not the key itself`);
  const principals = stringList(raw.principals, `${label}: "principals"`, problems);
  if (keys.length === 0 && principals.length === 0) problems.push(`${label}: give "keySha256" or "principals", or nobody can write as this tenant`);
  const urls = stringList(raw.ingestionUrls, `${label}: "ingestionUrls"`, problems);
  const endpoints = urls.length ? parseEndpoints(urls.join(','), `${label} ingestionUrls`, problems) : [];
  if (urls.length === 0) problems.push(`${label}: "ingestionUrls" must list the workspace ingestion endpoint(s) this tenant writes to`);
  const clientId = typeof raw.clientId === 'string' && raw.clientId !== '' ? raw.clientId : undefined;
  return {
    name,
    cluster,
    clusterConflict: conflict === 'overwrite' ? 'overwrite' : 'reject',
    keySha256: keys,
    principals,
    endpoints,
    clientId,
    limits: parseLimits(raw.limits, label, problems),
    relabelConfigs: parseTenantRelabel(raw.relabelConfigs, label, problems),
  };
}

function parseTenantRelabel(raw: unknown, label: string, problems: string[]): RelabelRule[] {
  if (raw === undefined) return [];
  try {
    return parseRelabelConfigs(raw, `${label}: "relabelConfigs"`, 'tenant:');
  } catch (err) {
    if (!(err instanceof RelabelConfigError)) throw err;
    problems.push(err.message);
    return [];
  }
}

function parseLimits(raw: unknown, label: string, problems: string[]): TenantLimits {
  if (raw === undefined) return {};
  if (!isObject(raw)) {
    problems.push(`${label}: "limits" must be an object`);
    return {};
  }
  const limits: TenantLimits = {};
  const positive = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !(v > 0)) {
      problems.push(`${label}: "limits.${key}" must be a positive number`);
      return undefined;
    }
    return v;
  };
  limits.samplesPerSecond = positive('samplesPerSecond');
  limits.burstSamples = positive('burstSamples');
  for (const key of ['maxHourlySeries', 'maxDailySeries'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > MAX_SERIES_LIMIT) {
      problems.push(`${label}: "limits.${key}" must be a whole number from 1 to ${MAX_SERIES_LIMIT} (its memory is 2 bytes per series)`);
      continue;
    }
    limits[key] = v;
  }
  if (raw.maxBodyBytes !== undefined && typeof raw.maxBodyBytes !== 'string' && typeof raw.maxBodyBytes !== 'number') {
    problems.push(`${label}: "limits.maxBodyBytes" must be a size like "32MiB" or a number of bytes`);
  } else if (raw.maxBodyBytes !== undefined) {
    try {
      limits.maxBodyBytes = parseSize(String(raw.maxBodyBytes));
    } catch (err) {
      if (!(err instanceof ConfigProblem)) throw err;
      problems.push(`${label}: "limits.maxBodyBytes" ${err.message}`);
    }
  }
  return limits;
}

function parseEntra(raw: unknown, where: string, problems: string[], authorityHost: string): EntraCallers | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw) || typeof raw.audience !== 'string' || raw.audience === '') {
    problems.push(`${where}: "audience" is required (the App ID URI or client id callers request tokens for)`);
    return undefined;
  }
  const tenantId = typeof raw.tenantId === 'string' ? raw.tenantId : undefined;
  const issuers = raw.issuer !== undefined ? stringList(raw.issuer, `${where}: "issuer"`, problems) : [];
  if (tenantId) issuers.push(`https://sts.windows.net/${tenantId}/`, `${authorityHost}/${tenantId}/v2.0`);
  if (issuers.length === 0) problems.push(`${where}: give "tenantId" (Entra tenant of the callers) or "issuer"`);
  const jwksUrl = typeof raw.jwksUrl === 'string' ? raw.jwksUrl : tenantId ? `${authorityHost}/${tenantId}/discovery/v2.0/keys` : '';
  if (!jwksUrl.startsWith('https://') && !LOOPBACK_HTTP.test(jwksUrl)) problems.push(`${where}: "jwksUrl" must be https:// (http:// only on loopback)`);
  return { audience: raw.audience, issuers, jwksUrl };
}

function stringList(v: unknown, what: string, problems: string[]): string[] {
  if (v === undefined) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x !== '')) {
    problems.push(`${what} must be a list of non-empty strings`);
    return [];
  }
  return list as string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
