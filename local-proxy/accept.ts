// POST /api/v1/write without the HTTP: admission as the relay's (shared/intake/admit.ts:
// headers, bounded body, bounded snappy, 2.0, rules and limits, validation, the cluster
// label), then the spool.
// Each request is judged alone, so one bad request gets its 400 at once and never
// reaches (or poisons) a batch. 204 only after the spool's flush.
//
// Status codes: 4xx only for data that can never succeed (Prometheus drops on 4xx);
// 503 + Retry-After for anything that may pass later (spool full, disk error, shutdown).

import type { Fields } from '../shared/observability/log';
import { type Intake, type WriteAnswer, type WriteInput, admitWrite, blockOf, createIntake, withWritten } from '../shared/intake/admit';
import { NOTHING_WRITTEN } from '../shared/remote-write/v2';
import type { CostControl } from '../shared/cost/cost-control';
import type { ForwarderConfig } from './config';
import type { ForwarderMetrics } from './metrics';
import { type Spool, SpoolClosedError, SpoolFullError, SpoolWriteError } from './spool';

export type { WriteInput } from '../shared/intake/admit';
export type Answer = WriteAnswer;

export interface AcceptDeps {
  /** only appends: admission decides, the spool keeps */
  spool: Pick<Spool, 'append'>;
  metrics: ForwarderMetrics;
  warnOnce: (key: string, level: 'warn' | 'error', msg: string, fields?: Fields) => void;
  shuttingDown(): boolean;
  /** RELABEL_CONFIG_FILE's rules and the series limits; absent: neither */
  cost?: CostControl;
}

/** Seconds Prometheus is asked to wait when the forwarder cannot take data right now. */
export const BUSY_RETRY_AFTER_SECONDS = 5;

export type WriteHandler = (input: WriteInput) => Promise<Answer>;

export function createWriteHandler(cfg: Pick<ForwarderConfig, 'sizes' | 'limits' | 'cluster' | 'nativeFastPath'>, deps: AcceptDeps): WriteHandler {
  const { metrics } = deps;
  const intake: Intake = createIntake({
    limits: cfg.limits,
    maxBodyBytes: cfg.sizes.maxBodyBytes,
    maxBodyName: 'MAX_BODY_BYTES',
    maxDecodedBytes: cfg.sizes.maxDecodedBytes,
    cluster: cfg.cluster,
    onForeignCluster: 'keep',
    cost: deps.cost,
    nativeFastPath: cfg.nativeFastPath,
    seriesHashes: true,
  });

  const answer = (status: number, body = '', headers: Record<string, string> = {}): Answer => {
    metrics.receivedRequests.inc({ code: String(status) });
    return { status, headers, body };
  };

  const refuse = (status: number, reason: string, detail: string, level: 'warn' | 'error' = 'warn'): Answer => {
    metrics.rejectedRequests.inc({ reason });
    deps.warnOnce(`reject:${reason}`, level, 'write request refused', { status, reason, detail });
    const headers: Record<string, string> = status === 503 ? { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) } : {};
    return answer(status, `${detail}\n`, headers);
  };

  // remote-write 2.0: every answer carries X-Prometheus-Remote-Write-*-Written, the
  // request's counts once it is in the spool, zeros before
  return async (input) => {
    if (deps.shuttingDown()) return refuse(503, 'shutting_down', "forwarder is shutting down; retry (the data stays in the sender's WAL)");
    const admission = await admitWrite(input, intake);
    if (admission.outcome === 'rejected')
      return withWritten(admission.protocol, refuse(admission.error.status, admission.error.reason, admission.error.message), NOTHING_WRITTEN);
    if (admission.outcome === 'nothing') return withWritten(admission.protocol, answer(204), NOTHING_WRITTEN);
    // The spool keeps snappy blocks: the sender's own bytes when nothing changes (no work,
    // ~5x smaller than the WriteRequest), else the rewritten request compressed once.
    const block = blockOf(admission);
    const { samples } = admission;
    try {
      // the samples' time range and series hashes go into the record: lanes judge Azure's
      // window and route series to shards without decompressing
      await deps.spool.append(block, samples, { minTime: admission.minTime, maxTime: admission.maxTime }, admission.seriesHashes);
    } catch (err) {
      if (err instanceof SpoolFullError)
        return withWritten(admission.protocol, refuse(503, 'spool_full', `${err.message}; retry later (upstream is behind)`), NOTHING_WRITTEN);
      if (err instanceof SpoolClosedError) return withWritten(admission.protocol, refuse(503, 'shutting_down', err.message), NOTHING_WRITTEN);
      if (err instanceof SpoolWriteError) return withWritten(admission.protocol, refuse(503, 'spool_error', err.message, 'error'), NOTHING_WRITTEN);
      throw err;
    }
    metrics.receivedSamples.inc(samples);
    metrics.spooledBytes.inc(block.length);
    return withWritten(admission.protocol, answer(204), admission.written);
  };
}
