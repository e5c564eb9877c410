// mergeSnappyBlocks: the merged block, decoded by the real snappy package, is exactly the
// concatenation of the parts' decoded bytes — on every real Prometheus capture, on random
// data with many back-references (copies), with empty blocks, one block, and headers
// that grow to more varint bytes than any part's. Malformed or oversized input is refused.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compressSync, uncompressSync } from 'snappy';
import { SNAPPY_MAX_DECODED, mergeSnappyBlocks, snappyBlockParts, snappyDecodedLength, snappyHeaderBytes } from '../../shared/remote-write/snappy';
import { Rng } from '../../dev/kit/random-write-request';
import { loadFixtures } from '../../dev/kit/repo';

const decode = (b: Buffer): Buffer => uncompressSync(b, { asBuffer: true }) as Buffer;

function checkMerge(blocks: Buffer[]): Buffer {
  const merged = mergeSnappyBlocks(blocks);
  const expected = Buffer.concat(blocks.map(decode));
  assert.equal(snappyDecodedLength(merged), expected.length, 'header holds the summed length');
  assert.ok(decode(merged).equals(expected), 'decodes to the concatenation of the parts');
  // the same block in pieces, for a vectored write: views on the blocks, nothing copied
  const pieces = snappyBlockParts(blocks);
  assert.ok(Buffer.concat(pieces).equals(merged), 'the pieces join to the merged block');
  for (let i = 1; i < pieces.length && blocks.length > 1; i++) assert.equal(pieces[i].buffer, blocks[i - 1].buffer, 'a piece is a view on its block');
  return merged;
}

/** Random bytes with repeats (so the encoder emits copies at many offsets) and plain noise. */
function randomData(rng: Rng, maxLength: number): Buffer {
  const n = rng.int(0, maxLength);
  const out = Buffer.alloc(n);
  let i = 0;
  while (i < n) {
    if (i > 8 && rng.chance(0.5)) {
      const from = rng.int(0, i - 1);
      const len = Math.min(n - i, rng.int(4, 300));
      for (let k = 0; k < len; k++) out[i + k] = out[from + k]; // may overlap, like a run
      i += len;
    } else {
      const len = Math.min(n - i, rng.int(1, 40));
      for (let k = 0; k < len; k++) out[i + k] = rng.int(0, 255);
      i += len;
    }
  }
  return out;
}

describe('mergeSnappyBlocks', () => {
  const fixtures = loadFixtures();

  it(`every real Prometheus 2.42 capture (${fixtures.length}), merged all at once and in runs of 2..17`, () => {
    checkMerge(fixtures.map((f) => f.body));
    let at = 0;
    for (let run = 2; at < fixtures.length; run = run === 17 ? 2 : run + 1) {
      checkMerge(fixtures.slice(at, at + run).map((f) => f.body));
      at += run;
    }
  });

  it('random data with copies, noise and empty blocks (300 merges)', () => {
    const rng = new Rng(7);
    for (let t = 0; t < 300; t++) {
      const count = rng.int(0, 12);
      const blocks: Buffer[] = [];
      for (let i = 0; i < count; i++) blocks.push(compressSync(rng.chance(0.15) ? Buffer.alloc(0) : randomData(rng, rng.chance(0.1) ? 200_000 : 3000)));
      checkMerge(blocks);
    }
  });

  it('a single block comes back as it is; no blocks make an empty block', () => {
    const one = compressSync(Buffer.from('a single block, unchanged'));
    assert.equal(mergeSnappyBlocks([one]), one);
    const none = checkMerge([]);
    assert.deepEqual([...none], [0]);
    checkMerge([compressSync(Buffer.alloc(0)), compressSync(Buffer.alloc(0))]);
  });

  it('the summed length may need more header bytes than any part (127+1, 16383+1, 3 × 1 MiB)', () => {
    const rng = new Rng(3);
    const sized = (n: number): Buffer => compressSync(Buffer.alloc(n, 0x61));
    assert.equal(snappyHeaderBytes(checkMerge([sized(127), sized(1)])), 2);
    assert.equal(snappyHeaderBytes(checkMerge([sized(16383), sized(1)])), 3);
    const mib = Array.from({ length: 3 }, () => compressSync(randomData(new Rng(rng.u32()), 1 << 20)));
    checkMerge(mib);
  });

  it('refuses a malformed header, and a sum the header cannot hold', () => {
    const good = compressSync(Buffer.from('ok'));
    assert.throws(() => mergeSnappyBlocks([good, Buffer.alloc(0)]), RangeError);
    assert.throws(() => mergeSnappyBlocks([good, Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])]), RangeError);
    assert.throws(() => mergeSnappyBlocks([good, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f])]), RangeError, 'a 5th byte over 0x0f is over 2^32 - 1');
    // headers only: the sum is checked before any element byte is looked at
    const max = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert.equal(snappyDecodedLength(max), SNAPPY_MAX_DECODED);
    assert.throws(() => mergeSnappyBlocks([max, Buffer.from([0x01, 0x00, 0x61])]), /over 4294967295/);
    assert.equal(snappyDecodedLength(mergeSnappyBlocks([max, Buffer.from([0x00])])), SNAPPY_MAX_DECODED);
  });
});

describe('snappyHeaderBytes', () => {
  it('counts varint bytes and refuses truncated or over-32-bit headers', () => {
    assert.equal(snappyHeaderBytes(Buffer.from([0x00])), 1);
    assert.equal(snappyHeaderBytes(Buffer.from([0x7f, 0x99])), 1);
    assert.equal(snappyHeaderBytes(Buffer.from([0x80, 0x01])), 2);
    assert.equal(snappyHeaderBytes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])), 5);
    assert.equal(snappyHeaderBytes(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x10])), -1);
    assert.equal(snappyHeaderBytes(Buffer.from([0x80])), -1);
    assert.equal(snappyHeaderBytes(Buffer.alloc(0)), -1);
  });
});
