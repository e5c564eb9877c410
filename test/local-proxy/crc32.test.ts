// The spool's checksum: the native module's CRC-32 (native/crc32.c, folded with PCLMULQDQ)
// must give zlib's value for every length, offset and starting value, or segments written
// by one would read as corrupt under the other (older versions, a machine without the
// native module). Random inputs cover the folded loop, its 16-byte steps and the tails.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { nativeBinding, nativeStatus } from '../../shared/remote-write/native';

const status = nativeStatus();
const crc32 = nativeBinding()?.crc32;
// Built without a C compiler, or on a CPU without PCLMULQDQ: zlib's serves (spool-record.ts).
// CI builds the module on x86-64, so there the test must run.
const skip = crc32 === undefined && process.env.CI !== 'true' ? `native crc32 not here (${status.loaded ? 'the CPU cannot fold' : status.reason})` : false;

describe('native crc32', { skip }, () => {
  test('equals zlib crc32 for every length up to 1 100 bytes, from 0 and from a running value', () => {
    assert.ok(crc32, 'the native module exports crc32 on this machine');
    const data = randomBytes(1200);
    for (let n = 0; n <= 1100; n++) {
      const view = data.subarray(n % 37, (n % 37) + n);
      assert.equal(crc32(view), zlibCrc32(view), `${n} bytes`);
      const running = zlibCrc32(data.subarray(0, n % 97));
      assert.equal(crc32(view, running), zlibCrc32(view, running), `${n} bytes after ${n % 97}`);
    }
  });

  test('equals zlib crc32 on large blocks, and chained over pieces as the spool chains header, hashes and block', () => {
    assert.ok(crc32);
    for (const n of [140_000, 1 << 20, (1 << 20) + 13]) {
      const block = randomBytes(n);
      assert.equal(crc32(block), zlibCrc32(block), `${n} bytes`);
      const header = block.subarray(0, 28);
      const hashes = block.subarray(28, 8_028);
      const rest = block.subarray(8_028);
      assert.equal(crc32(rest, crc32(hashes, crc32(header))), zlibCrc32(block), `${n} bytes in three pieces`);
    }
  });

  test('a flipped bit changes it', () => {
    assert.ok(crc32);
    const block = randomBytes(4096);
    const before = crc32(block);
    block[2048] ^= 0x10;
    assert.notEqual(crc32(block), before);
    assert.equal(crc32(block), zlibCrc32(block));
  });
});
