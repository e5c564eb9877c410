// .funcignore decides what `func azure functionapp publish` uploads. It is read with
// gitignore rules; this holds the subset our file uses (names and `*` globs, anchored when
// they hold a slash, a trailing slash for folders only) and refuses the rest (`!`, `**`,
// `?`, `[…]`) rather than read it differently from Core Tools.

export type Ignored = (relPath: string, isDir: boolean) => boolean;

interface Rule {
  re: RegExp;
  anchored: boolean;
  dirOnly: boolean;
}

function rule(line: string): Rule {
  if (/[!?[\]]|\*\*/.test(line)) throw new Error(`.funcignore pattern "${line}" is outside the subset the test reads`);
  const dirOnly = line.endsWith('/');
  const body = line.replace(/\/$/, '');
  const anchored = body.includes('/');
  const glob = body
    .replace(/^\//, '')
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*');
  return { re: new RegExp(`^${glob}$`), anchored, dirOnly };
}

/** A predicate for paths relative to the repository root, '/'-separated. */
export function funcignore(text: string): Ignored {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map(rule);
  return (relPath, isDir) =>
    rules.some((r) => (!r.dirOnly || isDir) && (r.anchored ? r.re.test(relPath) : r.re.test(relPath.slice(relPath.lastIndexOf('/') + 1))));
}
