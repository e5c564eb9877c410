// The forwarder's intake without a process: what reaches the spool for each kind of
// request (a spool that records its appends), with the answers the sender sees.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compressSync } from 'snappy';
import { createWriteHandler } from '../../local-proxy/accept';
import { createMetrics } from '../../local-proxy/metrics';
import type { TimeRange } from '../../local-proxy/spool';
import { REMOTE_WRITE_HEADERS } from '../../dev/kit/relay-harness';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { AZURE_MONITOR_LIMITS } from '../../shared/remote-write/validate';
import { nativeStatus } from '../../shared/remote-write/native';
import { seriesHashes } from '../../shared/remote-write/partition';

interface Appended {
  block: Buffer;
  samples: number;
  times: TimeRange;
  hashes?: number[];
}

function handler(nativeFastPath: boolean): { write: ReturnType<typeof createWriteHandler>; appended: Appended[] } {
  const appended: Appended[] = [];
  const metrics = createMetrics({ spoolBytes: () => 0, spoolRecords: () => 0, spoolFsyncs: () => 0, laneBacklog: () => ({}) }, { defaultMetrics: false });
  const write = createWriteHandler(
    { sizes: { maxBodyBytes: 64 * 1024, maxDecodedBytes: 256 * 1024, maxUpstreamBytes: 1 << 20 }, limits: AZURE_MONITOR_LIMITS, cluster: 'c1', nativeFastPath },
    {
      spool: {
        append: async (block: Buffer, samples: number, times?: TimeRange, hashes?: Uint32Array) => {
          // a copy: the hashes are a view on memory the next request reuses
          appended.push({ block, samples, times: times ?? { minTime: NaN, maxTime: NaN }, ...(hashes ? { hashes: [...hashes] } : {}) });
        },
      },
      metrics,
      warnOnce: () => {},
      shuttingDown: () => false,
    },
  );
  return { write, appended };
}

const post = (body: Buffer) => ({ header: (name: string) => (REMOTE_WRITE_HEADERS as Record<string, string>)[name.toLowerCase()], body: async () => body });

const withCluster = compressSync(
  encodeWriteRequest({
    timeseries: [
      {
        labels: [
          { name: '__name__', value: 'up' },
          { name: 'cluster', value: 'c1' },
        ],
        samples: [
          { value: 0n, timestamp: 1_700_000_000_000n },
          { value: 0n, timestamp: 1_700_000_000_500n },
        ],
        exemplars: [],
        histograms: [],
      },
    ],
    metadata: [],
  }),
);

for (const native of [false, true]) {
  describe(`forwarder intake (native fast path ${native ? 'on when built' : 'off'})`, () => {
    it('a body that decompresses to nothing (an empty WriteRequest) is 204 and spools nothing, as the relay forwards nothing', async () => {
      const { write, appended } = handler(native);
      const a = await write(post(compressSync(Buffer.alloc(0))));
      assert.equal(a.status, 204, a.body);
      assert.equal(appended.length, 0);
    });

    it('an empty body is 204 and spools nothing', async () => {
      const { write, appended } = handler(native);
      assert.equal((await write(post(Buffer.alloc(0)))).status, 204);
      assert.equal(appended.length, 0);
    });

    it("a request with nothing to change is spooled as the sender's own bytes, with its samples and time range", async () => {
      const { write, appended } = handler(native);
      const a = await write(post(withCluster));
      assert.equal(a.status, 204, a.body);
      assert.equal(appended.length, 1);
      assert.equal(appended[0].block, withCluster);
      assert.equal(appended[0].samples, 2);
      assert.deepEqual(appended[0].times, { minTime: 1_700_000_000_000, maxTime: 1_700_000_000_500 });
    });

    it('the native scan hands the series hashes of the spooled block to the spool (lanes then route it without decompressing)', async () => {
      const { write, appended } = handler(native);
      const withoutCluster = compressSync(
        encodeWriteRequest({
          timeseries: ['a', 'b', 'c'].map((v) => ({
            labels: [
              { name: '__name__', value: 'up' },
              { name: 'job', value: v },
            ],
            samples: [{ value: 0n, timestamp: 1_700_000_000_000n }],
            exemplars: [],
            histograms: [],
          })),
          metadata: [],
        }),
      );
      for (const body of [withCluster, withoutCluster]) assert.equal((await write(post(body))).status, 204);
      if (!native || !nativeStatus().loaded) {
        assert.ok(
          appended.every((a) => a.hashes === undefined),
          'the JS path leaves them to the lanes',
        );
        return;
      }
      assert.deepEqual(appended[0].hashes, [...seriesHashes(withCluster)!]);
      assert.notEqual(appended[1].block, withoutCluster, 'the cluster label was added');
      assert.deepEqual(appended[1].hashes, [...seriesHashes(appended[1].block)!], 'hashes of the block spooled, with its cluster label');
    });

    it('a refused request answers its status with a one-line reason and spools nothing', async () => {
      const { write, appended } = handler(native);
      const a = await write(
        post(
          compressSync(
            encodeWriteRequest({
              timeseries: [{ labels: [{ name: 'job', value: 'x' }], samples: [{ value: 0n, timestamp: 1n }], exemplars: [], histograms: [] }],
              metadata: [],
            }),
          ),
        ),
      );
      assert.equal(a.status, 400);
      assert.match(a.body, /^series has no __name__ label: \{job="x"\}\n$/);
      assert.equal(appended.length, 0);
    });
  });
}
