// The verdict cache must never change what the rules do: random rule sets (hashmod, rules
// reading several labels, labelmap, keep/drop, …) over random series that repeat from
// request to request, relabelled on the wire with a warm cache, with one so small it
// keeps starting over, and written in place, against a plain reference that decodes
// every series and runs the rules on it afresh. And a hash collision can never hand one
// series another's verdict.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, rawLabel, rawSample, rawSeries, sortLabels } from '../../dev/kit/random-write-request';
import { relabelWriteRequest } from '../../shared/relabel/apply';
import { KEEP, KEPT, REWRITTEN, type VerdictCache, createVerdictCache, findEntry, rememberVerdict } from '../../shared/relabel/cache';
import { type RelabelRule, parseRelabelYaml } from '../../shared/relabel/config';
import { createRelabelCounters } from '../../shared/relabel/counters';
import { relabel } from '../../shared/relabel/process';
import { decodeWriteRequest } from '../../shared/remote-write/model/decode';
import { encodeWriteRequest } from '../../shared/remote-write/model/encode';
import { type Label, type TimeSeries, type WriteRequest, numberToBits } from '../../shared/remote-write/model/types';

// Rules over a small label universe, so that they fire often and interact.
const RULE_POOL = [
  '{source_labels: [__name__], regex: "m_(1|3)", action: drop}',
  '{source_labels: [job], regex: "j[0-2]", action: keep}',
  '{source_labels: [instance], regex: "([^:]+):(\\\\d+)", target_label: host, replacement: "$1"}',
  '{source_labels: [job, env], separator: "/", regex: "(.*)/(.+)", target_label: je, replacement: "${2}-$1"}',
  '{source_labels: [pod, instance], target_label: shard, modulus: 4, action: hashmod}',
  '{source_labels: [shard], regex: "0", action: drop}',
  '{regex: "(a|b)", replacement: "copy_$1", action: labelmap}',
  '{regex: "pod|le", action: labeldrop}',
  '{regex: "__name__|job|instance|shard|host|je", action: labelkeep}',
  '{source_labels: [env], target_label: env, action: lowercase}',
  '{source_labels: [a, b], target_label: ab, action: uppercase}',
  '{source_labels: [a], target_label: b, action: keepequal}',
  '{source_labels: [a], target_label: b, action: dropequal}',
  '{source_labels: [env], regex: "Prod", target_label: env, replacement: ""}',
  '{source_labels: [missing], target_label: c, replacement: lit}',
  '{source_labels: [job], regex: "j3", target_label: "__name__", replacement: ""}',
  '{regex: "__name__", action: labeldrop}',
];

const VALUES: Record<string, readonly string[]> = {
  __name__: ['m_0', 'm_1', 'm_2', 'm_3', 'm_4'],
  job: ['j0', 'j1', 'j2', 'j3'],
  instance: ['h1:80', 'h2:9100', 'h3', ''],
  pod: ['p-a', 'p-b', 'p-c'],
  le: ['0.1', '+Inf'],
  env: ['Prod', 'dev', 'STAGE'],
  a: ['x', 'y', 'ß'],
  b: ['x', 'y'],
};

function randomRules(rng: Rng): RelabelRule[] {
  const n = rng.int(1, 5);
  const picked: string[] = [];
  // the labeldrop of __name__ empties everything: rarely
  for (let i = 0; i < n; i++) picked.push(rng.pick(rng.chance(0.05) ? RULE_POOL : RULE_POOL.slice(0, -1)));
  return parseRelabelYaml(`[${picked.join(', ')}]`, 'random rules');
}

function randomLabels(rng: Rng): Label[] {
  const labels: Label[] = [{ name: '__name__', value: rng.pick(VALUES.__name__) }];
  for (const name of Object.keys(VALUES)) if (name !== '__name__' && rng.chance(0.6)) labels.push({ name, value: rng.pick(VALUES[name]) });
  return sortLabels(labels);
}

function timeSeries(labels: Label[], rng: Rng): TimeSeries {
  const samples = [];
  for (let i = rng.int(0, 3); i > 0; i--) samples.push({ value: numberToBits(rng.float()), timestamp: BigInt(rng.int(0, 1e6)) });
  return { labels, samples, exemplars: [], histograms: [] };
}

/** What the rules make of a request, series by series from scratch: the expected request and drops per rule. */
function reference(req: WriteRequest, rules: readonly RelabelRule[]): { req: WriteRequest; drops: number[] } {
  const drops = new Array<number>(rules.length + 1).fill(0);
  const timeseries: TimeSeries[] = [];
  for (const ts of req.timeseries) {
    const before = ts.labels.filter((l) => l.value !== '');
    const labels = new Map(before.map((l) => [l.name, l.value]));
    const by = relabel(labels, rules);
    const slot = by >= 0 ? by : labels.size === 0 || !labels.has('__name__') ? rules.length : -1;
    if (slot >= 0) {
      drops[slot] += ts.samples.length + ts.histograms.length;
      continue;
    }
    const same = labels.size === before.length && before.every((l) => labels.get(l.name) === l.value);
    timeseries.push(same ? ts : { ...ts, labels: [...labels].map(([name, value]) => ({ name, value })).sort((x, y) => (x.name < y.name ? -1 : 1)) });
  }
  return { req: { ...req, timeseries }, drops };
}

describe('relabel verdict cache', () => {
  it('never changes the outcome: random rules and repeating series, warm and thrashing caches, against the rules run afresh', () => {
    const rng = new Rng(1313);
    let hits = 0;
    let clears = 0;
    for (let ruleSet = 0; ruleSet < 60; ruleSet++) {
      const rules = randomRules(rng);
      const pool: Label[][] = [];
      for (let i = 0; i < 40; i++) pool.push(randomLabels(rng));
      const warm = createRelabelCounters(rules);
      const tiny = createRelabelCounters(rules, createVerdictCache(3, 600));
      const inPlace = createRelabelCounters(rules);
      const expectedDrops = new Array<number>(rules.length + 1).fill(0);
      for (let request = 0; request < 12; request++) {
        const req: WriteRequest = { timeseries: [], metadata: [] };
        for (let i = rng.int(0, 30); i > 0; i--) req.timeseries.push(timeSeries(rng.pick(pool), rng));
        const raw = encodeWriteRequest(req);
        const want = reference(req, rules);
        want.drops.forEach((d, i) => (expectedDrops[i] += d));
        for (const counters of [warm, tiny, inPlace]) {
          const entriesBefore = counters.cache.entries;
          // in place: the result written over a copy the call may spoil
          const out = counters === inPlace ? relabelWriteRequest(Buffer.from(raw), counters, true) : relabelWriteRequest(raw, counters);
          assert.deepEqual(decodeWriteRequest(out.raw), want.req, `rule set ${ruleSet}, request ${request}`);
          assert.equal(out.series, want.req.timeseries.length);
          if (out.raw.equals(raw) && counters !== inPlace) assert.equal(out.raw, raw, 'an unchanged request is the input itself');
          if (counters === tiny && counters.cache.entries < entriesBefore) clears++;
        }
      }
      assert.deepEqual(warm.drops, expectedDrops);
      assert.deepEqual(tiny.drops, expectedDrops);
      assert.deepEqual(inPlace.drops, expectedDrops);
      assert.ok(tiny.cache.entries <= 3 && tiny.cache.bytes <= 600);
      hits += warm.cache.hits;
    }
    assert.ok(hits > 1000, `the warm caches were used (${hits} hits)`);
    assert.ok(clears > 50, `the tiny caches started over (${clears} times)`);
  });

  it('a series whose labels are not one run of fields (a label after the samples) gets the same verdict as in order', () => {
    const rules = parseRelabelYaml('[{source_labels: [job], regex: "j(.*)", target_label: n, replacement: "$1"}, {regex: pod, action: labeldrop}]', 't');
    const counters = createRelabelCounters(rules);
    for (let i = 0; i < 2; i++) {
      for (const job of ['j7', 'j8']) {
        // the same first label field, the rest after the sample
        const split = rawSeries(rawLabel('__name__', 'up'), rawSample(numberToBits(1), 5n), rawLabel('job', job), rawLabel('pod', 'p'));
        const got = decodeWriteRequest(relabelWriteRequest(split, counters).raw).timeseries[0];
        assert.deepEqual(got.labels, [
          { name: '__name__', value: 'up' },
          { name: 'job', value: job },
          { name: 'n', value: job.slice(1) },
        ]);
        assert.deepEqual(got.samples, [{ value: numberToBits(1), timestamp: 5n }]);
      }
    }
  });

  it('two label sets with the same hash keep their own verdicts', () => {
    const cache = createVerdictCache();
    const view = (x: Buffer): DataView => new DataView(x.buffer, x.byteOffset, x.length);
    /** what the cache holds for x[s, e): a drop slot, 'kept', the rewritten labels as text, or 'none' */
    const verdict = (c: VerdictCache, x: Buffer, s: number, e: number): number | string => {
      const i = findEntry(c, x, view(x), s, e);
      if (i < 0) return 'none';
      const at = c.start[i] + c.length[i];
      return c.kind[i] === KEPT ? 'kept' : c.kind[i] === REWRITTEN ? c.arena.toString('utf8', at, at + c.rewritten[i]) : c.kind[i];
    };
    const a = Buffer.from('labels of series a');
    const b = Buffer.from('labels of series b');
    const within = Buffer.concat([Buffer.from('xx'), a, Buffer.from('y')]);
    rememberVerdict(cache, a, view(a), 0, a.length, 2);
    rememberVerdict(cache, b, view(b), 0, b.length, Buffer.from('new labels'));
    rememberVerdict(cache, within, view(within), 0, within.length, KEEP);
    // as if all three hashes were the same: each one's key leads to one chain of all three
    for (const key of [...cache.map.keys()]) cache.map.set(key, 2);
    cache.next.set([-1, 0, 1]);
    for (const last of [-1, 0, 1, 2]) {
      // whatever the previous lookup found (the entry after it is tried first)
      const after = (x: Buffer, s: number, e: number): number | string => {
        cache.last = last;
        return verdict(cache, x, s, e);
      };
      assert.equal(after(a, 0, a.length), 2);
      assert.equal(after(b, 0, b.length), 'new labels');
      assert.equal(after(within, 0, within.length), 'kept');
      // a prefix is not a; a's bytes elsewhere in a bigger buffer are
      assert.equal(after(a, 0, a.length - 1), 'none');
      assert.equal(after(within, 2, 2 + a.length), 2);
    }
  });

  it('stays within its bounds: starts over when full, never keeps a label set bigger than all of it', () => {
    const cache = createVerdictCache(4, 100);
    const view = (x: Buffer): DataView => new DataView(x.buffer, x.byteOffset, x.length);
    const sets = ['a', 'b', 'c', 'd', 'e'].map((x) => Buffer.from(x.repeat(10)));
    for (const x of sets) rememberVerdict(cache, x, view(x), 0, x.length, Buffer.alloc(5, x));
    assert.deepEqual({ entries: cache.entries, bytes: cache.bytes }, { entries: 1, bytes: 15 }); // the fifth started it over
    assert.ok(findEntry(cache, sets[4], view(sets[4]), 0, 10) >= 0);
    assert.equal(findEntry(cache, sets[0], view(sets[0]), 0, 10), -1);
    const big = Buffer.alloc(101, 'z');
    assert.equal(rememberVerdict(cache, big, view(big), 0, big.length, KEEP), -1);
    assert.equal(cache.entries, 1);
    const fill = Buffer.alloc(80, 'y');
    rememberVerdict(cache, fill, view(fill), 0, fill.length, KEEP); // 15 + 80: fits
    rememberVerdict(cache, sets[1], view(sets[1]), 0, 10, KEEP); // 95 + 10: over 100
    assert.deepEqual({ entries: cache.entries, bytes: cache.bytes }, { entries: 1, bytes: 10 });
  });
});
