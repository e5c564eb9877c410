// The bench report renders from partial results (a target missing from a case, no
// forwarder, no vmagent) without throwing, and judges the targets from the ratios.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CaseResult } from '../../bench/compare';
import type { DrainRep, DrainResult } from '../../bench/drain';
import { payloadSet } from '../../bench/lib/payloads';
import { BARE, INJECT_ONE, PASS_ONE, type RunReport, drainRatio, ratio, renderReport } from '../../bench/report';

function result(target: string, caseName: string, us: number): CaseResult {
  const rep = { cpuSeconds: us, samples: 1e6, requests: 500, wallSeconds: 3, deliveredSeconds: 3.2, usPerSample: us, rss: 100 * 2 ** 20 };
  return { target, caseName, reps: [rep, rep, rep, rep, rep], medianUsPerSample: us, peakRss: 120 * 2 ** 20 };
}

function report(compare: CaseResult[], extra: Partial<RunReport> = {}): RunReport {
  const set = payloadSet('s', [{ body: Buffer.alloc(70), raw: Buffer.alloc(300), samples: 1 }]);
  return {
    facts: { cpuModel: 'cpu', cores: 2, memoryGiB: 24, node: 'v20', kernel: 'Linux', date: '2026-01-01T00:00:00Z', loadAverage: '0 0 0' },
    clkTck: 100,
    settings: { reps: 5, samples: 1e6, warmupSamples: 2e6, processWarmupSamples: 8e6, concurrency: 6, minSeconds: 0.2 },
    sets: { fixtures: set, synthetic: set, syntheticName: '2 000 series × 10 labels' },
    codec: [],
    relayPath: [],
    compare,
    seconds: 1,
    ...extra,
  };
}

describe('bench report', () => {
  it('renders ratios and targets when the forwarder runs only the pass-through case', () => {
    const r = report([
      result('relay', 'pass-through', 1),
      result(BARE, 'pass-through', 0.8),
      result('forwarder', 'pass-through', 2.5),
      result('vmagent', 'pass-through', 2),
      result('relay', 'label injection', 2),
      result('vmagent', 'label injection', 2.5),
    ]);
    assert.equal(ratio(r, 'relay', 'pass-through'), 0.5);
    const md = renderReport(r);
    assert.match(md, /relay pass-through ≤ 0\.5× vmagent \| 0\.50× \| holds/);
    assert.match(md, /label injection ≤ 1\.0× vmagent \| 0\.80× \| holds/);
    assert.match(md, /forwarder ≤ 1\.0× vmagent \(pass-through payloads\) \| 1\.25× \| \*\*does not hold\*\*/);
  });

  it('says what was not measured and why', () => {
    const md = renderReport(
      report([result('relay', 'pass-through', 1)], { vmagentNote: 'vmagent is not installed', forwarderNote: 'dist/local-proxy/main.js does not exist' }),
    );
    assert.match(md, /not run: vmagent is not installed/);
    assert.match(md, /not measured: dist\/local-proxy\/main\.js does not exist/);
  });

  it('judges the drain and one-workspace targets of issue 11 and marks out-of-order delivery FAILED', () => {
    const drained = (target: 'forwarder' | 'vmagent', latencyMs: number, rate: number, us: number, outOfOrder: number, peakMiB = 100): DrainResult => {
      const rep: DrainRep = {
        samples: 3e6,
        seconds: 3e6 / rate,
        pushSeconds: 2,
        rate,
        cpuSeconds: us * 3,
        usPerSample: us,
        harnessUsPerSample: 2.5,
        peakRss: peakMiB * 2 ** 20,
        outOfOrder,
        upstreamCalls: 150,
        maxInFlight: 8,
      };
      return {
        target,
        latencyMs,
        reps: [rep, rep, rep],
        medianRate: rate,
        medianUsPerSample: us,
        medianHarnessUsPerSample: 2.5,
        peakRss: peakMiB * 2 ** 20,
        outOfOrder: outOfOrder * 3,
      };
    };
    const r = report([result('relay', PASS_ONE, 1.1), result('vmagent', PASS_ONE, 2), result('relay', INJECT_ONE, 1.5), result('vmagent', INJECT_ONE, 2)], {
      drainSettings: { samples: 3e6, reps: 3, latenciesMs: [50, 300], series: 2000 },
      drain: [
        drained('forwarder', 50, 900_000, 1, 0),
        drained('vmagent', 50, 200_000, 3, 500),
        drained('forwarder', 300, 390_000, 2, 7, 140),
        drained('vmagent', 300, 90_000, 3, 0),
      ],
    });
    assert.equal(drainRatio(r, 50, 'medianRate'), 4.5);
    const md = renderReport(r);
    assert.match(md, /drain rate at 50 ms ≥ 4× vmagent's \| 900 k samples\/s, 4\.50× vmagent's 200 k; at 4× \(800 k samples\/s\) [^|]+ \| met/);
    // the sink and senders spend 2.5 µs a sample on 2 cores: at 4× 200 k they take both; at 4× 90 k, 0.9
    assert.ok(md.includes('at 4× (800 k samples/s) the sink and senders alone would need 2.00 of the 2 cores: out of reach on this machine'), md);
    assert.ok(md.includes('at 4× (360 k samples/s) the sink and senders use 0.90 of 2 cores, leaving the forwarder 3.06 CPU-µs per sample'), md);
    // 4.3× vmagent, but under 400 000 samples/s
    assert.match(md, /drain rate at 300 ms ≥ 4× vmagent's and ≥ 400 k samples\/s \| 390 k samples\/s, 4\.33× vmagent's 90 k; [^|]+ \| \*\*not met\*\*/);
    assert.match(md, /CPU per sample while draining \(50 ms\) ≤ 0\.5× vmagent's \| 1\.00 µs, 0\.33× \| met/);
    assert.match(md, /CPU per sample while draining \(300 ms\) ≤ 0\.5× vmagent's \| 2\.00 µs, 0\.67× \| \*\*not met\*\*/);
    assert.match(md, /peak RSS while draining \(300 ms\) ≤ 128 MiB \| 140 MiB \(largest of 3\) \| \*\*not met\*\*/);
    assert.match(md, /every series in timestamp order \(50 ms\) \| 0 samples out of order in 3 drains \| met/);
    assert.match(md, /every series in timestamp order \(300 ms\) \| 21 samples out of order in 3 drains \| \*\*FAILED\*\*/);
    assert.match(md, /one workspace: pass-through ≤ 0\.6× vmagent \| 0\.55× \| met/);
    assert.match(md, /one workspace: label injection ≤ 0\.7× vmagent \| 0\.75× \| \*\*not met\*\*/);
  });

  it('says the drain was not measured when it did not run', () => {
    const md = renderReport(report([], { drainNote: 'neither the forwarder nor vmagent' }));
    assert.match(md, /not measured: neither the forwarder nor vmagent/);
  });
});
