// POST /api/v1/write without the HTTP: header checks, bounded body, bounded snappy,
// structural validation with the relay's own rules, the cluster label, then the spool.
// Each request is judged alone, so one bad request gets its 400 at once and never
// reaches (or poisons) a batch. 204 only after the spool's flush.
//
// Status codes: 4xx only for data that can never succeed (Prometheus drops on 4xx);
// 503 + Retry-After for anything that may pass later (spool full, disk error, shutdown).

import { HttpError } from '../shared/errors';
import type { Fields } from '../shared/observability/log';
import { type WriteProtocol, checkWriteHeaders } from '../shared/remote-write/headers';
import { rewriteLabels } from '../shared/remote-write/rewrite';
import { compress, decompressBounded } from '../shared/remote-write/snappy';
import { createFastScanner } from '../shared/remote-write/native';
import { validateWriteRequest } from '../shared/remote-write/validate';
import { NOTHING_WRITTEN, type WrittenCounts, translateV2Request, writtenHeaders, writtenOf } from '../shared/remote-write/v2';
import { type CostControl, applyCostControl } from '../shared/cost/cost-control';
import type { ForwarderConfig } from './config';
import type { ForwarderMetrics } from './metrics';
import { type Spool, SpoolClosedError, SpoolFullError, SpoolWriteError, type TimeRange } from './spool';

export interface WriteInput {
  /** case-insensitive header lookup */
  header(name: string): string | null | undefined;
  /** the body, or undefined once it passes maxBytes */
  body(maxBytes: number): Promise<Buffer | undefined>;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface AcceptDeps {
  spool: Spool;
  metrics: ForwarderMetrics;
  warnOnce: (key: string, level: 'warn' | 'error', msg: string, fields?: Fields) => void;
  shuttingDown(): boolean;
  /** RELABEL_CONFIG_FILE's rules and the series limits; absent: neither */
  cost?: CostControl;
}

/** Seconds Prometheus is asked to wait when the forwarder cannot take data right now. */
export const BUSY_RETRY_AFTER_SECONDS = 5;

/** What intake learnt of a request: its protocol, and for 2.0 what it holds. */
interface Seen {
  protocol: WriteProtocol;
  counts?: WrittenCounts;
}

export type WriteHandler = (input: WriteInput) => Promise<Answer>;

export function createWriteHandler(cfg: Pick<ForwarderConfig, 'sizes' | 'limits' | 'cluster' | 'nativeFastPath'>, deps: AcceptDeps): WriteHandler {
  const { metrics } = deps;
  // the commonest request in one native call (shared/remote-write/native.ts); the rest below
  const fast = createFastScanner(cfg.limits, cfg.sizes.maxDecodedBytes, cfg.cluster, false, cfg.nativeFastPath);

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

  return async (input) => {
    // remote-write 2.0: every answer carries X-Prometheus-Remote-Write-*-Written, the
    // request's counts once it is in the spool, zeros before
    const seen: Seen = { protocol: 'v1' };
    const accepted = await accept(input, seen);
    if (seen.protocol === 'v2') accepted.headers = { ...accepted.headers, ...writtenHeaders(accepted.status === 204 && seen.counts ? seen.counts : NOTHING_WRITTEN) };
    return accepted;
  };

  async function accept(input: WriteInput, seen: Seen): Promise<Answer> {
    if (deps.shuttingDown()) return refuse(503, 'shutting_down', 'forwarder is shutting down; retry (the data stays in the sender\'s WAL)');
    let block: Buffer;
    let samples: number;
    // the samples' time range goes into the record: lanes judge Azure's window without decompressing
    let times: TimeRange;
    try {
      const protocol = checkWriteHeaders(input.header, cfg.sizes.maxBodyBytes);
      seen.protocol = protocol;
      const body = await input.body(cfg.sizes.maxBodyBytes);
      if (body === undefined) throw new HttpError(413, 'body_too_large', `body is over MAX_BODY_BYTES=${cfg.sizes.maxBodyBytes}`);
      if (body.length === 0) return answer(204);
      // The spool keeps snappy blocks: the sender's own bytes when nothing changes (no work,
      // ~5x smaller than the WriteRequest), else the rewritten request compressed once.
      // rules and limits read the labels: such a request never takes the native path
      const quick = deps.cost ? undefined : protocol === 'v1' ? fast?.scan(body) : fast?.scanV2(body);
      if (quick) {
        if (quick.written) seen.counts = quick.written;
        block = quick.rewrittenBlock ?? body;
        samples = quick.samples;
        times = { minTime: quick.minTime, maxTime: quick.maxTime };
      } else {
        let decoded = decompressBounded(body, cfg.sizes.maxDecodedBytes);
        if (protocol === 'v2') {
          // 2.0 becomes 1.0 here: the spool, lanes and upstream only ever see 1.0
          const translated = translateV2Request(decoded, cfg.sizes.maxDecodedBytes);
          decoded = translated.request;
          seen.counts = translated.counts;
        }
        // rules and limits first, then validation of what they left, then the cluster label
        const raw = deps.cost ? applyCostControl(decoded, deps.cost, Date.now()) : decoded;
        if (raw === undefined) {
          if (protocol === 'v2') seen.counts = NOTHING_WRITTEN;
          return answer(204); // every series dropped: nothing to spool
        }
        const scan = validateWriteRequest(raw, cfg.limits, cfg.cluster);
        if (scan.series === 0 && scan.metadata === 0) {
          if (raw.length === 0) return answer(204);
          throw new HttpError(400, 'bad_protobuf', 'WriteRequest holds no timeseries and no metadata, only unknown fields (a remote-write 2.0 body sent as 1.0?)');
        }
        const rewrite = scan.unsorted > 0 || scan.missingCluster > 0;
        // the sender's bytes when they are a 1.0 request nothing changed
        block = rewrite ? compress(rewriteLabels(raw, { cluster: cfg.cluster })) : protocol === 'v1' && raw === decoded ? body : compress(raw);
        samples = scan.samples + scan.histograms;
        times = { minTime: scan.minTime, maxTime: scan.maxTime };
        // what rules or limits dropped was not written
        if (protocol === 'v2' && raw !== decoded) seen.counts = writtenOf(scan);
      }
    } catch (err) {
      if (err instanceof HttpError) return refuse(err.status, err.reason, err.message);
      throw err;
    }

    try {
      await deps.spool.append(block, samples, times);
    } catch (err) {
      if (err instanceof SpoolFullError) return refuse(503, 'spool_full', `${err.message}; retry later (upstream is behind)`);
      if (err instanceof SpoolClosedError) return refuse(503, 'shutting_down', err.message);
      if (err instanceof SpoolWriteError) return refuse(503, 'spool_error', err.message, 'error');
      throw err;
    }
    metrics.receivedSamples.inc(samples);
    metrics.spooledBytes.inc(block.length);
    return answer(204);
  }
}
