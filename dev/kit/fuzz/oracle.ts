// The fuzz oracle: what the relay must answer for a body, decided without the relay's
// own validator. It restates the documented rules (README "What it answers",
// docs/relay.md "Validation rules") over the *materialising* decoder
// (shared/remote-write/decode.ts, a separate implementation cross-checked against
// protobufjs in test/remote-write/codec.test.ts):
//
//   body over MAX_BODY_BYTES                                → 413
//   empty body, or one that decompresses to nothing         → 204 (a no-op, nothing sent)
//   snappy length header malformed                          → 400
//   snappy header declares more than MAX_DECODED_BYTES      → 413
//   not valid snappy, or decodes to another length          → 400
//   decode.ts throws (any malformed protobuf, wrong wire
//     type of a known field, invalid UTF-8 in any string,
//     field number 0 or ≥ 2^29, varint over 10 bytes …)      → 400
//   non-empty request with neither series nor metadata      → 400
//   a series breaking a label rule (no/empty/invalid
//     __name__, invalid or duplicate label name, too many
//     labels counting the cluster label the relay adds,
//     name or value too long)                               → 400
//   anything else                                           → 204, and it reaches the workspaces
//
// It materialises the request, so it is only run on bodies of bounded size; cases
// that are large by construction carry their expected status instead.

import { uncompressSync } from 'snappy';
import { decodeWriteRequest } from '../../../shared/remote-write/model/decode';
import type { WriteRequest } from '../../../shared/remote-write/model/types';
import { WireError } from '../../../shared/remote-write/wire';
import type { SeriesLimits } from '../../../shared/remote-write/validate';

export interface OracleConfig {
  maxBodyBytes: number;
  maxDecodedBytes: number;
  limits: SeriesLimits;
  /** the relay's CLUSTER (undefined: no cluster label is added) */
  cluster: string | undefined;
}

export interface Verdict {
  status: 204 | 400 | 413;
  why: string;
  /** the relay sends something upstream (204 on a non-empty body) */
  forwards: boolean;
}

/** Decompressed size above which the oracle refuses to materialise a request (it still judges bodies that only claim more). */
export const ORACLE_MAX_DECODED = 8 * 1024 * 1024;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The uncompressed length in a snappy block header: at most 5 varint bytes (uint32 + slack). */
function snappyHeader(body: Buffer): number | undefined {
  let v = 0;
  for (let i = 0; i < 5 && i < body.length; i++) {
    v += (body[i] & 0x7f) * 2 ** (7 * i);
    if (body[i] < 0x80) return v;
  }
  return undefined;
}

/** Whether expectedVerdict can judge this body (its declared decoded size is small enough). */
export function oracleCanJudge(body: Buffer, cfg: OracleConfig): boolean {
  if (body.length > cfg.maxBodyBytes || body.length === 0) return true;
  const declared = snappyHeader(body);
  return declared === undefined || declared > cfg.maxDecodedBytes || declared <= ORACLE_MAX_DECODED;
}

export function expectedVerdict(body: Buffer, cfg: OracleConfig): Verdict {
  const refuse = (status: 400 | 413, why: string): Verdict => ({ status, why, forwards: false });
  if (body.length > cfg.maxBodyBytes) return refuse(413, 'body over MAX_BODY_BYTES');
  if (body.length === 0) return { status: 204, why: 'empty body', forwards: false };
  const declared = snappyHeader(body);
  if (declared === undefined) return refuse(400, 'snappy length header malformed');
  if (declared > cfg.maxDecodedBytes) return refuse(413, 'snappy header over MAX_DECODED_BYTES');
  let raw: Buffer;
  try {
    raw = uncompressSync(body, { asBuffer: true }) as Buffer;
  } catch {
    return refuse(400, 'not valid snappy');
  }
  if (raw.length !== declared) return refuse(400, 'snappy length differs from its header');
  if (raw.length === 0) return { status: 204, why: 'decompresses to nothing (an empty WriteRequest)', forwards: false };
  if (raw.length > ORACLE_MAX_DECODED) throw new Error(`oracle asked to materialise a ${raw.length}-byte request; give the case an expected status`);
  let req: WriteRequest;
  try {
    req = decodeWriteRequest(raw);
  } catch (err) {
    if (err instanceof WireError) return refuse(400, `malformed protobuf: ${err.message}`);
    throw err;
  }
  if (raw.length > 0 && req.timeseries.length === 0 && req.metadata.length === 0) return refuse(400, 'only unknown fields');
  const broken = brokenRule(req, cfg);
  if (broken !== undefined) return refuse(400, broken);
  return { status: 204, why: 'valid', forwards: true };
}

/** The first label rule a series breaks, or undefined. */
export function brokenRule(req: WriteRequest, cfg: OracleConfig): string | undefined {
  const { limits } = cfg;
  for (const ts of req.timeseries) {
    const names = new Set<string>();
    let hasCluster = false;
    let metric: string | undefined;
    for (const l of ts.labels) {
      if (names.has(l.name)) return `duplicate label name ${JSON.stringify(l.name)}`;
      names.add(l.name);
      if (l.name === '__name__') {
        metric = l.value;
        if (!METRIC_NAME.test(l.value)) return `invalid metric name ${JSON.stringify(l.value.slice(0, 40))}`;
        if (l.value.length > limits.maxMetricNameLength) return 'metric name too long';
      } else {
        if (!LABEL_NAME.test(l.name)) return `invalid label name ${JSON.stringify(l.name.slice(0, 40))}`;
        if (l.name.length > limits.maxLabelNameLength) return 'label name too long';
        if (l.name === 'cluster') hasCluster = true; // an empty value is replaced, not added to
      }
      if ([...l.value].length > limits.maxLabelValueLength) return 'label value too long';
    }
    if (metric === undefined) return 'no __name__';
    const count = ts.labels.length + (cfg.cluster !== undefined && !hasCluster ? 1 : 0);
    if (count > limits.maxLabelsPerSeries) return `too many labels (${count})`;
  }
  return undefined;
}
