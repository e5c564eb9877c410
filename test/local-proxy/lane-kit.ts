// Shared fixtures for tests that drive delivery lanes against scripted upstreams (no
// sockets): a temp spool per test, a recording logger/metrics/publish log, fake upstreams
// that decode what they are sent, and a way to fill the spool with generated requests.
// laneKit() registers the beforeEach/afterEach hooks of the test file that calls it.

import { afterEach, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { uncompressSync } from 'snappy';
import { createMetrics } from '../../local-proxy/metrics';
import { TokenBucket } from '../../local-proxy/pacing';
import { Lane, type LaneDeps, type LaneSpec } from '../../local-proxy/shipper';
import { Spool, SpoolBudget } from '../../local-proxy/spool';
import type { Upstream, UpstreamOutcome, UpstreamRequest } from '../../local-proxy/upstream';
import { type Logger } from '../../shared/observability/log';
import type { PublishLog, PublishResult } from '../../shared/observability/publish-log';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { type Generated, generateRequest, sampleKeys } from './helpers';
import { tempDir } from '../../dev/kit/temp-dir';

export interface Recorder {
  logs: string[];
  published: PublishResult[];
  deps: LaneDeps;
  metricsText(): Promise<string>;
}

export interface FakeUpstream extends Upstream {
  calls: { req: UpstreamRequest; at: number }[];
  delivered: Buffer[];
}

export const ok = (): UpstreamOutcome => ({ kind: 'delivered', status: 204, bytes: 10 });

export function recorder(
  batch = { maxBytes: 8 * 1024 * 1024, maxSamples: 20_000, maxWaitMs: 20 },
  backoff = { minMs: 10, maxMs: 40 },
  extra: Partial<LaneDeps> = {},
): Recorder {
  const logs: string[] = [];
  const published: PublishResult[] = [];
  const log: Logger = {
    info: (m, f) => logs.push(`info ${m} ${JSON.stringify(f ?? {})}`),
    warn: (m, f) => logs.push(`warn ${m} ${JSON.stringify(f ?? {})}`),
    error: (m, f) => logs.push(`error ${m} ${JSON.stringify(f ?? {})}`),
    line: (l) => logs.push(l),
  };
  const publishLog: PublishLog = { record: (_b, _s, r) => published.push(r), flush: () => '', addFields: () => undefined, stop: () => undefined };
  const metrics = createMetrics({ spoolBytes: () => 0, spoolRecords: () => 0, spoolFsyncs: () => 0, laneBacklog: () => ({}) }, { defaultMetrics: false });
  return {
    logs,
    published,
    deps: { metrics, log, warnOnce: (_k, level, msg, f) => log[level](msg, f), publishLog, batch, backoff, ...extra },
    metricsText: () => metrics.registry.metrics(),
  };
}

export function fakeUpstream(answer: (req: UpstreamRequest, call: number) => UpstreamOutcome | Promise<UpstreamOutcome>): FakeUpstream {
  const u: FakeUpstream = {
    host: 'upstream.test',
    calls: [],
    delivered: [],
    async send(req) {
      // the body is the lane's until the call settles (a shard merges its next batch into the same buffer): keep a copy
      req = { ...req, block: Buffer.from(req.block) };
      u.calls.push({ req, at: Date.now() });
      const raw = uncompressSync(req.block, { asBuffer: true }) as Buffer;
      assert.equal(raw.length, req.bytes, "bytes is the block's uncompressed length");
      const o = await answer(req, u.calls.length);
      if (o.kind === 'delivered' || o.kind === 'partial') u.delivered.push(raw);
      return o;
    },
  };
  return u;
}

export function keysOf(bufs: Buffer[]): string[] {
  return bufs.flatMap((b) => sampleKeys(decodeWriteRequest(b)));
}

export function laneKit() {
  let tmp: { dir: string; remove(): void };
  let spools: Spool[] = [];
  let lanes: Lane[] = [];
  beforeEach(() => {
    tmp = tempDir('lane-test');
  });
  afterEach(async () => {
    for (const l of lanes) await l.stop(0);
    for (const s of spools) await s.close();
    lanes = [];
    spools = [];
    tmp.remove();
  });

  return {
    ok,
    recorder,
    fakeUpstream,
    keysOf,
    openSpool(readers = ['r'], name = 'main'): Spool {
      const s = Spool.open({ dir: path.join(tmp.dir, name), name, segmentBytes: 4 * 1024 * 1024, readers, budget: new SpoolBudget(1024 ** 3, 'reject') });
      spools.push(s);
      return s;
    },
    startLane(spec: Partial<LaneSpec> & Pick<LaneSpec, 'reader' | 'upstream'>, rec: Recorder): Lane {
      const lane = new Lane({ name: 'test', limiter: new TokenBucket(0), hints: { auth: 'THE-AUTH-HINT', config: 'THE-CONFIG-HINT' }, ...spec }, rec.deps);
      lanes.push(lane);
      lane.start();
      return lane;
    },
    /** n generated requests appended with their time range (as the accept path does) */
    async fill(spool: Spool, n: number, opts: { run?: string; from?: number; series?: number; perSeries?: number } = {}): Promise<Generated[]> {
      const out: Generated[] = [];
      for (let i = 0; i < n; i++) {
        const g = generateRequest((opts.from ?? 0) + i, { run: opts.run, series: opts.series, perSeries: opts.perSeries });
        const ts = g.req.timeseries.flatMap((t) => t.samples.map((x) => Number(x.timestamp)));
        await spool.append(g.body, ts.length, { minTime: Math.min(...ts), maxTime: Math.max(...ts) });
        out.push(g);
      }
      return out;
    },
  };
}
