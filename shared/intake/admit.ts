// Admission of one remote-write request, the same for the relay (shared/relay/relay.ts)
// and the forwarder (local-proxy/accept.ts): headers → bounded body → the native fast
// path, or decompress → 2.0 translation → relabel rules and series limits → validation →
// cluster label. It only decides; each side turns the outcome into its own answer (the
// relay fans out, the forwarder spools). Written once so the two cannot drift again.

import { HttpError } from '../errors';
import { type CostControl, applyCostControl } from '../cost/cost-control';
import { type WriteProtocol, checkWriteHeaders } from '../remote-write/headers';
import { type FastScan, type FastScanner, createFastScanner } from '../remote-write/native';
import { rewriteLabels } from '../remote-write/rewrite';
import { compress, decompressBounded } from '../remote-write/snappy';
import { NOTHING_WRITTEN, type WrittenCounts, translateV2Request, writtenHeaders, writtenOf } from '../remote-write/v2';
import { type ForeignClusterPolicy, type SeriesLimits, validateForRewrite } from '../remote-write/validate';

/** One write request as any HTTP shell hands it over. */
export interface WriteInput {
  /** case-insensitive header lookup */
  header(name: string): string | null | undefined;
  /**
   * The whole body, called only after the headers passed; undefined when it is over
   * maxBytes (a reader may stop early: the answer is then 413 without it).
   */
  body(maxBytes: number): Promise<Buffer | undefined>;
}

/** What either side answers, whatever the HTTP shell. */
export interface WriteAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** How one kind of caller's requests are admitted: the forwarder has one, the relay one per tenant. */
export interface Intake {
  limits: SeriesLimits;
  maxBodyBytes: number;
  /** what bounds the body, as a 413 names it (`MAX_BODY_BYTES`, or a tenant's maxBodyBytes) */
  maxBodyName: string;
  maxDecodedBytes: number;
  /** the cluster label's value; undefined: none added */
  cluster?: string;
  onForeignCluster: ForeignClusterPolicy;
  /** relabel rules and series limits; undefined: neither */
  cost?: CostControl;
  /** the native fast path, when built, switched on, and nothing (rules, limits, HA dedup) needs the JS path */
  fast?: FastScanner;
  /** with rules or limits (`cost`): the native decoder and checker around them, when built and switched on */
  fastAround?: FastScanner;
  /** the forwarder spools each series' hash with the record (Accepted.seriesHashes), where the native scan has them at hand */
  seriesHashes?: boolean;
}

export interface IntakeOptions extends Omit<Intake, 'fast' | 'fastAround'> {
  /** NATIVE_FAST_PATH, and false where something after admission reads the labels (HA dedup) */
  nativeFastPath: boolean;
  /** where the native side writes a rewritten block (the relay leases it from its pool) */
  alloc?: (length: number) => Buffer;
}

export function createIntake(opts: IntakeOptions): Intake {
  const { nativeFastPath, alloc, ...intake } = opts;
  const scanner = createFastScanner(intake.limits, intake.maxDecodedBytes, intake.cluster, intake.onForeignCluster !== 'keep', nativeFastPath, alloc);
  // rules and limits read the labels in JS: such a request takes the native path only
  // around them (decompressing, then checking and compressing what they left)
  return intake.cost ? { ...intake, fastAround: scanner } : { ...intake, fast: scanner };
}

/**
 * The relay's steps between the headers and the body (caller, endpoints, quota): the intake
 * for this request, or an outcome that ends it. May throw HttpError (a refusal).
 */
export interface Router {
  /** the Content-Length bound before the caller is known */
  maxBodyBytes: number;
  route(protocol: WriteProtocol): Promise<Intake | Admission>;
}

interface AcceptedCommon {
  outcome: 'accepted';
  protocol: WriteProtocol;
  /** samples + histograms, as quotas and metrics count them */
  samples: number;
  /** oldest and newest sample time, ms (+Infinity / -Infinity: none) */
  minTime: number;
  maxTime: number;
  /** series whose other cluster was overwritten (onForeignCluster 'overwrite') */
  foreignCluster: number;
  /** 2.0: what the request holds after rules and limits (NOTHING_WRITTEN for 1.0) */
  written: Readonly<WrittenCounts>;
  /** length of the decompressed request to send */
  rawLength: number;
  /** a block the native side wrote through the intake's alloc, for the caller to give back */
  allocated?: Buffer;
  /**
   * Intake.seriesHashes and the native scan took the request: each series' hash of the block
   * to send, as seriesHashes() gives them. A view on memory the next admission reuses.
   */
  seriesHashes?: Uint32Array;
}

/**
 * The request to send, decompressed (`raw`) and/or as a snappy block that needs no work
 * (`block`: the sender's own bytes when nothing changed, or the native rewrite).
 */
export type Accepted = AcceptedCommon & ({ raw: Buffer; block?: Buffer } | { raw?: undefined; block: Buffer });

export type Admission =
  | Accepted
  /** nothing to send (empty body, a body that decompresses to nothing, only 2.0 symbols, every series dropped by rules or limits): 204, nothing forwarded */
  | { outcome: 'nothing'; protocol: WriteProtocol }
  /** refused: err.status and its one-line reason */
  | { outcome: 'rejected'; protocol: WriteProtocol; error: HttpError };

/** Judges one request; throws only what is not a refusal (a bug, or the caller's own error). */
export async function admitWrite(input: WriteInput, intakeOrRouter: Intake | Router): Promise<Admission> {
  let protocol: WriteProtocol = 'v1';
  try {
    protocol = checkWriteHeaders(input.header, intakeOrRouter.maxBodyBytes);
    let intake: Intake;
    if ('route' in intakeOrRouter) {
      const routed = await intakeOrRouter.route(protocol);
      if ('outcome' in routed) return routed;
      intake = routed;
    } else {
      intake = intakeOrRouter;
    }
    const body = await input.body(intake.maxBodyBytes);
    if (body === undefined || body.length > intake.maxBodyBytes) {
      const size = body === undefined ? 'body is' : `body is ${body.length} bytes,`;
      throw new HttpError(413, 'body_too_large', `${size} over ${intake.maxBodyName}=${intake.maxBodyBytes}`);
    }
    if (body.length === 0) return { outcome: 'nothing', protocol };
    return admitBody(body, protocol, intake);
  } catch (err) {
    if (err instanceof HttpError) return { outcome: 'rejected', protocol, error: err };
    throw err;
  }
}

function admitBody(body: Buffer, protocol: WriteProtocol, intake: Intake): Admission {
  // The commonest request whole in one native call (valid, nothing to change, or only the
  // cluster label to add; a plain 2.0 request translated to 1.0); anything else, and every
  // rejection, goes the JS way.
  const fast = protocol === 'v1' ? intake.fast?.scan(body, intake.seriesHashes) : intake.fast?.scanV2(body);
  if (fast) return fastAccepted(fast, protocol, body);
  // with rules, a 1.0 request is decompressed into reused memory (no garbage per request)
  const around = protocol === 'v1' && intake.cost ? intake.fastAround : undefined;
  const decoded = around?.decompress(body) ?? decompressBounded(body, intake.maxDecodedBytes);
  let received = decoded;
  let written: Readonly<WrittenCounts> = NOTHING_WRITTEN;
  // 2.0 becomes 1.0 here: from the rules on, and everywhere after admission, only 1.0
  if (protocol === 'v2') ({ request: received, counts: written } = translateV2Request(decoded, intake.maxDecodedBytes));
  // rules and series limits first, then validation of what they left, then the cluster label
  let raw = intake.cost && received.length > 0 ? applyCostControl(received, intake.cost, Date.now()) : received;
  // an empty WriteRequest, 2.0 symbols only, or every series dropped: nothing to send
  if (raw === undefined || raw.length === 0) return { outcome: 'nothing', protocol };
  const unchanged = raw === decoded;
  if (around) {
    // what the rules left, checked (and compressed when it changed) natively; the JS path
    // below keeps `raw` past this call, so it gets its own copy of the reused memory
    const fast = around.scanRaw(raw, !unchanged);
    if (fast) return fastAccepted(fast, protocol, body);
    if (raw.buffer === decoded.buffer) raw = Buffer.from(raw);
  }
  const { scan, plan } = validateForRewrite(raw, intake.limits, intake.cluster, intake.onForeignCluster);
  if (scan.series === 0 && scan.metadata === 0) {
    throw new HttpError(400, 'bad_protobuf', 'WriteRequest holds no timeseries and no metadata, only unknown fields (a remote-write 2.0 body sent as 1.0?)');
  }
  // what rules or limits dropped was not written
  if (protocol === 'v2' && raw !== received) written = writtenOf(scan);
  const common = {
    outcome: 'accepted',
    protocol,
    samples: scan.samples + scan.histograms,
    minTime: scan.minTime,
    maxTime: scan.maxTime,
    foreignCluster: scan.foreignCluster,
    written,
  } as const;
  if (scan.unsorted > 0 || scan.missingCluster > 0 || scan.foreignCluster > 0) {
    const rewritten = rewriteLabels(raw, { cluster: intake.cluster, overwriteCluster: intake.onForeignCluster === 'overwrite' }, plan);
    return { ...common, raw: rewritten, rawLength: rewritten.length };
  }
  // nothing changes in a 1.0 request: the sender's bytes go on untouched
  return { ...common, raw, rawLength: raw.length, block: protocol === 'v1' && unchanged ? body : undefined };
}

/** What the native side accepted: its block, or (none) the sender's. */
function fastAccepted(fast: FastScan, protocol: WriteProtocol, body: Buffer): Accepted {
  const accepted: Accepted = {
    outcome: 'accepted',
    protocol,
    samples: fast.samples,
    minTime: fast.minTime,
    maxTime: fast.maxTime,
    foreignCluster: 0,
    written: fast.written ?? NOTHING_WRITTEN,
    rawLength: fast.rawLength,
    block: fast.rewrittenBlock ?? body,
    allocated: fast.rewrittenBlock,
  };
  if (fast.seriesHashes) accepted.seriesHashes = fast.seriesHashes;
  return accepted;
}

/** The accepted request as a snappy block: compressed here only when admission had none. */
export function blockOf(a: Accepted): Buffer {
  return a.block ?? compress(a.raw as Buffer);
}

/** The accepted request decompressed, or how to get it (the fast path keeps no decompressed copy). */
export function rawOf(a: Accepted, maxDecodedBytes: number): Buffer | (() => Buffer) {
  if (a.raw !== undefined) return a.raw;
  const block = a.block;
  return () => decompressBounded(block, maxDecodedBytes);
}

/** A 2.0 answer carries X-Prometheus-Remote-Write-*-Written, whatever its status; a 1.0 answer none. */
export function withWritten(protocol: WriteProtocol, answer: WriteAnswer, counts: Readonly<WrittenCounts>): WriteAnswer {
  if (protocol === 'v2') answer.headers = { ...answer.headers, ...writtenHeaders(counts) };
  return answer;
}
