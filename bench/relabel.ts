// The relabel case (issue 13): a typical rule set — drop metric families by a __name__
// regex, two labeldrops, one replace — given to our forwarder and relay
// (RELABEL_CONFIG_FILE) and to vmagent (-remoteWrite.urlRelabelConfig), side by side on the
// same payloads and sink. Each payload knows how many samples survive the rules (counted
// with our engine), so a target that dropped more or less than that fails the repetition.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { relabelWriteRequest } from '../shared/relabel/apply';
import { parseRelabelYaml } from '../shared/relabel/config';
import { createRelabelCounters } from '../shared/relabel/counters';
import { type PayloadSet, payloadSet } from './lib/payloads';

export const RELABEL = 'relabel (typical rules)';

/** Drops 2 of the synthetic payloads' 10 families (20 % of samples), two labels, rewrites one. */
export const TYPICAL_RULES = String.raw`- source_labels: [__name__]
  regex: go_.*|process_.*
  action: drop
- regex: endpoint
  action: labeldrop
- regex: service
  action: labeldrop
- source_labels: [instance]
  regex: ([^:]+):\d+
  target_label: instance
`;

/** Writes the rule file into `dir`; its path. */
export function writeTypicalRules(dir: string): string {
  const file = path.join(dir, 'relabel.yaml');
  fs.writeFileSync(file, TYPICAL_RULES);
  return file;
}

/** The same payloads, each knowing how many of its samples the rules let through. */
export function withRelabelledCounts(set: PayloadSet): PayloadSet {
  const rules = parseRelabelYaml(TYPICAL_RULES, 'bench rules');
  const payloads = set.payloads.map((p) => {
    const counters = createRelabelCounters(rules);
    const out = relabelWriteRequest(p.raw, counters);
    return { ...p, delivered: p.samples - out.droppedSamples };
  });
  return payloadSet(`${set.name}, typical relabel rules`, payloads);
}
