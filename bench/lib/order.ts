// The sink's per-series order check (drain mode): for every series entry of a decoded
// WriteRequest, the raw bytes of its labels make the series key (no label is decoded;
// a sender keeps one series' label bytes identical from write to write), and each
// sample's timestamp must be newer than the last one seen for that key. A sample that
// is not newer counts as out of order (Azure drops it: `OutOfOrder`).
//
// Cheap, since the sink shares the machine with the target: the key is a 53-bit hash of
// those bytes, read four at a time (two 32-bit multiplicative hashes), not a string;
// two of the bench's ~12 000 series sharing a key has a chance of about 1 in 10^8.

export interface OrderScan {
  samples: number;
  outOfOrder: number;
}

/** 53-bit hash of buf[start, end): an exact-enough series key. */
export function labelKey(buf: Buffer, start: number, end: number): number {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x2545f491 | 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const c = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul((h2 + c) | 0, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  for (; i < end; i++) {
    h1 = Math.imul(h1 ^ buf[i], 0x01000193);
    h2 = Math.imul((h2 + buf[i]) | 0, 0x5bd1e995);
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  return (h1 >>> 0) * 2 ** 21 + (h2 >>> 11);
}

/**
 * Scans `raw` (a decompressed WriteRequest), updating `last` (series key → newest
 * timestamp seen). Histogram samples are counted but not order-checked. Throws on a
 * malformed message.
 */
export function scanSeriesOrder(raw: Buffer, last: Map<number, number>): OrderScan {
  const n = raw.length;
  let pos = 0;
  let samples = 0;
  let outOfOrder = 0;
  // varints inline (a closure over `pos` costs more than the rest of the scan)
  let b: number;
  let mul: number;
  let len: number;
  while (pos < n) {
    const tag = raw[pos++];
    if (tag >= 0x80) throw new Error('unexpected top-level field');
    const wire = tag & 7;
    if (wire === 0) {
      while (raw[pos++] >= 0x80);
      continue;
    }
    if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      continue;
    }
    if (wire !== 2) throw new Error(`wire type ${wire}`);
    len = 0;
    mul = 1;
    do {
      b = raw[pos++];
      len += (b & 0x7f) * mul;
      mul *= 128;
    } while (b >= 0x80);
    const end = pos + len;
    if (end > n) throw new Error('truncated field');
    if (tag !== 0x0a) {
      pos = end; // metadata
      continue;
    }
    let keyStart = -1;
    let keyEnd = -1;
    let key = -1;
    while (pos < end) {
      const at = pos;
      const t = raw[pos++];
      if (t >= 0x80 || (t & 7) !== 2) throw new Error('unexpected series field');
      len = 0;
      mul = 1;
      do {
        b = raw[pos++];
        len += (b & 0x7f) * mul;
        mul *= 128;
      } while (b >= 0x80);
      if (t === 0x0a) {
        // a label: the key runs from the first label's tag to the last label's end
        if (keyStart < 0) keyStart = at;
        pos += len;
        keyEnd = pos;
      } else if (t === 0x12) {
        samples++;
        const sEnd = pos + len;
        let ts = 0;
        while (pos < sEnd) {
          const st = raw[pos++];
          if (st === 0x10) {
            ts = 0;
            mul = 1;
            do {
              b = raw[pos++];
              ts += (b & 0x7f) * mul;
              mul *= 128;
            } while (b >= 0x80);
          } else if (st === 0x09) {
            pos += 8;
          } else {
            throw new Error('unexpected sample field');
          }
        }
        if (pos !== sEnd) throw new Error('sample overruns its length');
        if (key < 0) key = keyStart < 0 ? 0 : labelKey(raw, keyStart, keyEnd);
        const prev = last.get(key);
        if (prev !== undefined && ts <= prev) outOfOrder++;
        else last.set(key, ts);
      } else {
        if (t === 0x22) samples++; // a histogram sample
        pos += len;
      }
    }
    if (pos !== end) throw new Error('series overruns its length');
  }
  if (pos !== n) throw new Error('message overruns its length');
  return { samples, outOfOrder };
}
