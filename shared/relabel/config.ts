// Prometheus's relabel_config list, as users write write_relabel_configs: parsed from
// YAML (or taken as already-parsed JSON from the tenant table), defaults applied, and
// checked as Prometheus's Config.Validate checks it. Every error names the rule (its
// index in the list, from 0) and the field, so start-up can say what to fix.

import { readFileSync } from 'node:fs';
import type * as Yaml from 'yaml';
import { type Re2, RegexSyntaxError, compileRe2 } from './regex';

export const ACTIONS = [
  'replace',
  'keep',
  'drop',
  'keepequal',
  'dropequal',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
] as const;
export type Action = (typeof ACTIONS)[number];

export interface RelabelRule {
  /** position in the list, from 0, for messages */
  index: number;
  /** how counters name the rule: its index, with a prefix saying which list (e.g. "tenant:2") */
  id: string;
  action: Action;
  sourceLabels: string[];
  separator: string;
  regex: Re2;
  /** true when regex was left at its default `(.*)` (Prometheus's replace fast path) */
  defaultRegex: boolean;
  /** hashmod; a bigint because Prometheus's is a uint64 */
  modulus: bigint;
  targetLabel: string;
  replacement: string;
}

export class RelabelConfigError extends Error {
  override readonly name = 'RelabelConfigError';
}

const DEFAULT_REGEX = '(.*)';
const DEFAULT_REPLACEMENT = '$1';
const DEFAULT_SEPARATOR = ';';
const FIELDS = new Set(['source_labels', 'separator', 'regex', 'modulus', 'target_label', 'replacement', 'action']);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
// Prometheus's relabelTarget: label-name characters and $1 / ${1} / $name references.
const TEMPLATE_TARGET = /^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$/;

export function isLabelName(s: string): boolean {
  return LABEL_NAME.test(s);
}

/** Reads and parses a YAML file holding a relabel_config list; `what` names it in errors. */
export function loadRelabelFile(path: string, what: string): RelabelRule[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RelabelConfigError(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseRelabelYaml(text, `${what} (${path})`);
}

/**
 * yaml is loaded on first use: only a forwarder or relay given rules needs its 72 modules
 * (a forwarder without rules starts about 1 MiB smaller, measured on Node 20).
 */
function parseYaml(text: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yaml = require('yaml') as typeof Yaml;
  return yaml.parse(text);
}

export function parseRelabelYaml(text: string, what: string): RelabelRule[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new RelabelConfigError(`${what}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  // an empty file is an empty list: no rules
  if (doc === null || doc === undefined) return [];
  return parseRelabelConfigs(doc, what);
}

/** Checks an already-parsed list (YAML or JSON) of relabel_config objects. */
export function parseRelabelConfigs(doc: unknown, what: string, idPrefix = ''): RelabelRule[] {
  if (!Array.isArray(doc)) {
    throw new RelabelConfigError(`${what}: must be a list of relabel_config rules (as under write_relabel_configs), got ${describe(doc)}`);
  }
  return doc.map((item, index) => parseRule(item, index, what, `${idPrefix}${index}`));
}

function parseRule(item: unknown, index: number, what: string, id: string): RelabelRule {
  const fail = (field: string, msg: string): never => {
    throw new RelabelConfigError(`${what}: rule ${index}, ${field}: ${msg}`);
  };
  if (typeof item !== 'object' || item === null || Array.isArray(item)) fail('rule', `must be a mapping of fields, got ${describe(item)}`);
  const obj = item as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!FIELDS.has(key)) fail(key, `unknown field (known: ${[...FIELDS].join(', ')})`);
  }
  const str = (field: string, dflt: string): string => {
    const v = obj[field];
    if (v === undefined || v === null) return dflt;
    // YAML reads a bare `regex: 200` as a number; Prometheus takes it as text
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v !== 'string') fail(field, `must be a string, got ${describe(v)}`);
    return v as string;
  };

  const actionText = str('action', 'replace');
  const action = actionText.toLowerCase() as Action;
  if (actionText === '') fail('action', 'cannot be empty');
  if (!ACTIONS.includes(action)) fail('action', `unknown action "${actionText}" (known: ${ACTIONS.join(', ')})`);

  let sourceLabels: string[] = [];
  const src = obj.source_labels;
  if (src !== undefined && src !== null) {
    if (!Array.isArray(src)) fail('source_labels', `must be a list of label names, got ${describe(src)}`);
    sourceLabels = (src as unknown[]).map((v, j) => {
      if (typeof v !== 'string' || !isLabelName(v)) fail(`source_labels[${j}]`, `${JSON.stringify(v)} is not a valid label name`);
      return v as string;
    });
  }
  const separator = str('separator', DEFAULT_SEPARATOR);
  const targetLabel = str('target_label', '');
  const replacement = str('replacement', DEFAULT_REPLACEMENT);
  const regexSource = str('regex', DEFAULT_REGEX);
  let regex: Re2;
  try {
    regex = compileRe2(regexSource);
  } catch (err) {
    if (err instanceof RegexSyntaxError) fail('regex', `${JSON.stringify(regexSource)}: ${err.message}`);
    throw err;
  }
  let modulus = 0n;
  const mod = obj.modulus;
  if (mod !== undefined && mod !== null) {
    const ok = (typeof mod === 'number' && Number.isSafeInteger(mod) && mod >= 0) || (typeof mod === 'string' && /^[0-9]+$/.test(mod));
    if (!ok) fail('modulus', `must be a whole number ≥ 0, got ${describe(mod)}`);
    modulus = BigInt(mod as number | string);
    if (modulus >= 1n << 64n) fail('modulus', 'must fit in 64 bits');
  }

  // Prometheus's Config.Validate, check for check
  if (action === 'hashmod' && modulus === 0n) fail('modulus', 'hashmod requires a non-zero modulus');
  if (['replace', 'hashmod', 'lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(action) && targetLabel === '') {
    fail('target_label', `the ${action} action requires target_label`);
  }
  if (action === 'replace' && targetLabel.includes('$') ? !TEMPLATE_TARGET.test(targetLabel) : action === 'replace' && !isLabelName(targetLabel)) {
    fail('target_label', `${JSON.stringify(targetLabel)} is not a valid label name (or $-template) for replace`);
  }
  if (['lowercase', 'uppercase', 'keepequal', 'dropequal', 'hashmod'].includes(action) && !isLabelName(targetLabel)) {
    fail('target_label', `${JSON.stringify(targetLabel)} is not a valid label name for ${action}`);
  }
  if (['lowercase', 'uppercase', 'keepequal', 'dropequal'].includes(action) && replacement !== DEFAULT_REPLACEMENT) {
    fail('replacement', `cannot be set for the ${action} action`);
  }
  if (action === 'labelmap' && !TEMPLATE_TARGET.test(replacement)) {
    fail('replacement', `${JSON.stringify(replacement)} is not a valid label name (or $-template) for labelmap`);
  }
  if (action === 'keepequal' || action === 'dropequal') {
    if (regexSource !== DEFAULT_REGEX) fail('regex', `the ${action} action takes only source_labels and target_label`);
    if (modulus !== 0n) fail('modulus', `the ${action} action takes only source_labels and target_label`);
    if (separator !== DEFAULT_SEPARATOR) fail('separator', `the ${action} action takes only source_labels and target_label`);
  }
  if (action === 'labeldrop' || action === 'labelkeep') {
    if (src !== undefined && src !== null) fail('source_labels', `the ${action} action takes only regex`);
    if (targetLabel !== '') fail('target_label', `the ${action} action takes only regex`);
    if (modulus !== 0n) fail('modulus', `the ${action} action takes only regex`);
    if (separator !== DEFAULT_SEPARATOR) fail('separator', `the ${action} action takes only regex`);
    if (replacement !== DEFAULT_REPLACEMENT) fail('replacement', `the ${action} action takes only regex`);
  }
  return { index, id, action, sourceLabels, separator, regex, defaultRegex: regexSource === DEFAULT_REGEX, modulus, targetLabel, replacement };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
