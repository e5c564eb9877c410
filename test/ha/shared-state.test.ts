// The shared state on a real table (Azurite), two trackers or quota syncs standing in for
// two instances, with a hand-moved clock. HA: Mimir's rules (election, dedup from the
// cache, failover after the timeout, ETag races) and storage going away or hanging under
// it. Quotas: shares proportional to demand, an even start, an idle floor, and the last
// shares kept while storage is down.

import assert from 'node:assert/strict';
import { type Server, type Socket, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Azurite, azuriteConnectionString, startAzurite } from '../../dev/emulators/azurite';
import { createHaTracker } from '../../shared/ha/tracker';
import { type StateTable, openStateTable } from '../../shared/state/table';
import { createBucket } from '../../shared/tenants/quota';
import { startSharedQuotas } from '../../shared/tenants/shared-quota';

describe('shared state on Azurite', () => {
  let azurite: Azurite;
  let table: StateTable;
  before(async () => {
    azurite = await startAzurite();
    table = openStateTable({ kind: 'connectionString', value: azurite.connectionString }, 'hatracker', 2000);
  });
  after(() => azurite.stop());

  // failover 30 s; random() = 0.5 puts the update timeout at exactly 15 s (no jitter)
  const pair = (clock: { t: number }) => {
    const opts = { table, failoverTimeoutMs: 30_000, now: () => clock.t, random: () => 0.5 };
    return [createHaTracker(opts), createHaTracker(opts)] as const;
  };

  test('first replica seen is elected; the other is dropped on both instances; failover after 30 s of silence', async () => {
    const clock = { t: Date.now() };
    const [one, two] = pair(clock);
    assert.equal(await one.check('t1', 'c1', 'a'), 'accept');
    assert.equal(await two.check('t1', 'c1', 'b'), 'drop', 'instance two reads the election from the table');
    assert.equal(two.elected('t1', 'c1'), 'a');
    // from the cache now: no storage round-trip, the answer is not a promise
    assert.equal(one.check('t1', 'c1', 'a'), 'accept');
    assert.equal(two.check('t1', 'c1', 'b'), 'drop');
    // a keeps writing through instance one, which refreshes the stored time behind the writes
    for (let i = 0; i < 4; i++) {
      clock.t += 10_000;
      assert.equal(await one.check('t1', 'c1', 'a'), 'accept');
      await one.settled();
      assert.equal(await two.check('t1', 'c1', 'b'), 'drop', `still dropped after ${(i + 1) * 10} s: a is alive`);
      await two.settled();
    }
    // a falls silent: b is dropped until 30 s after a's last stored time, then elected
    const silentFrom = clock.t;
    clock.t = silentFrom + 29_000;
    assert.equal(await two.check('t1', 'c1', 'b'), 'drop');
    clock.t = silentFrom + 31_000;
    assert.equal(await two.check('t1', 'c1', 'b'), 'accept', 'failover');
    assert.equal(two.stats().failovers, 1);
    // a comes back: now it is the one dropped, on instance one too once its cache is stale
    assert.equal(await one.check('t1', 'c1', 'a'), 'drop');
    assert.equal(one.elected('t1', 'c1'), 'b');
  });

  test('two instances electing at once agree on one replica (ETag compare-and-swap)', async () => {
    const clock = { t: Date.now() };
    const [one, two] = pair(clock);
    const [va, vb] = await Promise.all([one.check('t2', 'c1', 'a'), two.check('t2', 'c1', 'b')]);
    assert.deepEqual([va, vb].sort(), ['accept', 'drop']);
    assert.equal(one.elected('t2', 'c1'), two.elected('t2', 'c1'));
    // tenants and clusters are separate elections
    assert.equal(await one.check('t3', 'c1', 'b'), 'accept');
    assert.equal(await one.check('t2', 'c2', 'b'), 'accept');
  });

  test('quota shares follow demand, add up to one, start even, keep an idle floor', async () => {
    const clock = { t: 1_000_000 };
    const now = (): number => clock.t;
    const instances = ['one', 'two', 'three'].map((id) => {
      const bucket = createBucket(1000, 1000, now);
      return {
        bucket,
        q: startSharedQuotas({
          table,
          tenants: [{ name: 'q1', samplesPerSecond: 1000, burstSamples: 1000, bucket }],
          intervalMs: 1000,
          instanceId: id,
          now,
          manual: true,
        }),
      };
    });
    const [one, two] = instances;
    // the first epoch: one and two alone; nothing measured yet, so an even split
    clock.t += 1000;
    for (const i of [one, two]) await i.q.publish();
    for (const i of [one, two]) await i.q.apply();
    assert.deepEqual([one.q.shares().q1, two.q.shares().q1], [0.5, 0.5]);
    // one admits 3× what two does; three is idle
    const epoch = async (loads: number[]): Promise<number[]> => {
      loads.forEach((n, k) => n > 0 && instances[k].bucket.take(n));
      clock.t += 1000;
      for (const i of instances) await i.q.publish();
      for (const i of instances) await i.q.apply();
      return instances.map((i) => i.q.shares().q1);
    };
    await epoch([600, 200, 0]);
    await epoch([600, 200, 0]);
    await epoch([600, 200, 0]);
    const shares = await epoch([600, 200, 0]);
    assert.ok(Math.abs(shares.reduce((a, b) => a + b) - 1) < 1e-9, `shares ${shares.join(', ')} add up to one`);
    assert.ok(Math.abs(shares[0] / shares[1] - 3) < 0.2, `3:1 demand, 3:1 shares: ${shares.join(', ')}`);
    assert.ok(shares[2] > 0.01 && shares[2] < 0.05, `the idle instance keeps a small floor: ${shares[2]}`);
    // the bucket follows the share: one refills at its share of 1000/s
    while (one.bucket.waitSeconds() === 0) one.bucket.take(100);
    one.bucket.usage();
    let admitted = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      clock.t += 10;
      if (one.bucket.waitSeconds() === 0) {
        one.bucket.take(10);
        admitted += 10;
      }
    }
    assert.ok(Math.abs(admitted / 10 - 1000 * shares[0]) < 1000 * shares[0] * 0.05, `admitted ${admitted / 10}/s, share ${1000 * shares[0]}/s`);
    // refused requests count as demand too: two, refused at its share, gains on one
    for (const i of instances) i.bucket.usage();
    clock.t += 1000;
    for (let k = 0; k < 50; k++) if (two.bucket.waitSeconds() === 0) two.bucket.take(100);
    for (const i of instances) await i.q.publish();
    for (const i of instances) await i.q.apply();
    assert.ok(two.q.shares().q1 > shares[1], `two's refused requests raise its share (${shares[1]} → ${two.q.shares().q1})`);
  });

  test('storage down: the cache decides, what it cannot is accepted, nothing waits past the timeout', async () => {
    const clock = { t: Date.now() };
    const [one] = pair(clock);
    assert.equal(await one.check('t4', 'c1', 'a'), 'accept');
    assert.equal(await one.check('t4', 'c1', 'b'), 'drop');
    // and two quota instances with an even split
    const errors: string[] = [];
    const quotas = ['q-one', 'q-two'].map((id) =>
      startSharedQuotas({
        table,
        tenants: [{ name: 'q2', samplesPerSecond: 1000, burstSamples: 1000, bucket: createBucket(1000, 1000, () => clock.t) }],
        intervalMs: 1000,
        instanceId: id,
        now: () => clock.t,
        manual: true,
        onError: (e) => errors.push(e.message),
      }),
    );
    clock.t += 1000;
    for (const q of quotas) await q.publish();
    for (const q of quotas) await q.apply();
    assert.deepEqual(
      quotas.map((q) => q.shares().q2),
      [0.5, 0.5],
    );
    await azurite.stop();
    try {
      clock.t += 1000;
      for (const q of quotas) await q.publish();
      for (const q of quotas) await q.apply();
      assert.deepEqual(
        quotas.map((q) => q.shares().q2),
        [0.5, 0.5],
        'quota shares stay as they were',
      );
      assert.ok(errors.length >= 2, 'each failed round is reported');
      clock.t -= 1000;
      clock.t += 20_000; // past the update timeout: a's refresh fails in the background
      const started = Date.now();
      assert.equal(await one.check('t4', 'c1', 'a'), 'accept');
      await one.settled();
      assert.equal(one.stats().storageErrors, 1);
      assert.equal(await one.check('t4', 'c1', 'b'), 'drop', 'a is alive: b stays dropped without storage');
      assert.equal(await one.check('t4', 'new-cluster', 'x'), 'accept', 'an unknown cluster is accepted (fail open)');
      assert.ok(Date.now() - started < 2500, 'no call waited longer than STATE_TIMEOUT');
      assert.ok(one.stats().acceptedWithoutStorage >= 1);
    } finally {
      await azurite.start();
    }
    // storage back (empty: the emulator forgot everything): after the 10 s back-off, elections resume
    clock.t += 11_000;
    assert.equal(await one.check('t4', 'c1', 'a'), 'accept');
    await one.settled();
    assert.equal((await table.get('ha-t4', 'c-c1'))?.entity.replica, 'a', 'the election is stored again');
  });

  test('storage that accepts connections and never answers: the write waits STATE_TIMEOUT at most, then fails open', async () => {
    const sockets: Socket[] = [];
    const hang: Server = createServer((sock) => sockets.push(sock));
    await new Promise<void>((ok) => hang.listen(0, '127.0.0.1', ok));
    try {
      const port = (hang.address() as { port: number }).port;
      const slow = openStateTable({ kind: 'connectionString', value: azuriteConnectionString(port) }, 'hatracker', 300);
      const tracker = createHaTracker({ table: slow, failoverTimeoutMs: 30_000 });
      const started = Date.now();
      assert.equal(await tracker.check('t5', 'c1', 'a'), 'accept');
      assert.equal(await tracker.check('t5', 'c1', 'b'), 'accept', 'storage down: nothing waits, both accepted (fail open)');
      const waited = Date.now() - started;
      assert.ok(waited >= 250 && waited < 1500, `waited ${waited} ms: one STATE_TIMEOUT, then no more`);
      assert.equal(tracker.stats().storageErrors, 1);
    } finally {
      for (const s of sockets) s.destroy();
      hang.close();
    }
  });
});
