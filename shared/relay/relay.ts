// The relay's data path, free of any HTTP framework:
//   admission (shared/intake/admit.ts: headers, then here the caller, endpoints and tenant
//   quota, then bounded body, decode, rules, validate, cluster label) → HA dedup → token
//   → fan-out → one answer.
// The Azure Function, the dev host and the forwarder's direct mode are thin shells around it.

import { type RelayConfig, describeRelayConfig } from './config';
import { type BufferPool, createBufferPool } from '../buffers/pool';
import { HttpError } from '../errors';
import {
  EXCEPT_ENDPOINTS_HEADER,
  ONLY_ENDPOINTS_HEADER,
  STRAGGLER_TIMEOUT_HEADER,
  answerFor,
  fanout,
  parseStragglerTimeout,
  selectEndpoints,
} from '../fanout/fanout';
import type { EndpointOutcome } from '../fanout/send';
import { createCredential } from '../identity/credential';
import { TokenError, type TokenSource, createTokenSource } from '../identity/token-source';
import { type Logger, createLogger, throttled } from '../observability/log';
import { type PublishLog, createPublishLog } from '../observability/publish-log';
import { type Telemetry, createTelemetry } from '../observability/telemetry';
import { NOTHING_WRITTEN } from '../remote-write/v2';
import { type Intake, type Router, type WriteAnswer, type WriteInput, admitWrite, createIntake, rawOf, withWritten } from '../intake/admit';
import type { Endpoint } from '../fanout/endpoints';
import type { IdentityConfig } from '../identity/identity-config';
import type { RelabelRule } from '../relabel/config';
import { type CostControl, costControl } from '../cost/cost-control';
import { type SeriesLimiter, seriesLimiters } from '../cost/series-limit';
import { createRelabelCounters, droppedByRule } from '../relabel/counters';
import { createCallerResolver } from '../tenants/caller';
import { createEntraVerifier } from '../tenants/entra-token';
import { type Bucket, createBucket } from '../tenants/quota';
import { USER_AGENT, VERSION } from '../version';
import { startSharedState } from './shared-state';

export type { WriteAnswer, WriteInput } from '../intake/admit';

export interface Relay {
  /** the write route's Functions authLevel: the relay authenticates callers itself when it has tenants */
  readonly authLevel: 'function' | 'anonymous';
  /**
   * Where a caller reads request bodies into (shared/buffers/pool.ts): a body leased from
   * it goes back once handleWrite has answered, when every upstream send is done with it.
   */
  readonly bodies: BufferPool;
  handleWrite(input: WriteInput): Promise<WriteAnswer>;
  health(): Record<string, unknown>;
  close(): void;
}

export interface RelayDeps {
  log?: Logger;
  telemetry?: Telemetry;
  /** overrides the token source built from cfg.identity (tests) */
  tokenSource?: TokenSource | null;
  publishLog?: PublishLog;
}

export function createRelay(cfg: RelayConfig, deps: RelayDeps = {}): Relay {
  const log = deps.log ?? createLogger();
  const telemetry = deps.telemetry ?? createTelemetry(cfg.appInsightsConnectionString);
  // One token source per (identity, scope): tenants may name their own managed identity.
  const tokenSources = new Map<string, TokenSource>();
  const tokensFor = (identity: IdentityConfig): TokenSource | undefined => {
    if (deps.tokenSource !== undefined) return deps.tokenSource ?? undefined;
    const key = `${identity.type}|${identity.clientId ?? ''}|${identity.scope}`;
    let source = tokenSources.get(key);
    const credential = source ? undefined : createCredential(identity);
    if (!source && credential) {
      source = createTokenSource(credential, identity.scope, {
        onRefreshError: (err) =>
          log.warn('token refresh failed, still using the cached token', {
            error: err.message,
            identityType: identity.type,
            ...(identity.clientId ? { clientId: identity.clientId } : {}),
          }),
      });
      tokenSources.set(key, source);
    }
    return source;
  };
  // Bodies and the requests with the cluster label spliced in live through their fan-out:
  // leased from one pool, given back after the answer (a fresh buffer per write made V8
  // collect far more often: bench/README.md, entries 10 and 11).
  const pool = createBufferPool();
  const targets = writeTargets(cfg, tokensFor, pool);
  // shared state (AzureWebJobsStorage): HA dedup and each tenant's bucket as this instance's share (docs/ha.md)
  const quotaTenants = [...targets.values()].flatMap((t) =>
    t.tenant && t.bucket && t.samplesPerSecond && t.burstSamples
      ? [{ name: t.tenant, samplesPerSecond: t.samplesPerSecond, burstSamples: t.burstSamples, bucket: t.bucket }]
      : [],
  );
  const { ha, quotas } = startSharedState(cfg, quotaTenants, log);
  const callers = cfg.tenants ? createCallerResolver(cfg.tenants, cfg.tenants.entra ? createEntraVerifier(cfg.tenants.entra) : undefined) : undefined;
  const publishLog = deps.publishLog ?? createPublishLog({ intervalMs: cfg.publishLogIntervalMs, write: log.line });
  // What the rules and series limits dropped since the last per-minute line: one field on
  // the line, per tenant and rule (or "series_limit:hourly|daily") to telemetry.
  const relabelSeen = new Map<string, number>();
  const relabelSince = (): Record<string, number> => {
    const fields: Record<string, number> = {};
    for (const t of targets.values()) {
      const cost = t.intake.cost;
      if (!cost) continue;
      const rows = cost.relabel ? droppedByRule(cost.relabel) : [];
      for (const l of cost.limiters) rows.push({ rule: `series_limit:${l.window}`, action: 'series_limit', samples: l.droppedSamples });
      for (const r of rows) {
        const field = r.action === 'series_limit' ? 'seriesLimitDroppedSamples' : 'relabelDroppedSamples';
        fields[field] ??= 0;
        const key = `${t.tenant ?? ''}\u0000${r.rule}`;
        const delta = r.samples - (relabelSeen.get(key) ?? 0);
        relabelSeen.set(key, r.samples);
        if (delta === 0) continue;
        fields[field] += delta;
        telemetry.relabelDropped(t.tenant ?? '', r.rule, delta);
      }
    }
    return fields;
  };
  publishLog.addFields(relabelSince);
  const warnOnce = throttled(log);

  const reject = (err: HttpError, tenant?: string): WriteAnswer => {
    telemetry.rejected(err.reason);
    warnOnce(`reject:${tenant ?? ''}:${err.reason}`, 'warn', 'request rejected', {
      status: err.status,
      reason: err.reason,
      ...(tenant ? { tenant } : {}),
      detail: err.message,
    });
    return { status: err.status, headers: err.retryAfterSeconds !== undefined ? { 'retry-after': String(err.retryAfterSeconds) } : {}, body: err.message };
  };

  const reportEndpointProblems = (outcomes: readonly EndpointOutcome[], target: WriteTarget): void => {
    for (const o of outcomes) {
      if (o.kind === 'retryable' && o.authProblem) {
        warnOnce(
          `auth:${o.endpoint.id}`,
          'error',
          `ingestion endpoint refused the token (HTTP ${o.status}): check that the identity has the "Monitoring Metrics Publisher" role on the workspace's data collection rule (new role assignments take up to 30 minutes), that IDENTITY_TYPE/AZURE_CLIENT_ID name that identity, and that the audience ${target.identity.scope} matches the endpoint's cloud`,
          {
            endpoint: o.endpoint.host,
            identityType: target.identity.type,
            ...(target.identity.clientId ? { clientId: target.identity.clientId } : {}),
            ...(target.tenant ? { tenant: target.tenant } : {}),
          },
        );
      } else if (o.kind === 'retryable') {
        warnOnce(`retry:${o.endpoint.id}:${o.status ?? 'net'}`, 'warn', 'ingestion endpoint failed, the sender will retry', {
          endpoint: o.endpoint.host,
          reason: o.reason,
        });
      } else if (o.kind === 'rejected') {
        warnOnce(`rejected:${o.endpoint.id}`, 'warn', 'ingestion endpoint rejected the data', {
          endpoint: o.endpoint.host,
          status: o.status,
          reason: o.reason,
        });
      }
    }
  };

  /** One write, start to answer; `leases` collects the buffers to give back after it. */
  async function write(input: WriteInput, leases: Buffer[]): Promise<WriteAnswer> {
    const started = process.hrtime.bigint();
    let target = targets.get('') as WriteTarget;
    let endpoints: readonly Endpoint[] = [];
    let stragglerTimeoutMs: number | undefined;
    // the caller, its endpoints and its quota, between the headers and the body
    const router: Router = {
      maxBodyBytes: cfg.sizes.maxBodyBytes,
      route: async (protocol) => {
        stragglerTimeoutMs = parseStragglerTimeout(input.header(STRAGGLER_TIMEOUT_HEADER), cfg.upstreamTimeoutMs);
        if (callers) target = targets.get((await callers.resolve(input.header)).name)!;
        endpoints = selectEndpoints(target.endpoints, input.header(ONLY_ENDPOINTS_HEADER), input.header(EXCEPT_ENDPOINTS_HEADER));
        // every endpoint left out (the sender delivers to them another way): nothing to do here,
        // so no quota taken, no body decoded, no token fetched
        if (endpoints.length === 0) return { outcome: 'nothing', protocol };
        // An empty bucket refuses before the body is even decompressed: flooding is cheap to turn away.
        const wait = target.bucket?.waitSeconds() ?? 0;
        if (wait > 0)
          throw new HttpError(
            429,
            'over_quota',
            `tenant "${target.tenant}" is over its ${target.samplesPerSecond} samples/s quota; retry after ${wait} s`,
            wait,
          );
        return target.intake;
      },
    };
    // bodies come from the pool (the hosts read into bodies.acquire): given back after the answer
    const leasing: WriteInput = {
      header: input.header,
      body: async (maxBytes) => {
        const body = await input.body(maxBytes);
        if (body) leases.push(body);
        return body;
      },
    };
    const admission = await admitWrite(leasing, router);
    const { protocol } = admission;
    if (admission.outcome === 'rejected') return withWritten(protocol, reject(admission.error, target?.tenant), NOTHING_WRITTEN);
    if (admission.outcome === 'nothing') return withWritten(protocol, { status: 204, headers: {}, body: '' }, NOTHING_WRITTEN);
    if (admission.allocated) leases.push(admission.allocated);
    const samples = admission.samples;
    let raw = rawOf(admission, cfg.sizes.maxDecodedBytes);
    let original = admission.block;
    if (ha && typeof raw !== 'function') {
      // HA dedup reads and removes labels: targets take no native fast path under it, so raw is at hand
      const verdict = await ha.filter(target.tenant ?? '', target.intake.cluster, raw, samples);
      if ('dropped' in verdict) return { status: 202, headers: {}, body: verdict.dropped };
      if (verdict.forward !== raw) [raw, original] = [verdict.forward, undefined];
    }
    const rawLength = typeof raw === 'function' ? admission.rawLength : undefined;
    target.bucket?.take(samples);
    telemetry.samplesReceived(samples);
    if (admission.foreignCluster > 0) {
      telemetry.clusterOverwritten(target.tenant ?? '', admission.foreignCluster);
      warnOnce(`overwrite:${target.tenant}`, 'warn', "series claimed another cluster; overwritten with the tenant's", {
        tenant: target.tenant ?? '',
        series: admission.foreignCluster,
      });
    }
    const v2 = protocol === 'v2' ? admission.written : undefined;

    let token: string | undefined;
    try {
      token = target.tokens ? await target.tokens.getToken() : undefined;
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      warnOnce(`token:${target.identity.clientId ?? ''}`, 'error', 'cannot get a token for the ingestion endpoints; answering 503 so senders retry', {
        error: err.message,
        identityType: target.identity.type,
      });
      return withWritten(
        protocol,
        { status: 503, headers: { 'retry-after': '5' }, body: `relay cannot get a token yet, retry: ${err.message}` },
        NOTHING_WRITTEN,
      );
    }

    const outcomes = await fanout(
      endpoints,
      { raw, rawLength, original, samples },
      {
        maxUpstreamBytes: cfg.sizes.maxUpstreamBytes,
        timeoutMs: cfg.upstreamTimeoutMs,
        userAgent: USER_AGENT,
        token,
        stragglerTimeoutMs,
      },
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    reportEndpointProblems(outcomes, target);
    let delivered = 0;
    let sentBytes = 0;
    for (const o of outcomes) {
      sentBytes = Math.max(sentBytes, o.bytes);
      if (o.kind === 'delivered') {
        delivered++;
        telemetry.samplesPublished(o.endpoint.host, o.samples);
      }
    }
    const result = delivered === outcomes.length ? 'all' : delivered > 0 ? 'some' : 'none';
    publishLog.record(sentBytes, seconds, result);
    telemetry.fanoutLatency(seconds * 1000, result);
    const answer = answerFor(outcomes);
    if (answer.status === 400) telemetry.rejected('upstream_rejected');
    // written = in at least one workspace (a 503 naming the others is retried to those only)
    return withWritten(protocol, answer, delivered > 0 && v2 ? v2 : NOTHING_WRITTEN);
  }

  return {
    authLevel: cfg.tenants ? 'anonymous' : 'function',

    bodies: pool,

    async handleWrite(input) {
      const leases: Buffer[] = [];
      const answer = await write(input, leases);
      // every upstream send is done with them (fanout settles after its sends); after a
      // throw nothing is given back: a send may still be writing, so the GC gets them
      for (const b of leases) pool.release(b);
      return answer;
    },

    health() {
      return {
        status: 'ok',
        version: VERSION,
        ...describeRelayConfig(cfg),
        token: (targets.get('') ?? [...targets.values()][0])?.tokens?.state() ?? null,
        ...(ha ? { haDedupState: ha.health() } : {}),
        ...(quotas ? { quotaShares: quotas.shares() } : {}),
      };
    },

    close() {
      for (const t of tokenSources.values()) t.close();
      publishLog.stop();
      quotas?.stop();
    },
  };
}

/** Where one caller's data goes and under which rules. */
interface WriteTarget {
  /** tenant name; undefined for the single-tenant relay */
  tenant?: string;
  endpoints: readonly Endpoint[];
  identity: IdentityConfig;
  tokens?: TokenSource;
  samplesPerSecond?: number;
  burstSamples?: number;
  bucket?: Bucket;
  /** body limit, cluster label, rules and series limits, native fast path */
  intake: Intake;
}

function costFor(cfg: RelayConfig, tenantRules: readonly RelabelRule[] = [], limiters: SeriesLimiter[] = []): CostControl | undefined {
  const rules = [...(cfg.relabel ?? []), ...tenantRules];
  return costControl(rules.length > 0 ? createRelabelCounters(rules) : undefined, limiters);
}

/** The single-tenant target under '' or one per tenant under its name. */
function writeTargets(cfg: RelayConfig, tokensFor: (identity: IdentityConfig) => TokenSource | undefined, pool: BufferPool): Map<string, WriteTarget> {
  const common = {
    limits: cfg.limits,
    maxDecodedBytes: cfg.sizes.maxDecodedBytes,
    // HA dedup reads and removes labels after admission: the JS path
    nativeFastPath: cfg.nativeFastPath && !cfg.ha,
    // rewritten blocks are written straight into leases (given back after the answer)
    alloc: pool.acquire,
  };
  const targets = new Map<string, WriteTarget>();
  if (!cfg.tenants) {
    targets.set('', {
      endpoints: cfg.endpoints,
      identity: cfg.identity,
      tokens: tokensFor(cfg.identity),
      intake: createIntake({
        ...common,
        maxBodyBytes: cfg.sizes.maxBodyBytes,
        maxBodyName: 'MAX_BODY_BYTES',
        cluster: cfg.cluster,
        onForeignCluster: 'keep',
        cost: costFor(cfg),
      }),
    });
    return targets;
  }
  for (const t of cfg.tenants.tenants) {
    const identity: IdentityConfig = t.clientId ? { ...cfg.identity, type: 'userAssigned', clientId: t.clientId } : cfg.identity;
    const rate = t.limits.samplesPerSecond;
    const burst = rate ? (t.limits.burstSamples ?? rate * 10) : undefined;
    targets.set(t.name, {
      tenant: t.name,
      endpoints: t.endpoints,
      identity,
      tokens: tokensFor(identity),
      samplesPerSecond: rate,
      burstSamples: burst,
      bucket: rate && burst ? createBucket(rate, burst) : undefined,
      intake: createIntake({
        ...common,
        maxBodyBytes: Math.min(cfg.sizes.maxBodyBytes, t.limits.maxBodyBytes ?? Infinity),
        maxBodyName: `tenant "${t.name}"'s maxBodyBytes`,
        cluster: t.cluster,
        onForeignCluster: t.clusterConflict,
        cost: costFor(cfg, t.relabelConfigs, seriesLimiters(t.limits, Date.now())),
      }),
    });
  }
  return targets;
}
