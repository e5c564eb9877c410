// Prometheus compiles relabel regexes with Go's RE2 syntax, fully anchored. JavaScript's
// RegExp is a different dialect: most of what users write means the same in both, some
// of it means something else (`.`, `\s`, `\w` under /i, escapes of punctuation), and some
// exists in only one (lookaround and backreferences are JS-only; `\z`, `\Q…\E`, POSIX
// classes, `\pL`, inline flags are RE2-only). This module translates the common subset
// into an equivalent JS pattern and refuses the rest with a sentence naming the construct,
// so a rule never silently matches differently than it does in Prometheus.

export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

/** A compiled rule regex: anchored, with RE2's meaning. */
export interface Re2 {
  /** the pattern as the user wrote it */
  source: string;
  re: RegExp;
  /** capture group names, for `${name}` in templates */
  groupNames: ReadonlySet<string>;
}

// Punctuation RE2 lets you escape; under JS's u flag only these may be escaped outside a class.
const JS_SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
const GO_MAX_REPEAT = 1000;

/** Compiles an RE2 pattern as Prometheus does (`^(?:pattern)$`), or throws RegexSyntaxError. */
export function compileRe2(source: string): Re2 {
  let flags = 'u';
  let i = 0;
  let dotAll = false;
  // A leading (?i), (?s) or (?is) applies to the whole pattern: the JS flags say the same.
  const lead = /^\(\?([is]+)\)/.exec(source);
  if (lead) {
    if (lead[1].includes('i')) flags += 'i';
    if (lead[1].includes('s')) dotAll = true;
    i = lead[0].length;
  }
  const groupNames = new Set<string>();
  let out = '';
  let inClass = false;
  while (i < source.length) {
    const ch = source[i];
    if (ch === '\\') {
      const [js, len] = translateEscape(source, i, inClass);
      out += js;
      i += len;
      continue;
    }
    if (inClass) {
      if (ch === '[' && source[i + 1] === ':') refuse('POSIX character classes like [[:alpha:]]', 'write the range out, e.g. [a-zA-Z]');
      if (ch === ']') inClass = false;
      out += ch;
      i++;
      continue;
    }
    if (ch === '[') {
      inClass = true;
      out += ch;
      i++;
      if (source[i] === '^') {
        out += '^';
        i++;
      }
      // a ']' first in a class is a literal in RE2, the end of an empty class in JS
      if (source[i] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (ch === '.') {
      // RE2's `.` is any character but \n (all with (?s)); JS's also stops at \r, \u2028, \u2029
      out += dotAll ? '[^]' : '[^\\n]';
      i++;
      continue;
    }
    if (ch === '(' && source[i + 1] === '?') {
      const rest = source.slice(i + 2);
      if (rest.startsWith(':')) {
        out += '(?:';
        i += 3;
        continue;
      }
      const named = /^P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
      if (named) {
        groupNames.add(named[1]);
        out += `(?<${named[1]}>`;
        i += 2 + named[0].length;
        continue;
      }
      if (/^(=|!|<=|<!)/.test(rest)) refuse('lookaround ((?=, (?!, (?<=, (?<!)', 'it is not RE2 syntax; Prometheus refuses it too');
      refuse(`the inline flag group "(?${rest.slice(0, 4)}…"`, 'only a leading (?i), (?s) or (?is) is accepted');
    }
    if (ch === '{') {
      const rep = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
      if (!rep) refuse('a "{" that does not start a repetition {n}, {n,} or {n,m}', 'escape it as \\{');
      if (Number(rep[1]) > GO_MAX_REPEAT || (rep[3] !== undefined && rep[3] !== '' && Number(rep[3]) > GO_MAX_REPEAT)) {
        refuse(`the repetition ${rep[0]}`, `RE2 allows at most ${GO_MAX_REPEAT}`);
      }
      out += rep[0];
      i += rep[0].length;
      continue;
    }
    if (ch === '}') refuse('a lone "}"', 'escape it as \\}');
    out += ch;
    i++;
  }
  if (inClass) throw new RegexSyntaxError('missing closing ] of a character class');
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${out})$`, flags);
  } catch (err) {
    throw new RegexSyntaxError((err as Error).message.replace(/^Invalid regular expression: /, ''));
  }
  return { source, re, groupNames };
}

function refuse(what: string, hint: string): never {
  throw new RegexSyntaxError(`${what} is not accepted: ${hint}`);
}

/** One backslash escape at source[i]: its JS spelling with RE2's meaning, and its length. */
function translateEscape(source: string, i: number, inClass: boolean): [string, number] {
  const c = source[i + 1];
  if (c === undefined) throw new RegexSyntaxError('trailing backslash');
  switch (c) {
    // RE2's classes are ASCII; JS's \s also takes \v and Unicode spaces, so spell it out
    case 's':
      return [inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]', 2];
    case 'S':
      if (inClass) refuse('\\S inside a character class', 'use a negated class instead');
      return ['[^\\t\\n\\f\\r ]', 2];
    case 'd':
    case 'D':
    case 'w':
    case 'W':
      return [`\\${c}`, 2];
    case 'b':
    case 'B':
      if (inClass) refuse(`\\${c} inside a character class`, 'RE2 does not accept it there');
      return [`\\${c}`, 2];
    case 'A':
      if (inClass) refuse('\\A inside a character class', 'RE2 does not accept it there');
      return ['^', 2];
    case 'z':
      if (inClass) refuse('\\z inside a character class', 'RE2 does not accept it there');
      return ['$', 2];
    case 't':
    case 'n':
    case 'r':
    case 'f':
    case 'v':
      return [`\\${c}`, 2];
    case 'x': {
      const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(source.slice(i + 2));
      if (braced) return [`\\u{${braced[1]}}`, 2 + braced[0].length];
      const two = /^[0-9A-Fa-f]{2}/.exec(source.slice(i + 2));
      if (two) return [`\\x${two[0]}`, 4];
      throw new RegexSyntaxError('\\x must be followed by two hex digits or {hex}');
    }
    case 'p':
    case 'P':
      return refuse(`the Unicode class \\${c}`, 'its names differ between RE2 and JavaScript; write the characters out');
    case 'Q':
      return refuse('\\Q…\\E quoting', 'escape each special character with a backslash');
    case 'C':
      return refuse('\\C (any byte)', 'JavaScript matches characters, not bytes');
    case 'a':
      return ['\\x07', 2];
  }
  if (c >= '0' && c <= '9') {
    refuse(`\\${c}`, 'RE2 reads it as an octal escape and JavaScript as a backreference; use \\x{…}');
  }
  if (/[!-/:-@[-`{-~]/.test(c)) {
    // RE2 lets any ASCII punctuation be escaped; JS (u flag) only its syntax characters
    if (JS_SYNTAX.has(c) || (inClass && c === '-')) return [`\\${c}`, 2];
    return [c, 2];
  }
  return refuse(`the escape \\${c}`, 'RE2 does not define it');
}

/** Prometheus's `regex.MatchString` on an anchored pattern. */
export function fullMatch(r: Re2, s: string): boolean {
  r.re.lastIndex = 0;
  return r.re.test(s);
}

/**
 * Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}`; `$$` is a literal `$`; a `$` not
 * followed by a name is kept as written; a missing group expands to "". `$name` takes
 * the longest run of letters, digits and `_`, so `$1x` is the (absent) group "1x".
 */
export function expandTemplate(template: string, match: RegExpExecArray): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const ch = template[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = template[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    let name: string | undefined;
    let len = 0;
    if (next === '{') {
      const m = /^\{([A-Za-z0-9_]+)\}/.exec(template.slice(i + 1));
      if (m) {
        name = m[1];
        len = 1 + m[0].length;
      }
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (m) {
        name = m[0];
        len = 1 + m[0].length;
      }
    }
    if (name === undefined) {
      out += '$';
      i++;
      continue;
    }
    out += groupValue(match, name);
    i += len;
  }
  return out;
}

function groupValue(match: RegExpExecArray, name: string): string {
  if (/^[0-9]+$/.test(name)) {
    const n = Number(name);
    return n < match.length ? (match[n] ?? '') : '';
  }
  return match.groups?.[name] ?? '';
}
