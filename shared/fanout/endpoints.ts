// INGESTION_URL → endpoints with stable short ids. The id names an endpoint in the
// partial-failure headers without revealing its URL (which may carry a DCR id).

import { createHash } from 'node:crypto';

export interface Endpoint {
  /** 10 hex chars of SHA-256 of the URL: stable across restarts and instances */
  id: string;
  url: string;
  /** for logs and health output */
  host: string;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

export function endpointId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 10);
}

/** Parses a comma-separated URL list; problems are appended, valid endpoints returned. */
export function parseEndpoints(raw: string | undefined, setting: string, problems: string[]): Endpoint[] {
  if (raw === undefined) {
    problems.push(
      `${setting} is not set: set it to the workspace's metrics ingestion endpoint (https://<dce>.<region>-1.metrics.ingest.monitor.azure.com/dataCollectionRules/<dcr-id>/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24); several may be separated by commas`,
    );
    return [];
  }
  const out: Endpoint[] = [];
  for (const [index, part] of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .entries()) {
    let u: URL;
    try {
      u = new URL(part);
    } catch {
      problems.push(`${setting} entry ${index + 1} (${part.length} characters) is not a valid URL: set it to the full https:// ingestion endpoint URL`); // the text itself may hold a secret
      continue;
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname))) {
      problems.push(`${setting} entry ${u.protocol}//${u.host} must use https:// (http:// is allowed only for loopback emulators)`);
      continue;
    }
    if (u.username || u.password) {
      problems.push(`${setting} entry for ${u.host} must not carry credentials in the URL: remove the user:password@ part (tokens come from IDENTITY_TYPE)`);
      continue;
    }
    if (out.some((e) => e.url === u.href)) {
      problems.push(`${setting} lists ${u.host}${u.pathname} twice: remove the duplicate`);
      continue;
    }
    out.push({ id: endpointId(u.href), url: u.href, host: u.host });
  }
  if (out.length === 0 && !problems.some((p) => p.startsWith(setting)))
    problems.push(`${setting} holds no URL: set it to the workspace's https:// metrics ingestion endpoint`);
  return out;
}
