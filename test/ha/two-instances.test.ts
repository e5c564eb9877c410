// Two relay processes on one Azurite stand in for two instances of the Function app: they
// share nothing but the storage account. An HA pair of Prometheus replicas writes the same
// series through both; the workspace must hold one copy, without the replica label; when
// the elected replica stops, the other takes over within the failover timeout plus one
// write. A tenant's quota holds across both within ±10 %, however unevenly its load is
// spread. And when storage goes away mid-run, writes keep flowing.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { compressSync } from 'snappy';
import { type Azurite, startAzurite } from '../../dev/emulators/azurite';
import { type WorkspaceEmulator, startWorkspaceEmulator } from '../../dev/emulators/workspace';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { numberToBits } from '../../shared/remote-write/model/types';
import { REMOTE_WRITE_HEADERS } from '../../dev/kit/relay-harness';
import { type RelayProcess, startRelayProcess } from '../helpers/relay-process';
import { sleep } from '../../dev/kit/wait';

const FAILOVER_MS = 3000;
const STEP_MS = 200;
const QUOTA = 2000; // samples/s for tenant "metered"
const HA_KEY = 'key-of-the-ha-pair';
const METERED_KEY = 'key-of-metered';
const sha = (k: string): string => createHash('sha256').update(k).digest('hex');

/** What one replica of the pair scrapes: three series of cluster "prod", one sample each. */
function scrape(replica: string, ts: number, cluster = 'prod'): Buffer {
  const timeseries = ['up', 'node_load1', 'node_cpu_seconds_total'].map((name, i) => ({
    labels: [
      { name: '__name__', value: name },
      { name: '__replica__', value: replica },
      { name: 'cluster', value: cluster },
      { name: 'instance', value: `node-${i}` },
    ],
    samples: [{ value: numberToBits(ts / 1000), timestamp: BigInt(ts) }],
    exemplars: [],
    histograms: [],
  }));
  return compressSync(encodeWriteRequest({ timeseries, metadata: [] }));
}

async function post(relay: RelayProcess, body: Buffer, key = HA_KEY): Promise<{ status: number; text: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${relay.url}/api/v1/write`, { method: 'POST', headers: { ...REMOTE_WRITE_HEADERS, 'x-relay-key': key }, body });
  return { status: res.status, text: await res.text(), ms: Date.now() - started };
}

describe('two relay processes on one Azurite', () => {
  let azurite: Azurite;
  let ws: WorkspaceEmulator;
  let one: RelayProcess;
  let two: RelayProcess;
  before(async () => {
    [azurite, ws] = await Promise.all([startAzurite(), startWorkspaceEmulator({ name: 'ws' })]);
    const tenants = {
      tenants: [
        // the HA pair's clusters: "prod", and the new-* ones of the storage-down test
        { name: 'pair', cluster: 'prod', clusterConflict: 'overwrite', keySha256: [sha(HA_KEY)], ingestionUrls: [ws.url] },
        {
          name: 'metered',
          cluster: 'metered',
          keySha256: [sha(METERED_KEY)],
          ingestionUrls: [ws.url],
          limits: { samplesPerSecond: QUOTA, burstSamples: QUOTA },
        },
      ],
    };
    const env = {
      RELAY_TENANTS: JSON.stringify(tenants),
      IDENTITY_TYPE: 'none',
      HA_DEDUP: 'on',
      AzureWebJobsStorage: azurite.connectionString,
      HA_FAILOVER_TIMEOUT: `${FAILOVER_MS}ms`,
      QUOTA_SYNC_INTERVAL: '1s',
    };
    [one, two] = await Promise.all([startRelayProcess(env), startRelayProcess(env)]);
  });
  after(async () => {
    await Promise.all([one?.stop(), two?.stop(), azurite?.stop(), ws?.close()]);
  });

  /** every stored sample's timestamp, per series key */
  const stored = (): Map<string, number[]> => new Map([...ws.series].map(([k, s]) => [k, [...s.samples.keys()].map(Number).sort((a, b) => a - b)]));

  const aTimes: number[] = [];
  let lastA = 0;

  test('the pair writes through both instances: one copy of each sample, no replica label', async () => {
    const t0 = Date.now() - 60_000;
    assert.equal((await post(one, scrape('a', t0))).status, 204, 'the first replica seen is elected');
    aTimes.push(t0);
    for (let i = 1; i <= 8; i++) {
      const t = t0 + i * 1000;
      // each replica through each instance in turn, as a load balancer would spread them
      const [ra, rb] = await Promise.all([post(i % 2 ? two : one, scrape('a', t)), post(i % 2 ? one : two, scrape('b', t + 7))]);
      assert.equal(ra.status, 204, ra.text);
      assert.equal(rb.status, 202, 'the other replica is answered 2xx, so it does not retry');
      assert.match(rb.text, /__replica__="b" is not the elected replica of cluster="prod" \(a is\); accepted and not forwarded/);
      aTimes.push(t);
    }
    lastA = Date.now();
    const series = stored();
    assert.equal(series.size, 3, 'three series, not six: the replica label is gone');
    for (const [key, times] of series) {
      assert.doesNotMatch(key, /__replica__/);
      assert.deepEqual(times, aTimes, `${key}: replica a's samples, each once, none of b's`);
    }
    const health = (await (await fetch(`${one.url}/api/health`)).json()) as { haDedupState: { droppedRequests: number; droppedSamples: number } };
    assert.ok(health.haDedupState.droppedRequests >= 4, 'drops are counted in /api/health');
    assert.equal(health.haDedupState.droppedSamples, health.haDedupState.droppedRequests * 3);
  });

  test('the elected replica stops: the other takes over within the failover timeout plus one write', async () => {
    let t = Date.now() - 30_000;
    let takeover = 0;
    for (let i = 0; Date.now() - lastA < FAILOVER_MS + 3000; i++) {
      t += 1000;
      const r = await post(i % 2 ? one : two, scrape('b', t));
      if (r.status === 204) {
        takeover = Date.now();
        break;
      }
      assert.equal(r.status, 202);
      await sleep(STEP_MS);
    }
    assert.ok(takeover > 0, 'b was never elected');
    const after = takeover - lastA;
    // a's stored time may be up to the update timeout (failover/2 + failover/6) older than its
    // last write, so takeover can come that much early, never later than timeout + one write
    assert.ok(after <= FAILOVER_MS + STEP_MS + 1000, `took over ${after} ms after a's last write`);
    assert.ok(after >= FAILOVER_MS / 3 - 100, `took over only ${after} ms after a's last write`);
    const back = await post(one, scrape('a', Date.now()));
    assert.equal(back.status, 202, 'a returning is now the dropped one');
    for (const [key] of stored()) assert.doesNotMatch(key, /__replica__/);
  });

  test("a tenant's quota holds across both instances within ±10 %, shared by demand", async () => {
    // three senders through instance one, one through two: 3:1 demand, each over the quota
    // 10 series × 20 samples: 10 requests a second fill the quota, so a loaded machine still offers more
    const body = (loop: number, n: number): Buffer =>
      compressSync(
        encodeWriteRequest({
          timeseries: Array.from({ length: 10 }, (_, i) => ({
            labels: [
              { name: '__name__', value: 'load' },
              { name: 'cluster', value: 'metered' },
              { name: 'i', value: `${loop}-${i}` },
            ],
            samples: Array.from({ length: 20 }, (_, k) => ({ value: numberToBits(k), timestamp: BigInt(Date.now() - 60_000 + n * 20 + k) })),
            exemplars: [],
            histograms: [],
          })),
          metadata: [],
        }),
      );
    const share = async (r: RelayProcess): Promise<number> =>
      ((await (await fetch(`${r.url}/api/health`)).json()) as { quotaShares: Record<string, number> }).quotaShares.metered;
    let warmupEnd = Infinity;
    // measured from two intervals after both instances took a share (the first round may be slow on a loaded machine)
    void (async () => {
      while ((await share(one)) === 1 || (await share(two)) === 1) await sleep(100);
      warmupEnd = Date.now() + 1000;
    })();
    let end = Infinity;
    let admitted = 0;
    const counts = { one: 0, two: 0 };
    let refused = 0;
    const loop = async (relay: RelayProcess, id: number, which: 'one' | 'two'): Promise<void> => {
      for (let n = 0; Date.now() < end; n++) {
        if (end === Infinity && Date.now() >= warmupEnd) end = warmupEnd + 6000;
        const r = await post(relay, body(id, n), METERED_KEY);
        const t = Date.now();
        if (r.status === 204 && t >= warmupEnd && t < end) {
          admitted += 200;
          counts[which] += 200;
        }
        if (r.status === 429) refused++;
        assert.ok(r.status === 204 || r.status === 429, `${r.status} ${r.text}`);
        await sleep(10);
      }
    };
    await Promise.all([loop(one, 1, 'one'), loop(one, 2, 'one'), loop(one, 3, 'one'), loop(two, 4, 'two')]);
    const expected = QUOTA * 6;
    console.log(`# admitted ${admitted} samples in 6 s (quota ${expected}): one ${counts.one}, two ${counts.two}; ${refused} requests refused`);
    assert.ok(refused > 20, 'the senders offered more than the quota (else this test measures nothing)');
    assert.ok(
      Math.abs(admitted - expected) <= expected * 0.1,
      `admitted ${admitted} samples in 6 s across both, quota ${expected} (one ${counts.one}, two ${counts.two})`,
    );
    const [s1, s2] = [await share(one), await share(two)];
    assert.ok(Math.abs(s1 + s2 - 1) < 0.05, `shares ${s1} + ${s2} make the whole rate`);
    assert.ok(s1 > s2 * 1.5, `the busier instance has the larger share (${s1} vs ${s2})`);
  });

  test('storage stops mid-run: HA and quota writes keep flowing, each answered within STATE_TIMEOUT', async () => {
    await azurite.stop();
    let t = Date.now() - 20_000;
    for (let i = 0; i < 6; i++) {
      t += 1000;
      const relay = i % 2 ? one : two;
      const [b, fresh, metered] = await Promise.all([
        post(relay, scrape('b', t)),
        post(relay, scrape('x', t, `new-${i}`)),
        post(relay, scrape('m', t, 'metered'), METERED_KEY),
      ]);
      assert.equal(b.status, 204, 'the elected replica keeps going');
      assert.equal(fresh.status, 204, 'an unknown cluster is accepted without storage (fail open)');
      assert.ok(metered.status === 204 || metered.status === 429, `quota still decided locally: ${metered.status}`);
      for (const r of [b, fresh, metered]) assert.ok(r.ms < 2500, `answered in ${r.ms} ms`);
      await sleep(300);
    }
    const logs = one.output() + two.output();
    assert.match(logs, /HA dedup: shared state unreachable/);
    assert.match(logs, /tenant quotas: shared state unreachable; keeping this instance's last share/);
    assert.doesNotMatch(logs, /AccountKey|Eby8vdM02/, 'the storage key is never logged');
  });
});
