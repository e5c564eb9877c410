// The load generator: POSTs pre-compressed remote-write bodies with a fixed number of
// concurrent senders over keep-alive connections, as a Prometheus with several shards
// would. Bounded by a request count and a deadline.

import { Agent, request } from 'node:http';

export const REMOTE_WRITE_HEADERS: Readonly<Record<string, string>> = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf',
  'x-prometheus-remote-write-version': '0.1.0',
  'user-agent': 'Prometheus/2.42.0+ds',
};

export interface LoadResult {
  requests: number;
  samples: number;
  /** samples the sinks should receive: `samples` less what relabel rules drop (Payload.delivered) */
  delivered: number;
  failed: number;
  /** status → count, for non-2xx answers and network errors ("net") */
  failures: Record<string, number>;
  wallSeconds: number;
}

function post(agent: Agent, url: URL, body: Buffer, headers: Readonly<Record<string, string>>): Promise<number> {
  return new Promise((ok) => {
    const req = request(
      { agent, method: 'POST', hostname: url.hostname, port: url.port, path: url.pathname, headers: { ...headers, 'content-length': String(body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode ?? 0));
        res.on('error', () => ok(-1));
      },
    );
    req.on('error', () => ok(-1));
    req.end(body);
  });
}

/**
 * Sends `requests` bodies (cycling through `payloads`) with `concurrency` senders.
 * `rate` (samples/s), when set, paces the senders to that average arrival rate.
 * `partitioned`: sender w sends requests w, w + concurrency, w + 2·concurrency, … one
 * after another, as a Prometheus shard sends its series: with payloads sharded the same
 * way (lib/drain-payloads.ts) no two writes of one series are ever in flight together.
 * Otherwise each sender takes the next request as it becomes free.
 */
export async function sendLoad(opts: {
  url: string;
  payloads: ReadonlyArray<{ body: Buffer; samples: number; delivered?: number }>;
  requests: number;
  concurrency: number;
  deadlineMs: number;
  rate?: number;
  partitioned?: boolean;
  /** request headers (default: remote-write 1.0) */
  headers?: Readonly<Record<string, string>>;
}): Promise<LoadResult> {
  const url = new URL(opts.url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const started = Date.now();
  const deadline = started + opts.deadlineMs;
  let next = 0;
  let samples = 0;
  let delivered = 0;
  let done = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  const worker = async (w: number): Promise<void> => {
    for (let k = w; ; k += opts.concurrency) {
      const i = opts.partitioned ? k : next++;
      if (i >= opts.requests || Date.now() >= deadline) return;
      const p = opts.payloads[i % opts.payloads.length];
      if (opts.rate !== undefined) {
        const due = started + (samples * 1000) / opts.rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
      }
      samples += p.samples; // counted as offered when sent (pacing), corrected below on failure
      delivered += p.delivered ?? p.samples;
      const status = await post(agent, url, p.body, opts.headers ?? REMOTE_WRITE_HEADERS);
      done++;
      if (status < 200 || status >= 300) {
        failed++;
        samples -= p.samples;
        delivered -= p.delivered ?? p.samples;
        const why = status < 0 ? 'net' : String(status);
        failures[why] = (failures[why] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  agent.destroy();
  return { requests: done, samples, delivered, failed, failures, wallSeconds: (Date.now() - started) / 1000 };
}
