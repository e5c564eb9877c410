// Setting loaders both components use (the relay's shared/relay/config.ts and the
// forwarder's local-proxy/config.ts). Each records problems instead of throwing, so
// start-up fails once with a ConfigError listing everything to set.

import { nativeStatus } from '../remote-write/native';
import type { SeriesLimits } from '../remote-write/validate';
import { type RelabelRule, RelabelConfigError, loadRelabelFile } from '../relabel/config';
import { ConfigProblem, parsePositiveInt, parseSize } from './parse';
import { type Env, settingValue } from './settings';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export interface SizeLimits {
  maxBodyBytes: number;
  maxDecodedBytes: number;
  maxUpstreamBytes: number;
}

/** Reads a setting through a parser, recording a problem (and returning the default) on failure. */
export function parsed<T>(env: Env, name: string, parse: (raw: string) => T, problems: string[]): T {
  const raw = settingValue(env, name);
  if (raw === undefined) throw new Error(`setting ${name} has no default; read it with settingValue`);
  try {
    return parse(raw);
  } catch (err) {
    if (!(err instanceof ConfigProblem)) throw err;
    problems.push(`${name}: ${err.message}`);
    return parse(settingValueDefault(name));
  }
}

function settingValueDefault(name: string): string {
  return settingValue({}, name)!;
}

export function loadSeriesLimits(env: Env, problems: string[]): SeriesLimits {
  return {
    maxLabelsPerSeries: parsed(env, 'MAX_LABELS_PER_SERIES', parsePositiveInt, problems),
    maxLabelNameLength: parsed(env, 'MAX_LABEL_NAME_LENGTH', parsePositiveInt, problems),
    maxLabelValueLength: parsed(env, 'MAX_LABEL_VALUE_LENGTH', parsePositiveInt, problems),
    maxMetricNameLength: parsed(env, 'MAX_METRIC_NAME_LENGTH', parsePositiveInt, problems),
  };
}

export function loadSizeLimits(env: Env, problems: string[]): SizeLimits {
  return {
    maxBodyBytes: parsed(env, 'MAX_BODY_BYTES', parseSize, problems),
    maxDecodedBytes: parsed(env, 'MAX_DECODED_BYTES', parseSize, problems),
    maxUpstreamBytes: parsed(env, 'MAX_UPSTREAM_BYTES', parseSize, problems),
  };
}

/** NATIVE_FAST_PATH: whether to use the native fast path (false: JS only); `required` without it is a start-up error. */
export function loadNativeFastPath(env: Env, problems: string[]): boolean {
  const raw = (settingValue(env, 'NATIVE_FAST_PATH') ?? 'auto').toLowerCase();
  if (raw === 'off') return false;
  if (raw === 'required') {
    const native = nativeStatus();
    if (!native.loaded)
      problems.push(
        `NATIVE_FAST_PATH=required but the native module did not load (${native.reason}): run \`npm ci\` (or \`npx node-gyp rebuild\`) where a C compiler and Node's headers are installed, or set NATIVE_FAST_PATH=auto`,
      );
    return true;
  }
  if (raw !== 'auto') problems.push(`NATIVE_FAST_PATH must be auto, off or required, not "${raw}"`);
  return true;
}

/** For health output and the start-up line: whether requests can take the native fast path. */
export function describeNative(enabled: boolean): string {
  if (!enabled) return 'off';
  const native = nativeStatus();
  return native.loaded ? 'on' : 'not built (JS path only)';
}

/** RELABEL_CONFIG_FILE's rules; undefined when unset or empty (the no-rules path costs nothing). */
export function loadRelabelRules(env: Env, problems: string[]): RelabelRule[] | undefined {
  const file = settingValue(env, 'RELABEL_CONFIG_FILE');
  if (file === undefined) return undefined;
  try {
    const rules = loadRelabelFile(file, 'RELABEL_CONFIG_FILE');
    return rules.length > 0 ? rules : undefined;
  } catch (err) {
    if (!(err instanceof RelabelConfigError)) throw err;
    problems.push(err.message);
    return undefined;
  }
}
