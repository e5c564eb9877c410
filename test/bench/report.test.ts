// The bench report renders from partial results (a target missing from a case, no
// forwarder, no vmagent) without throwing, and judges the targets from the ratios.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CaseResult } from '../../bench/compare';
import { payloadSet } from '../../bench/lib/payloads';
import { BARE, type RunReport, ratio, renderReport } from '../../bench/report';

function result(target: string, caseName: string, us: number): CaseResult {
  const rep = { cpuSeconds: us, samples: 1e6, requests: 500, wallSeconds: 3, deliveredSeconds: 3.2, usPerSample: us, rss: 100 * 2 ** 20 };
  return { target, caseName, reps: [rep, rep, rep, rep, rep], medianUsPerSample: us, peakRss: 120 * 2 ** 20 };
}

function report(compare: CaseResult[], extra: Partial<RunReport> = {}): RunReport {
  const set = payloadSet('s', [{ body: Buffer.alloc(70), raw: Buffer.alloc(300), samples: 1 }]);
  return {
    facts: { cpuModel: 'cpu', cores: 2, memoryGiB: 24, node: 'v20', kernel: 'Linux', date: '2026-01-01T00:00:00Z', loadAverage: '0 0 0' },
    clkTck: 100,
    settings: { reps: 5, samples: 1e6, warmupSamples: 2e6, concurrency: 6, minSeconds: 0.2 },
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
    const md = renderReport(report([result('relay', 'pass-through', 1)], { vmagentNote: 'vmagent is not installed', forwarderNote: 'dist/local-proxy/main.js does not exist' }));
    assert.match(md, /not run: vmagent is not installed/);
    assert.match(md, /not measured: dist\/local-proxy\/main\.js does not exist/);
  });
});
