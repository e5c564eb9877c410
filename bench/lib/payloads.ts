// Bench payloads: the real Prometheus 2.42 captures, and a synthetic Prometheus-like
// request of 2 000 series × 10 labels with one sample each (what a newer Prometheus
// sends per request). The synthetic request comes in two variants of the same size
// class: "with cluster" (one of the ten labels is cluster=<CLUSTER>: the relay forwards
// the sender's bytes) and "without cluster" (that label is prometheus=<…> instead: the
// relay injects cluster=<CLUSTER>, re-encodes and re-compresses). asRemoteWrite2 gives
// the same writes as remote-write 2.0.

import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { countSamples } from '../../shared/remote-write/count';
import { compress, decompressBounded } from '../../shared/remote-write/snappy';
import type { Label, TimeSeries, WriteRequest } from '../../shared/remote-write/model/types';
import { numberToBits } from '../../shared/remote-write/model/types';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { loadFixtures } from '../../dev/kit/repo';
import { encodeV2Request, v2SeriesOf } from '../../dev/kit/v2-request';

export const BENCH_CLUSTER = 'bench-weu-1';

export interface Payload {
  /** snappy block, as a sender puts it on the wire */
  body: Buffer;
  /** the decompressed WriteRequest */
  raw: Buffer;
  samples: number;
  /** samples that reach the sinks, when relabel rules drop some (default: samples) */
  delivered?: number;
}

export interface PayloadSet {
  name: string;
  /** request headers the set is sent with (default: remote-write 1.0) */
  headers?: Readonly<Record<string, string>>;
  payloads: Payload[];
  samples: number;
  rawBytes: number;
  bodyBytes: number;
}

export function payloadSet(name: string, payloads: Payload[]): PayloadSet {
  let samples = 0;
  let rawBytes = 0;
  let bodyBytes = 0;
  for (const p of payloads) {
    samples += p.samples;
    rawBytes += p.raw.length;
    bodyBytes += p.body.length;
  }
  return { name, payloads, samples, rawBytes, bodyBytes };
}

/** The 291 captured requests (114 188 samples; about a fifth are metadata-only). */
export function fixturePayloads(): PayloadSet {
  const payloads = loadFixtures().map((f) => {
    const raw = decompressBounded(f.body, 64 << 20);
    return { body: f.body, raw, samples: countSamples(raw) };
  });
  return payloadSet('fixtures (Prometheus 2.42)', payloads);
}

/** mulberry32: deterministic, so every run sends the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Metric families as a kube-prometheus stack scrapes them; the tenth label is the
// family's own dimension.
const FAMILIES: ReadonlyArray<{ name: string; dim: string; values: readonly string[] }> = [
  { name: 'container_cpu_usage_seconds_total', dim: 'cpu', values: ['total'] },
  {
    name: 'container_memory_working_set_bytes',
    dim: 'image',
    values: ['registry.k8s.io/pause:3.9', 'mcr.microsoft.com/oss/kubernetes/coredns:v1.11.1', 'docker.io/library/nginx:1.25.3'],
  },
  { name: 'http_requests_total', dim: 'code', values: ['200', '201', '204', '301', '400', '404', '500', '503'] },
  { name: 'http_request_duration_seconds_bucket', dim: 'le', values: ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'] },
  { name: 'node_cpu_seconds_total', dim: 'mode', values: ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'] },
  { name: 'node_network_receive_bytes_total', dim: 'device', values: ['eth0', 'eth1', 'lo', 'cali1a2b3c4d5e6', 'vxlan.calico'] },
  { name: 'kube_pod_container_status_restarts_total', dim: 'uid', values: ['8d3f0c1e-5b7a-4c29-9e61-2f4b8a7d0c35', '0b9e4d2a-71c3-4f58-a6d0-93e5c1b7f248'] },
  { name: 'apiserver_request_total', dim: 'verb', values: ['GET', 'LIST', 'WATCH', 'POST', 'PUT', 'PATCH', 'DELETE'] },
  { name: 'process_resident_memory_bytes', dim: 'version', values: ['v1.28.5', 'v1.29.2'] },
  { name: 'go_gc_duration_seconds', dim: 'quantile', values: ['0', '0.25', '0.5', '0.75', '1'] },
];
const NAMESPACES = ['kube-system', 'monitoring', 'ingress-nginx', 'payments', 'checkout', 'search', 'identity', 'default'];
const APPS = ['api-gateway', 'orders', 'billing', 'catalog', 'node-exporter', 'kube-state-metrics', 'coredns', 'frontend', 'cart', 'recommendation'];

function hex(r: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += 'bcdfghjklmnpqrstvwxz2456789'[Math.floor(r() * 27)];
  return s;
}

/** Label sets of `count` distinct series, each with exactly 10 labels, sorted by name. */
export function seriesLabels(count: number, withCluster: boolean, seed: number): Label[][] {
  const r = rng(seed);
  const out: Label[][] = [];
  for (let i = 0; i < count; i++) {
    const f = FAMILIES[i % FAMILIES.length];
    const app = APPS[Math.floor(r() * APPS.length)];
    const ns = NAMESPACES[Math.floor(r() * NAMESPACES.length)];
    const pod = `${app}-${hex(r, 10)}-${hex(r, 5)}`;
    const ip = `10.${20 + (i % 8)}.${Math.floor(i / 250) % 256}.${((i * 7) % 250) + 2}`;
    const labels: Label[] = [
      { name: '__name__', value: f.name },
      withCluster ? { name: 'cluster', value: BENCH_CLUSTER } : { name: 'prometheus', value: 'monitoring/k8s' },
      { name: 'container', value: app },
      { name: 'endpoint', value: i % 3 === 0 ? 'https-metrics' : 'http-metrics' },
      { name: 'instance', value: `${ip}:${i % 2 === 0 ? 9100 : 8080}` },
      { name: 'job', value: app },
      { name: 'namespace', value: ns },
      { name: 'pod', value: pod },
      { name: 'service', value: `${app}-svc` },
      { name: f.dim, value: f.values[i % f.values.length] },
    ];
    labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out.push(labels);
  }
  return out;
}

/**
 * `requests` requests of `series` series × 10 labels, one sample each, as a Prometheus
 * shard sends them: every request a different slice of the series, timestamps moving on.
 */
export function syntheticPayloads(opts: { requests: number; series: number; withCluster: boolean; seed?: number }): PayloadSet {
  const pool = seriesLabels(opts.series * Math.min(opts.requests, 4), opts.withCluster, opts.seed ?? 42);
  const r = rng((opts.seed ?? 42) + 1);
  const payloads: Payload[] = [];
  const t0 = 1_764_000_000_000;
  for (let k = 0; k < opts.requests; k++) {
    const timeseries: TimeSeries[] = [];
    for (let i = 0; i < opts.series; i++) {
      const labels = pool[(k * opts.series + i) % pool.length];
      const value = i % 4 === 0 ? Math.floor(r() * 1e6) : r() * 1000;
      timeseries.push({
        labels,
        samples: [{ value: numberToBits(value), timestamp: BigInt(t0 + k * 15_000 + (i % 15) * 1000) }],
        exemplars: [],
        histograms: [],
      });
    }
    const req: WriteRequest = { timeseries, metadata: [] };
    const raw = encodeWriteRequest(req);
    payloads.push({ body: compress(raw), raw, samples: opts.series });
  }
  const what = `${opts.series} series × 10 labels, ${opts.withCluster ? 'with' : 'without'} cluster`;
  return payloadSet(`synthetic (${what})`, payloads);
}

export const V2_HEADERS: Readonly<Record<string, string>> = {
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
  'x-prometheus-remote-write-version': '2.0.0',
  'user-agent': 'Prometheus/3.8.0',
};

/** The same writes as a remote-write 2.0 sender puts them on the wire (symbols, references). */
export function asRemoteWrite2(set: PayloadSet): PayloadSet {
  const payloads = set.payloads.map((p) => {
    const raw = encodeV2Request(v2SeriesOf(decodeWriteRequest(p.raw)));
    return { body: compress(raw), raw, samples: p.samples };
  });
  return { ...payloadSet(`${set.name}, as remote-write 2.0`, payloads), headers: V2_HEADERS };
}
