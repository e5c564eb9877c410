// Snappy *block* format (not framed), bounded: the uncompressed length is read from
// the block's varint header and checked before anything is allocated.

import { compressSync, uncompressSync } from 'snappy';
import { HttpError } from '../errors';

/** The uncompressed length a snappy block declares, or -1 if the header is malformed. */
export function snappyDecodedLength(block: Buffer): number {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 5 && i < block.length; i++) {
    const b = block[i];
    value += (b & 0x7f) * mul;
    if (b < 0x80) return value;
    mul *= 0x80;
  }
  return -1;
}

export function decompressBounded(block: Buffer, maxDecodedBytes: number): Buffer {
  const declared = snappyDecodedLength(block);
  if (declared < 0) throw new HttpError(400, 'bad_snappy', 'body is not snappy block-compressed: malformed length header');
  if (declared > maxDecodedBytes) {
    throw new HttpError(413, 'decoded_too_large', `snappy body declares ${declared} decoded bytes, over MAX_DECODED_BYTES=${maxDecodedBytes}`);
  }
  let out: Buffer;
  try {
    out = uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (err) {
    throw new HttpError(400, 'bad_snappy', `body is not valid snappy block data: ${(err as Error).message}`);
  }
  if (out.length !== declared) throw new HttpError(400, 'bad_snappy', 'snappy body decodes to a different length than its header declares');
  return out;
}

export function compress(raw: Buffer): Buffer {
  return compressSync(raw);
}
