// Captured requests moved to the present: the workspace emulator drops samples more than
// 20 minutes old as Azure does, and the captures are from 2026-11 or earlier.

import { compressSync, uncompressSync } from 'snappy';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import type { WriteRequest } from '../../shared/remote-write/model/types';

/** The request with every timestamp shifted by the same amount so its newest is `nowMs`. */
export function shiftToNow(req: WriteRequest, nowMs = Date.now()): WriteRequest {
  let newest: bigint | undefined;
  const see = (t: bigint): void => {
    if (newest === undefined || t > newest) newest = t;
  };
  for (const ts of req.timeseries) {
    for (const s of ts.samples) see(s.timestamp);
    for (const h of ts.histograms) see(h.timestamp);
  }
  const by = newest === undefined ? 0n : BigInt(nowMs) - newest;
  return {
    metadata: req.metadata,
    timeseries: req.timeseries.map((ts) => ({
      labels: ts.labels,
      samples: ts.samples.map((s) => ({ ...s, timestamp: s.timestamp + by })),
      histograms: ts.histograms.map((h) => ({ ...h, timestamp: h.timestamp + by })),
      exemplars: ts.exemplars.map((e) => ({ ...e, timestamp: e.timestamp + by })),
    })),
  };
}

/** shiftToNow over a snappy-compressed remote-write body. */
export function shiftBodyToNow(body: Buffer, nowMs = Date.now()): Buffer {
  return compressSync(encodeWriteRequest(shiftToNow(decodeWriteRequest(uncompressSync(body, { asBuffer: true }) as Buffer), nowMs)));
}
