// The body pool: leases are reused only after release, never while leased; sizes the
// pool does not keep are plain allocations; the collector builds the exact body.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { DECLARED_LENGTH_TRUSTED_BYTES, collectBody, createBufferPool } from '../../shared/buffers/pool';

describe('buffer pool', () => {
  test('a released buffer is handed out again; a leased one never is', () => {
    const pool = createBufferPool({ minBytes: 1024 });
    const a = pool.acquire(1000);
    const b = pool.acquire(1000);
    assert.notEqual(a.buffer, b.buffer, 'two leases never share memory');
    assert.equal(a.length, 1000);
    pool.release(a);
    const c = pool.acquire(700);
    assert.equal(c.buffer, a.buffer, 'the released buffer is reused for a request of its size class');
    assert.equal(c.length, 700);
    assert.deepEqual(pool.stats(), { idleBytes: 0, reused: 1, allocated: 2 });
  });

  test('a second release and a release of a foreign Buffer are ignored', () => {
    const pool = createBufferPool({ minBytes: 1024 });
    const a = pool.acquire(10);
    pool.release(a);
    pool.release(a);
    pool.release(Buffer.alloc(1024));
    const x = pool.acquire(10);
    const y = pool.acquire(10);
    assert.notEqual(x.buffer, y.buffer, 'a double release must not put one buffer in the pool twice');
  });

  test('forget() ends a lease without reuse', () => {
    const pool = createBufferPool({ minBytes: 1024 });
    const a = pool.acquire(10);
    pool.forget(a);
    pool.release(a);
    assert.notEqual(pool.acquire(10).buffer, a.buffer);
    assert.equal(pool.stats().idleBytes, 0);
  });

  test('sizes over maxPooledBytes are not pooled; idle bytes stay under maxIdleBytes', () => {
    const pool = createBufferPool({ minBytes: 1024, maxPooledBytes: 4096, maxIdleBytes: 4096 });
    const big = pool.acquire(5000);
    pool.release(big);
    assert.equal(pool.stats().idleBytes, 0);
    const held = [pool.acquire(4096), pool.acquire(4096)];
    for (const h of held) pool.release(h);
    assert.equal(pool.stats().idleBytes, 4096, 'the second idle buffer would pass the cap and is dropped');
  });
});

describe('buffer pool options', () => {
  test('classSteps 4: classes are quarter steps between powers of two (at most 25 % unused), reused within a class', () => {
    const pool = createBufferPool({ minBytes: 16 * 1024, classSteps: 4 });
    for (const [size, cls] of [
      [16 * 1024, 16 * 1024],
      [16 * 1024 + 1, 20 * 1024],
      [140_000, 160 * 1024],
      [131_072, 128 * 1024],
      [200_000, 224 * 1024],
    ]) {
      const b = pool.acquire(size);
      assert.equal(b.length, size);
      assert.equal(b.buffer.byteLength, cls, `${size} bytes → a ${cls}-byte class`);
    }
    for (let n = 16 * 1024; n < 1 << 22; n = Math.ceil(n * 1.07)) {
      const c = pool.acquire(n).buffer.byteLength;
      assert.ok(c >= n && c <= n * 1.25, `${n} → ${c}`);
    }
    const a = pool.acquire(150_000);
    pool.release(a);
    assert.equal(pool.acquire(140_000).buffer, a.buffer, 'the same class');
  });

  test('plainBelow: smaller requests are plain allocations, never pooled', () => {
    const pool = createBufferPool({ minBytes: 16 * 1024, plainBelow: 16 * 1024 });
    const small = pool.acquire(1000);
    assert.equal(small.length, 1000);
    pool.release(small);
    assert.deepEqual(pool.stats(), { idleBytes: 0, reused: 0, allocated: 0 });
  });
});

describe('collectBody', () => {
  const pool = createBufferPool({ minBytes: 64 });
  const chunksOf = (b: Buffer, n: number): Buffer[] => Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));

  for (const [name, declared] of [
    ['declared length right', 10_000],
    ['no declared length', undefined],
    ['declared length too small', 100],
    ['declared length too large', 50_000],
  ] as const) {
    test(`the body comes out byte for byte (${name})`, () => {
      const body = randomBytes(10_000);
      const c = collectBody(pool, 1 << 20, declared);
      for (const chunk of chunksOf(body, 777)) assert.equal(c.add(chunk), true);
      assert.deepEqual(c.finish(), body);
    });
  }

  test('passing maxBytes answers false and gives the lease back', () => {
    const p = createBufferPool({ minBytes: 64 });
    const c = collectBody(p, 1000, 900);
    assert.equal(c.add(randomBytes(600)), true);
    assert.equal(c.add(randomBytes(600)), false);
    assert.equal(p.stats().idleBytes, 1024, 'the lease went back to the pool');
  });

  test('a declared length is trusted only up to 1 MiB: a lying sender cannot make the relay hold what it never sends', () => {
    const p = createBufferPool({ minBytes: 64, maxPooledBytes: 1 << 30, maxIdleBytes: 1 << 30 });
    const c = collectBody(p, 1 << 30, 500_000_000);
    assert.equal(c.add(randomBytes(100)), true);
    p.release(c.finish());
    assert.ok(p.stats().idleBytes <= DECLARED_LENGTH_TRUSTED_BYTES, `held ${p.stats().idleBytes} bytes for a 100-byte body`);
  });

  test('a body over 1 MiB still comes out whole', () => {
    const body = randomBytes(3 * DECLARED_LENGTH_TRUSTED_BYTES + 5);
    const c = collectBody(pool, 1 << 30, body.length);
    for (const chunk of chunksOf(body, 65_536)) assert.equal(c.add(chunk), true);
    assert.deepEqual(c.finish(), body);
  });

  test('an empty body is an empty Buffer', () => {
    assert.equal(collectBody(pool, 100).finish().length, 0);
  });
});
