// Setting-value parsers: sizes, durations, positive integers and booleans, with the
// messages a user sees when a value is wrong.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigProblem, formatBytes, parseBool, parseDuration, parsePositiveDuration, parsePositiveInt, parseSize } from '../../shared/config/parse';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('parseSize', () => {
  it('takes plain bytes', () => {
    assert.equal(parseSize('33554432'), 32 * MiB);
    assert.equal(parseSize('1'), 1);
    assert.equal(parseSize('512b'), 512);
    assert.equal(parseSize(' 2048 '), 2048);
  });

  it('takes KiB, MiB and GiB in any case, with or without a space', () => {
    assert.equal(parseSize('32MiB'), 32 * MiB);
    assert.equal(parseSize('8KiB'), 8 * KiB);
    assert.equal(parseSize('2GiB'), 2 * GiB);
    assert.equal(parseSize('32mib'), 32 * MiB);
    assert.equal(parseSize('32 MiB'), 32 * MiB);
    assert.equal(parseSize('4KIB'), 4 * KiB);
  });

  it('takes decimals, rounding down to whole bytes', () => {
    assert.equal(parseSize('1.5GiB'), 1.5 * GiB);
    assert.equal(parseSize('0.5MiB'), 512 * KiB);
    assert.equal(parseSize('1.1KiB'), 1126); // 1126.4 → 1126
  });

  for (const bad of ['32MB', '32M', '32kb', '1TiB', 'lots', '', 'MiB', '-1MiB', '1,5MiB', '1e6', '32 MiB extra', '0x100']) {
    it(`rejects ${JSON.stringify(bad)} saying what a size looks like`, () => {
      assert.throws(
        () => parseSize(bad),
        (err: unknown) => err instanceof ConfigProblem && err.message.includes(`"${bad}"`) && /KiB, MiB or GiB/.test(err.message) && /32MiB/.test(err.message),
      );
    });
  }

  it('rejects a size of zero bytes (a zero limit would refuse every request)', () => {
    for (const zero of ['0', '0MiB', '0.0001KiB']) {
      assert.throws(() => parseSize(zero), ConfigProblem, zero);
    }
  });
});

describe('formatBytes', () => {
  it('prints whole units and falls back to bytes', () => {
    assert.equal(formatBytes(32 * MiB), '32MiB');
    assert.equal(formatBytes(2 * GiB), '2GiB');
    assert.equal(formatBytes(8 * KiB), '8KiB');
    assert.equal(formatBytes(1.5 * GiB), '1536MiB');
    assert.equal(formatBytes(1000), '1000');
  });

  it('round-trips through parseSize', () => {
    for (const n of [1, 1000, 8 * KiB, 1.5 * GiB, 32 * MiB + 1]) assert.equal(parseSize(formatBytes(n)), n);
  });
});

describe('parseDuration', () => {
  it('takes Prometheus-style durations and returns milliseconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration(' 20s '), 20_000);
  });

  it('adds up compound durations', () => {
    assert.equal(parseDuration('1h30m'), 90 * 60_000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('2h15m10s250ms'), 2 * 3_600_000 + 15 * 60_000 + 10_000 + 250);
  });

  it('does not read "ms" as minutes followed by seconds', () => {
    assert.equal(parseDuration('1ms'), 1);
    assert.equal(parseDuration('1m1s'), 61_000);
  });

  for (const bad of ['30', '', 's', '1.5s', '-5s', '30 s', '30sec', '2min', '1y', '1w', 'soon', '30S', '5m-1s']) {
    it(`rejects ${JSON.stringify(bad)} with an example of what to write`, () => {
      assert.throws(
        () => parseDuration(bad),
        (err: unknown) => err instanceof ConfigProblem && err.message.includes(`"${bad}"`) && /500ms, 30s, 2m, 1h30m/.test(err.message),
      );
    });
  }
});

describe('parsePositiveDuration', () => {
  it('takes what parseDuration takes', () => {
    assert.equal(parsePositiveDuration('1ms'), 1);
    assert.equal(parsePositiveDuration('1h30m'), 90 * 60_000);
  });

  it('rejects zero (a 0 ms timeout or log interval is a mistake) and non-durations', () => {
    for (const zero of ['0s', '0ms', '0h0m']) {
      assert.throws(
        () => parsePositiveDuration(zero),
        (err: unknown) => err instanceof ConfigProblem && /longer than zero/.test(err.message),
        zero,
      );
    }
    assert.throws(
      () => parsePositiveDuration('20'),
      (err: unknown) => err instanceof ConfigProblem && /not a duration/.test(err.message),
    );
  });

  it('parseDuration itself still accepts zero', () => {
    assert.equal(parseDuration('0s'), 0);
  });
});

describe('parsePositiveInt', () => {
  it('takes whole numbers above zero', () => {
    assert.equal(parsePositiveInt('63'), 63);
    assert.equal(parsePositiveInt('1'), 1);
    assert.equal(parsePositiveInt(' 511 '), 511);
  });

  for (const bad of ['0', '-1', '1.5', '12abc', 'abc', '', '1e3', '0x10']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parsePositiveInt(bad),
        (err: unknown) => err instanceof ConfigProblem && err.message.includes(`"${bad}"`) && /positive whole number/.test(err.message),
      );
    });
  }
});

describe('parseBool', () => {
  it('takes the usual spellings of true and false in any case', () => {
    for (const t of ['true', 'TRUE', 'True', '1', 'yes', 'on', ' true ']) assert.equal(parseBool(t), true, t);
    for (const f of ['false', 'FALSE', '0', 'no', 'off', 'Off']) assert.equal(parseBool(f), false, f);
  });

  for (const bad of ['', 'maybe', '2', 'y', 'enabled']) {
    it(`rejects ${JSON.stringify(bad)} saying to use true or false`, () => {
      assert.throws(
        () => parseBool(bad),
        (err: unknown) => err instanceof ConfigProblem && err.message.includes(`"${bad}"`) && /true or false/.test(err.message),
      );
    });
  }
});
