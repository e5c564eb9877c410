// Applies relabel rules to one label set, with Prometheus's semantics (model/relabel
// relabel.go): a missing label reads as "", setting a label to "" deletes it, rules run
// in order and the first that drops the series ends the walk.

import { createHash } from 'node:crypto';
import { type RelabelRule, isLabelName } from './config';
import { expandTemplate, fullMatch } from './regex';

/** The working label set: name → value (never ""). */
export type LabelMap = Map<string, string>;

/** Index of the rule that dropped the series, or -1 when it is kept. Mutates `labels`. */
export function relabel(labels: LabelMap, rules: readonly RelabelRule[]): number {
  for (let i = 0; i < rules.length; i++) {
    if (!applyRule(rules[i], labels)) return i;
  }
  return -1;
}

function set(labels: LabelMap, name: string, value: string): void {
  if (value === '') labels.delete(name);
  else labels.set(name, value);
}

function sourceValue(rule: RelabelRule, labels: LabelMap): string {
  const src = rule.sourceLabels;
  if (src.length === 1) return labels.get(src[0]) ?? '';
  let val = '';
  for (let i = 0; i < src.length; i++) {
    if (i > 0) val += rule.separator;
    val += labels.get(src[i]) ?? '';
  }
  return val;
}

/** False when the rule drops the series. */
function applyRule(rule: RelabelRule, labels: LabelMap): boolean {
  switch (rule.action) {
    case 'drop':
      return !fullMatch(rule.regex, sourceValue(rule, labels));
    case 'keep':
      return fullMatch(rule.regex, sourceValue(rule, labels));
    case 'dropequal':
      return (labels.get(rule.targetLabel) ?? '') !== sourceValue(rule, labels);
    case 'keepequal':
      return (labels.get(rule.targetLabel) ?? '') === sourceValue(rule, labels);
    case 'replace':
      replace(rule, labels);
      return true;
    case 'lowercase':
      set(labels, rule.targetLabel, goToLower(sourceValue(rule, labels)));
      return true;
    case 'uppercase':
      set(labels, rule.targetLabel, goToUpper(sourceValue(rule, labels)));
      return true;
    case 'hashmod':
      set(labels, rule.targetLabel, hashMod(sourceValue(rule, labels), rule.modulus));
      return true;
    case 'labelmap':
      // over a snapshot: labels this rule adds are not themselves mapped
      for (const [name, value] of [...labels]) {
        const m = rule.regex.re.exec(name);
        if (m) set(labels, expandTemplate(rule.replacement, m), value);
      }
      return true;
    case 'labeldrop':
      for (const name of [...labels.keys()]) if (fullMatch(rule.regex, name)) labels.delete(name);
      return true;
    case 'labelkeep':
      for (const name of [...labels.keys()]) if (!fullMatch(rule.regex, name)) labels.delete(name);
      return true;
  }
}

function replace(rule: RelabelRule, labels: LabelMap): void {
  const val = sourceValue(rule, labels);
  // Prometheus's fast path: an empty input with the default regex sets the literal replacement
  if (val === '' && rule.defaultRegex && !rule.targetLabel.includes('$') && !rule.replacement.includes('$')) {
    set(labels, rule.targetLabel, rule.replacement);
    return;
  }
  rule.regex.re.lastIndex = 0;
  const m = rule.regex.re.exec(val);
  if (!m) return;
  const target = expandTemplate(rule.targetLabel, m);
  if (!isLabelName(target)) return;
  set(labels, target, expandTemplate(rule.replacement, m));
}

/** Prometheus: md5 of the value, the last 8 bytes as a big-endian uint64, mod modulus. */
export function hashMod(value: string, modulus: bigint): string {
  const digest = createHash('md5').update(value, 'utf8').digest();
  return (digest.readBigUInt64BE(8) % modulus).toString();
}

// Go's strings.ToLower/ToUpper map each character alone (simple case mapping); JS's
// String.prototype methods use full mappings ('ß' → 'SS', 'İ' → 'i̇'). A mapping that
// changes the length is Unicode's special casing, which Go does not apply: keep the char.
export function goToLower(s: string): string {
  // U+0130 is the one character whose simple lowercase (i) differs from its full one
  // eslint-disable-next-line no-control-regex -- all of ASCII, control characters included
  return /^[\x00-\x7f]*$/.test(s) ? s.toLowerCase() : mapChars(s, (c) => (c === '\u0130' ? 'i' : c.toLowerCase()));
}

export function goToUpper(s: string): string {
  // eslint-disable-next-line no-control-regex -- all of ASCII, control characters included
  return /^[\x00-\x7f]*$/.test(s) ? s.toUpperCase() : mapChars(s, (c) => c.toUpperCase());
}

function mapChars(s: string, f: (c: string) => string): string {
  let out = '';
  for (const c of s) {
    const m = f(c);
    out += [...m].length === 1 ? m : c;
  }
  return out;
}
