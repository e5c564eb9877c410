// With relabel rules (or series limits) the native side works around the JS rules: it
// decompresses into memory reused from request to request, then checks and compresses what
// the rules left (shared/intake/admit.ts, native scanRaw/decodeInto). That must never change
// an answer: every request here is admitted by an intake with the native module and one
// without (each with its own verdict cache of the same rules), and the two must agree on
// the outcome, the counts and the bytes sent. The native side's answers are kept until the
// end and checked again, so a block that still viewed the reused memory would show.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syntheticPayloads } from '../../bench/lib/payloads';
import { TYPICAL_RULES } from '../../bench/relabel';
import { REMOTE_WRITE_HEADERS } from '../../dev/kit/relay-harness';
import { Rng, randomWriteRequest } from '../../dev/kit/random-write-request';
import { costControl } from '../../shared/cost/cost-control';
import { type Admission, type Intake, admitWrite, blockOf, createIntake } from '../../shared/intake/admit';
import { parseRelabelYaml } from '../../shared/relabel/config';
import { createRelabelCounters } from '../../shared/relabel/counters';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { nativeStatus } from '../../shared/remote-write/native';
import { compress, decompress } from '../../shared/remote-write/snappy';
import { AZURE_MONITOR_LIMITS, type ForeignClusterPolicy } from '../../shared/remote-write/validate';
import { plainRequest } from '../helpers/native-cases';

const status = nativeStatus();
// CI builds the module, so there the tests must run
const skip = !status.loaded && process.env.CI !== 'true' ? `native fast path not built here (${status.reason})` : false;

const RULE_SETS = [
  TYPICAL_RULES,
  // changes nothing the bench sends: requests go on as the sender's bytes
  '- {source_labels: [__name__], regex: "never_.*", action: drop}',
  // removes the cluster label (it is then added again), or forges another one
  '- {regex: "cluster|env", action: labeldrop}',
  '- {source_labels: [job], regex: "(.+)", target_label: cluster, replacement: "c-$1"}',
  // a value off the native path's shape (not ASCII): the JS path decides
  '- {source_labels: [__name__], regex: "(.*)", target_label: note, replacement: "größe"}',
  // a value over the label-value limit: a 400 naming the series, from either path
  `- {source_labels: [__name__], regex: "(.*)", target_label: long, replacement: "${'v'.repeat(AZURE_MONITOR_LIMITS.maxLabelValueLength + 1)}"}`,
];

const POLICIES: readonly [string | undefined, ForeignClusterPolicy][] = [
  [undefined, 'keep'],
  ['c1', 'keep'],
  ['c1', 'overwrite'],
  ['c1', 'reject'],
];

function intakeFor(rules: string, cluster: string | undefined, policy: ForeignClusterPolicy, nativeFastPath: boolean): Intake {
  return createIntake({
    limits: AZURE_MONITOR_LIMITS,
    maxBodyBytes: 64 << 20,
    maxBodyName: 'MAX_BODY_BYTES',
    maxDecodedBytes: 64 << 20,
    cluster,
    onForeignCluster: policy,
    cost: costControl(createRelabelCounters(parseRelabelYaml(rules, 'test rules')), []),
    nativeFastPath,
  });
}

const admit = (intake: Intake, body: Buffer): Promise<Admission> =>
  admitWrite({ header: (name) => (REMOTE_WRITE_HEADERS as Record<string, string>)[name.toLowerCase()], body: () => Promise.resolve(body) }, intake);

/** What a sender and the workspace see of an admission. */
function seen(a: Admission): string {
  if (a.outcome === 'nothing') return 'nothing';
  if (a.outcome === 'rejected') return `${a.error.status} ${a.error.reason}: ${a.error.message}`;
  const sent = decompress(blockOf(a));
  assert.equal(sent.length, a.rawLength, 'rawLength is the length of what is sent');
  return `accepted ${a.samples} samples [${a.minTime}, ${a.maxTime}] foreign ${a.foreignCluster}: ${sent.toString('base64')}`;
}

describe('relabel rules around the native path', { skip }, () => {
  it('the bench payloads take the native path and agree with the JS path', async () => {
    for (const withCluster of [true, false]) {
      const set = syntheticPayloads({ requests: 4, series: 500, withCluster });
      const leased: Buffer[] = [];
      const native = createIntake({ ...intakeFor(TYPICAL_RULES, 'bench-weu-1', 'keep', true), nativeFastPath: true, alloc: (n) => Buffer.alloc(n) });
      const js = intakeFor(TYPICAL_RULES, 'bench-weu-1', 'keep', false);
      for (let round = 0; round < 2; round++) {
        for (const p of set.payloads) {
          const a = await admit(native, p.body);
          assert.equal(seen(a), seen(await admit(js, p.body)));
          assert.ok(a.outcome === 'accepted' && a.allocated, 'a relabelled bench request is checked and compressed natively');
          leased.push(a.allocated);
        }
      }
      assert.equal(new Set(leased).size, leased.length, 'each answer in a block of its own');
    }
  });

  it('never changes an answer: random requests, rule sets and cluster policies; answers kept stay intact', async () => {
    const kept: [Admission, string][] = [];
    let nativeBlocks = 0;
    for (const rules of RULE_SETS) {
      for (const [cluster, policy] of POLICIES) {
        const native = intakeFor(rules, cluster, policy, true);
        const js = intakeFor(rules, cluster, policy, false);
        for (let i = 0; i < 60; i++) {
          // the same requests twice (the second time from the verdict cache): of the native
          // path's shape (ASCII, sorted, samples only), or anything a sender may write
          const r = new Rng(1000 + (i % 30));
          const body = compress(i % 3 === 2 ? encodeWriteRequest(randomWriteRequest(r, { clusterProbability: 0.5 })) : plainRequest(r));
          const a = await admit(native, body);
          const expected = seen(await admit(js, body));
          assert.equal(seen(a), expected, `rules ${rules.slice(0, 40)}…, cluster ${cluster}/${policy}, request ${i}`);
          if (a.outcome === 'accepted') {
            kept.push([a, expected]);
            if (a.block && a.block !== body) nativeBlocks++;
          }
        }
      }
    }
    for (const [a, expected] of kept) assert.equal(seen(a), expected, 'an answer changed after later requests reused the decoder memory');
    assert.ok(nativeBlocks > 20, `only ${nativeBlocks} answers came from the native side: the test would not see it go wrong`);
  });
});
