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

test('resize: the bucket refills at the new rate from then on, keeps the tokens it holds up to the new size; usage counts demand and resets', () => {
  let now = 0;
  const b = createBucket(1000, 2000, () => now);
  b.take(500);
  b.take(500);
  b.resize(250, 500); // a quarter share: 1000 tokens in hand → capped at 500
  b.take(1000); // debt 500
  assert.equal(b.waitSeconds(), 2, '500 samples of debt at 250/s');
  assert.equal(b.waitSeconds(), 2);
  assert.deepEqual(b.usage(), { samples: 2000, requests: 3, refused: 2 });
  assert.deepEqual(b.usage(), { samples: 0, requests: 0, refused: 0 });
  now += 2001;
  assert.equal(b.waitSeconds(), 0);
});
