// Codec throughput, in process: snappy, our zero-copy validation (what the relay
// runs), our materialising decoder, and protobufjs's decode of the same bytes.

import * as protobuf from 'protobufjs';
import { decodeWriteRequest } from '../shared/remote-write/model/decode';
import { compress, decompressBounded } from '../shared/remote-write/snappy';
import { AZURE_MONITOR_LIMITS, validateWriteRequest } from '../shared/remote-write/validate';
import { remoteProtoPath } from '../dev/kit/repo';
import { measureCpu } from './lib/measure';
import { BENCH_CLUSTER, type PayloadSet } from './lib/payloads';

export interface CodecRow {
  set: string;
  op: string;
  /** CPU seconds per repetition-median pass over the set */
  secondsPerPass: number;
  spreadUs: number[];
  samplesPerSecond: number;
  /** uncompressed protobuf MB (10^6 bytes) per CPU second */
  mbPerSecond: number;
  usPerSample: number;
}

export function benchCodec(sets: readonly PayloadSet[], opts: { reps: number; minSeconds: number }): CodecRow[] {
  const type = protobuf.loadSync(remoteProtoPath).lookupType('prometheus.WriteRequest');
  const rows: CodecRow[] = [];
  for (const set of sets) {
    const ops: Array<[string, () => void]> = [
      [
        'snappy decompress',
        () => {
          for (const p of set.payloads) decompressBounded(p.body, 64 << 20);
        },
      ],
      [
        'validate (ours, zero-copy)',
        () => {
          for (const p of set.payloads) validateWriteRequest(p.raw, AZURE_MONITOR_LIMITS, BENCH_CLUSTER);
        },
      ],
      [
        'decompress + validate (ours)',
        () => {
          for (const p of set.payloads) validateWriteRequest(decompressBounded(p.body, 64 << 20), AZURE_MONITOR_LIMITS, BENCH_CLUSTER);
        },
      ],
      [
        'decode (ours, materialising)',
        () => {
          for (const p of set.payloads) decodeWriteRequest(p.raw);
        },
      ],
      [
        'decode (protobufjs)',
        () => {
          for (const p of set.payloads) type.decode(p.raw);
        },
      ],
      [
        'snappy compress',
        () => {
          for (const p of set.payloads) compress(p.raw);
        },
      ],
    ];
    for (const [op, pass] of ops) {
      const m = measureCpu(pass, opts);
      rows.push({
        set: set.name,
        op,
        secondsPerPass: m.median,
        spreadUs: m.perPass.map((s) => (s / set.samples) * 1e6),
        samplesPerSecond: set.samples / m.median,
        mbPerSecond: set.rawBytes / m.median / 1e6,
        usPerSample: (m.median / set.samples) * 1e6,
      });
    }
  }
  return rows;
}
