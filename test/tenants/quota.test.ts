import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBucket } from '../../shared/tenants/quota';

test('token bucket: admits while tokens remain, then asks to wait as long as the debt takes to refill', () => {
  let now = 0;
  const b = createBucket(1000, 2000, () => now);
  assert.equal(b.waitSeconds(), 0);
  b.take(1500);
  assert.equal(b.waitSeconds(), 0);
  b.take(3500); // debt of 3000 samples
  assert.equal(b.waitSeconds(), 3);
  now += 2000;
  assert.equal(b.waitSeconds(), 1);
  now += 1001;
  assert.equal(b.waitSeconds(), 0);
  now += 60_000;
  b.take(2000);
  assert.equal(b.waitSeconds(), 1, 'refill is capped at the burst size');
});
