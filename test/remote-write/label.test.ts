// The one Label reader behind validation and the rewrite, on the shapes the hot loops
// hand it: fields out of order, repeated (the last one wins), unknown fields, long
// lengths; and what validation makes of a replaced name that is not UTF-8.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NAME_END, NAME_START, SUPERSEDED_BAD, VALUE_END, VALUE_START, labelSpan, readLabelFields } from '../../shared/remote-write/label';
import { rewriteLabels } from '../../shared/remote-write/rewrite';
import { AZURE_MONITOR_LIMITS, validateWriteRequest } from '../../shared/remote-write/validate';
import { WireError } from '../../shared/remote-write/wire';
import { rawLabel, rawLen, rawSeries, rawVarintField } from '../../dev/kit/random-write-request';

function read(label: Buffer): { name: string; value: string; supersededBad: boolean } {
  const span = labelSpan();
  readLabelFields(label, 0, label.length, span);
  return {
    name: label.toString('utf8', span[NAME_START], span[NAME_END]),
    value: label.toString('utf8', span[VALUE_START], span[VALUE_END]),
    supersededBad: span[SUPERSEDED_BAD] !== 0,
  };
}

describe('Label reader', () => {
  it('reads value before name, unknown fields, repeated fields (last wins) and two-byte lengths', () => {
    const long = 'v'.repeat(200);
    assert.deepEqual(read(Buffer.concat([rawLen(2, 'val'), rawLen(1, 'job')])), { name: 'job', value: 'val', supersededBad: false });
    assert.deepEqual(read(Buffer.concat([rawLen(1, 'job'), rawVarintField(7, 300), rawLen(2, 'x')])), { name: 'job', value: 'x', supersededBad: false });
    assert.deepEqual(read(Buffer.concat([rawLen(1, 'old'), rawLen(2, 'x'), rawLen(1, 'new')])), { name: 'new', value: 'x', supersededBad: false });
    assert.deepEqual(read(Buffer.concat([rawLen(1, 'zone'), rawLen(2, long)])), { name: 'zone', value: long, supersededBad: false });
    assert.deepEqual(read(Buffer.alloc(0)), { name: '', value: '', supersededBad: false });
  });

  it('flags a replaced name that is not UTF-8, and validation refuses it with a reason', () => {
    const bad = Buffer.concat([rawLen(1, Buffer.from([0xff, 0xfe])), rawLen(1, 'job'), rawLen(2, 'x')]);
    assert.equal(read(bad).supersededBad, true);
    const req = rawSeries(rawLabel('__name__', 'up'), rawLen(1, bad));
    assert.throws(() => validateWriteRequest(req, AZURE_MONITOR_LIMITS), /a label name or value repeated within one Label is not valid UTF-8: up\{/);
  });

  it('throws WireError on a truncated field or a known field with the wrong wire type', () => {
    assert.throws(() => readLabelFields(Buffer.from([0x0a, 0x05, 0x61]), 0, 3, labelSpan()), WireError);
    assert.throws(() => readLabelFields(Buffer.from([0x08, 0x01]), 0, 2, labelSpan()), WireError);
  });

  it('the rewrite reads non-canonical labels as validation does: sorted by the name that won', () => {
    const req = rawSeries(
      rawLen(1, Buffer.concat([rawLen(2, 'b'), rawLen(1, 'zone')])),
      rawLen(1, Buffer.concat([rawLen(1, 'ignored'), rawLen(1, '__name__'), rawLen(2, 'up')])),
    );
    const scan = validateWriteRequest(req, AZURE_MONITOR_LIMITS, 'c');
    assert.equal(scan.unsorted, 1);
    const out = rewriteLabels(req, { cluster: 'c' });
    const text = out.toString('latin1');
    assert.ok(text.indexOf('__name__') < text.indexOf('cluster') && text.indexOf('cluster') < text.indexOf('zone'), text);
  });
});
