// The relay's data path, free of any HTTP framework:
//   receive (headers, bounded body) → decode (bounded snappy) → validate → policy
//   (sort labels, add cluster) → token → fan-out → one answer for the sender.
// The Azure Function, the dev host and the forwarder's direct mode are thin shells around it.

import { type RelayConfig, describeRelayConfig } from '../config/relay-config';
import { HttpError } from '../errors';
import { type FanoutAnswer, ONLY_ENDPOINTS_HEADER, answerFor, fanout, selectEndpoints } from '../fanout/fanout';
import type { EndpointOutcome } from '../fanout/send';
import { createCredential } from '../identity/credential';
import { TokenError, type TokenSource, createTokenSource } from '../identity/token-source';
import { type Logger, createLogger, throttled } from '../observability/log';
import { type PublishLog, createPublishLog } from '../observability/publish-log';
import { type Telemetry, createTelemetry } from '../observability/telemetry';
import { decompressBounded } from '../remote-write/snappy';
import { rewriteLabels } from '../remote-write/rewrite';
import { validateWriteRequest } from '../remote-write/validate';
import { USER_AGENT, VERSION } from '../version';
import { checkWriteHeaders } from './receive';

export interface WriteInput {
  /** case-insensitive header lookup */
  header(name: string): string | null | undefined;
  /** the whole body; called only after the headers passed */
  body(): Promise<Buffer>;
}

export type RelayResponse = FanoutAnswer;

export interface Relay {
  handleWrite(input: WriteInput): Promise<RelayResponse>;
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
  const credential = createCredential(cfg.identity);
  const tokens: TokenSource | undefined =
    deps.tokenSource === null
      ? undefined
      : (deps.tokenSource ??
        (credential
          ? createTokenSource(credential, cfg.identity.scope, {
              onRefreshError: (err) => log.warn('token refresh failed, still using the cached token', { error: err.message }),
            })
          : undefined));
  const publishLog = deps.publishLog ?? createPublishLog({ intervalMs: cfg.publishLogIntervalMs, write: log.line });
  const warnOnce = throttled(log);

  const reject = (err: HttpError): RelayResponse => {
    telemetry.rejected(err.reason);
    warnOnce(`reject:${err.reason}`, 'warn', 'request rejected', { status: err.status, reason: err.reason, detail: err.message });
    return { status: err.status, headers: {}, body: err.message };
  };

  const reportEndpointProblems = (outcomes: readonly EndpointOutcome[]): void => {
    for (const o of outcomes) {
      if (o.kind === 'retryable' && o.authProblem) {
        warnOnce(`auth:${o.endpoint.id}`, 'error', `ingestion endpoint refused the token (HTTP ${o.status}): check that the identity has the "Monitoring Metrics Publisher" role on the workspace's data collection rule (new role assignments take up to 30 minutes), that IDENTITY_TYPE/AZURE_CLIENT_ID name that identity, and that the audience ${cfg.identity.scope} matches the endpoint's cloud`, {
          endpoint: o.endpoint.host,
          identityType: cfg.identity.type,
          ...(cfg.identity.clientId ? { clientId: cfg.identity.clientId } : {}),
        });
      } else if (o.kind === 'retryable') {
        warnOnce(`retry:${o.endpoint.id}:${o.status ?? 'net'}`, 'warn', 'ingestion endpoint failed, the sender will retry', { endpoint: o.endpoint.host, reason: o.reason });
      } else if (o.kind === 'rejected') {
        warnOnce(`rejected:${o.endpoint.id}`, 'warn', 'ingestion endpoint rejected the data', { endpoint: o.endpoint.host, status: o.status, reason: o.reason });
      }
    }
  };

  return {
    async handleWrite(input) {
      const started = process.hrtime.bigint();
      let raw: Buffer;
      let original: Buffer | undefined;
      let samples: number;
      try {
        checkWriteHeaders(input.header, cfg.sizes.maxBodyBytes);
        const body = await input.body();
        if (body.length > cfg.sizes.maxBodyBytes) {
          throw new HttpError(413, 'body_too_large', `body is ${body.length} bytes, over MAX_BODY_BYTES=${cfg.sizes.maxBodyBytes}`);
        }
        if (body.length === 0) return { status: 204, headers: {}, body: '' };
        raw = decompressBounded(body, cfg.sizes.maxDecodedBytes);
        const scan = validateWriteRequest(raw, cfg.limits, cfg.cluster);
        if (scan.series === 0 && scan.metadata === 0 && raw.length > 0) {
          throw new HttpError(400, 'bad_protobuf', 'WriteRequest holds no timeseries and no metadata, only unknown fields (a remote-write 2.0 body sent as 1.0?)');
        }
        samples = scan.samples + scan.histograms;
        telemetry.samplesReceived(samples);
        if (scan.unsorted > 0 || scan.missingCluster > 0) {
          raw = rewriteLabels(raw, { cluster: cfg.cluster });
        } else {
          original = body; // nothing changes: forward the sender's bytes untouched
        }
      } catch (err) {
        if (err instanceof HttpError) return reject(err);
        throw err;
      }

      let token: string | undefined;
      try {
        token = tokens ? await tokens.getToken() : undefined;
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        warnOnce('token', 'error', 'cannot get a token for the ingestion endpoints; answering 503 so senders retry', { error: err.message, identityType: cfg.identity.type });
        return { status: 503, headers: { 'retry-after': '5' }, body: `relay cannot get a token yet, retry: ${err.message}` };
      }

      const endpoints = selectEndpoints(cfg.endpoints, input.header(ONLY_ENDPOINTS_HEADER));
      const outcomes = await fanout(endpoints, { raw, original, samples }, {
        maxUpstreamBytes: cfg.sizes.maxUpstreamBytes,
        timeoutMs: cfg.upstreamTimeoutMs,
        userAgent: USER_AGENT,
        token,
      });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      reportEndpointProblems(outcomes);
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
      return answer;
    },

    health() {
      return {
        status: 'ok',
        version: VERSION,
        ...describeRelayConfig(cfg),
        token: tokens ? tokens.state() : null,
      };
    },

    close() {
      tokens?.close();
      publishLog.stop();
    },
  };
}
