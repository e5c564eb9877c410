// A reader for the subset of Bicep that deploy/azure/ is written in. The Bicep CLI cannot be
// installed where these tests run, so this reads the real template instead of a JSON twin
// that could drift from it. It refuses whatever it does not know (single-line objects, `??`,
// lambdas, user types, imports…) with the file and line, rather than guess: a template that
// grows past the subset fails the test until the reader learns the new construct.
//
// What it does not do: type-check, resolve API versions or run Azure's validation. That is
// what `az deployment group what-if` / `az bicep build` are for (docs/deploy.md).

export type Expr =
  | { kind: 'string'; parts: ReadonlyArray<string | Expr> }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' }
  | { kind: 'ident'; name: string }
  | { kind: 'member'; object: Expr; name: string }
  | { kind: 'index'; object: Expr; index: Expr }
  | { kind: 'call'; name: string; args: readonly Expr[] }
  | { kind: 'unary'; op: '!' | '-'; operand: Expr }
  | { kind: 'binary'; op: '==' | '!=' | '&&' | '||'; left: Expr; right: Expr }
  | { kind: 'ternary'; test: Expr; then: Expr; else: Expr }
  | { kind: 'object'; entries: ReadonlyArray<{ key: Expr; value: Expr }> }
  | { kind: 'array'; items: readonly Expr[] }
  | { kind: 'for'; item: string; index: string | undefined; source: Expr; body: Expr }
  | { kind: 'if'; test: Expr; body: Expr };

export interface Decorator {
  name: string;
  args: readonly Expr[];
}

interface Common {
  name: string;
  decorators: readonly Decorator[];
  line: number;
}

export type Declaration =
  | (Common & { kind: 'param'; type: string | undefined; value: Expr | undefined })
  | (Common & { kind: 'var'; value: Expr })
  | (Common & { kind: 'resource'; type: string; existing: boolean; value: Expr })
  | (Common & { kind: 'module'; path: string; value: Expr })
  | (Common & { kind: 'output'; type: string; value: Expr })
  | (Common & { kind: 'targetScope'; value: Expr })
  | (Common & { kind: 'using'; path: string });

type Token =
  | { t: 'ident'; v: string; line: number }
  | { t: 'number'; v: number; line: number }
  | { t: 'string'; parts: ReadonlyArray<string | Expr>; line: number }
  | { t: 'punct'; v: string; line: number }
  | { t: 'newline'; line: number };

const PUNCT = ['==', '!=', '&&', '||', '{', '}', '[', ']', '(', ')', ',', ':', '.', '?', '!', '=', '@', '-'];
const ESCAPES: Record<string, string> = { "'": "'", '\\': '\\', n: '\n', r: '\r', t: '\t', $: '$' };

class BicepSyntaxError extends Error {
  override readonly name = 'BicepSyntaxError';
}

function tokenize(src: string, file: string, firstLine = 1): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = firstLine;
  const fail = (what: string): never => {
    throw new BicepSyntaxError(`${file}:${line}: ${what}`);
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      out.push({ t: 'newline', line });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) fail('unclosed /* comment');
      for (const ch of src.slice(i, end)) if (ch === '\n') line++;
      i = end + 2;
    } else if (src.startsWith("'''", i)) {
      fail("multi-line ''' strings are outside the subset this reader knows");
    } else if (c === "'") {
      const start = line;
      const { parts, next } = readString(src, i + 1, file, line);
      for (const ch of src.slice(i, next)) if (ch === '\n') line++;
      out.push({ t: 'string', parts, line: start });
      i = next;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ t: 'number', v: Number(m[0]), line });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ t: 'ident', v: m[0], line });
      i += m[0].length;
    } else {
      const p = PUNCT.find((q) => src.startsWith(q, i));
      if (p === undefined || src.startsWith('??', i)) fail(`unexpected "${src.slice(i, i + 2)}"`);
      out.push({ t: 'punct', v: p as string, line });
      i += (p as string).length;
    }
  }
  out.push({ t: 'newline', line });
  return out;
}

/** A '…' string from just after its opening quote: literal parts and ${…} expressions. */
function readString(src: string, from: number, file: string, line: number): { parts: Array<string | Expr>; next: number } {
  const parts: Array<string | Expr> = [];
  let text = '';
  let i = from;
  for (;;) {
    if (i >= src.length) throw new BicepSyntaxError(`${file}:${line}: unclosed string`);
    const c = src[i];
    if (c === "'") break;
    if (c === '\\') {
      const e = ESCAPES[src[i + 1]];
      if (e === undefined) throw new BicepSyntaxError(`${file}:${line}: unknown escape \\${src[i + 1]}`);
      text += e;
      i += 2;
    } else if (src.startsWith('${', i)) {
      const end = interpolationEnd(src, i + 2, file, line);
      if (text !== '') parts.push(text);
      text = '';
      parts.push(parseExpression(src.slice(i + 2, end), file, line));
      i = end + 1;
    } else {
      text += c;
      i++;
    }
  }
  if (text !== '' || parts.length === 0) parts.push(text);
  return { parts, next: i + 1 };
}

/** Index of the `}` closing an interpolation, skipping nested braces and strings. */
function interpolationEnd(src: string, from: number, file: string, line: number): number {
  let depth = 0;
  for (let i = from; i < src.length; i++) {
    const c = src[i];
    if (c === "'") i = readString(src, i + 1, file, line).next - 1;
    else if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  throw new BicepSyntaxError(`${file}:${line}: unclosed \${`);
}

class Parser {
  private pos = 0;
  constructor(
    private readonly toks: Token[],
    private readonly file: string,
  ) {}

  fail(what: string): never {
    throw new BicepSyntaxError(`${this.file}:${this.peek().line}: ${what}`);
  }
  peek(): Token {
    return this.toks[this.pos];
  }
  next(): Token {
    return this.toks[this.pos++];
  }
  isPunct(v: string): boolean {
    const t = this.peek();
    return t.t === 'punct' && t.v === v;
  }
  isIdent(v: string): boolean {
    const t = this.peek();
    return t.t === 'ident' && t.v === v;
  }
  punct(v: string): void {
    if (!this.isPunct(v)) this.fail(`expected "${v}"`);
    this.pos++;
  }
  ident(): string {
    const t = this.next();
    if (t.t !== 'ident') {
      this.pos--;
      this.fail('expected a name');
    }
    return t.v;
  }
  literalString(): string {
    const t = this.next();
    if (t.t !== 'string' || t.parts.length !== 1 || typeof t.parts[0] !== 'string') {
      this.pos--;
      this.fail('expected a plain string');
    }
    return t.parts[0];
  }
  skipNewlines(): void {
    while (this.peek().t === 'newline' && this.pos < this.toks.length - 1) this.pos++;
  }
  endOfStatement(): void {
    if (this.peek().t !== 'newline') this.fail('expected the end of the line');
    this.skipNewlines();
  }
  atEnd(): boolean {
    return this.pos >= this.toks.length - 1;
  }

  declarations(): Declaration[] {
    const out: Declaration[] = [];
    let decorators: Decorator[] = [];
    this.skipNewlines();
    while (!this.atEnd()) {
      const line = this.peek().line;
      if (this.isPunct('@')) {
        this.pos++;
        decorators.push({ name: this.ident(), args: this.args() });
        this.endOfStatement();
        continue;
      }
      const keyword = this.ident();
      out.push(this.declaration(keyword, decorators, line));
      decorators = [];
      this.endOfStatement();
    }
    if (decorators.length > 0) this.fail('decorators with nothing to decorate');
    return out;
  }

  declaration(keyword: string, decorators: Decorator[], line: number): Declaration {
    switch (keyword) {
      case 'targetScope':
        this.punct('=');
        return { kind: 'targetScope', name: keyword, decorators, line, value: this.expression() };
      case 'using':
        return { kind: 'using', name: keyword, decorators, line, path: this.literalString() };
      case 'param': {
        const name = this.ident();
        const type = this.isPunct('=') ? undefined : this.ident();
        const value = this.isPunct('=') ? (this.pos++, this.expression()) : undefined;
        return { kind: 'param', name, decorators, line, type, value };
      }
      case 'var': {
        const name = this.ident();
        this.punct('=');
        return { kind: 'var', name, decorators, line, value: this.expression() };
      }
      case 'output': {
        const name = this.ident();
        const type = this.ident();
        this.punct('=');
        return { kind: 'output', name, decorators, line, type, value: this.expression() };
      }
      case 'resource': {
        const name = this.ident();
        const type = this.literalString();
        const existing = this.isIdent('existing') ? (this.pos++, true) : false;
        this.punct('=');
        return { kind: 'resource', name, decorators, line, type, existing, value: this.body() };
      }
      case 'module': {
        const name = this.ident();
        const path = this.literalString();
        this.punct('=');
        return { kind: 'module', name, decorators, line, path, value: this.body() };
      }
      default:
        return this.fail(`"${keyword}" declarations are outside the subset this reader knows`);
    }
  }

  /** A resource's or module's body: an object, `if (…) {…}` or `[for … in …: {…}]`. */
  body(): Expr {
    if (this.isIdent('if')) {
      this.pos++;
      this.punct('(');
      const test = this.expression();
      this.punct(')');
      return { kind: 'if', test, body: this.object() };
    }
    if (this.isPunct('[')) return this.primary();
    return this.object();
  }

  args(): Expr[] {
    this.punct('(');
    const out: Expr[] = [];
    while (!this.isPunct(')')) {
      out.push(this.expression());
      if (!this.isPunct(')')) this.punct(',');
    }
    this.pos++;
    return out;
  }

  expression(): Expr {
    const test = this.binary(0);
    if (!this.isPunct('?')) return test;
    this.pos++;
    const then = this.expression();
    this.punct(':');
    return { kind: 'ternary', test, then, else: this.expression() };
  }

  binary(level: number): Expr {
    const ops: ReadonlyArray<ReadonlyArray<'==' | '!=' | '&&' | '||'>> = [['||'], ['&&'], ['==', '!=']];
    if (level === ops.length) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const t = this.peek();
      const op = t.t === 'punct' ? ops[level].find((o) => o === t.v) : undefined;
      if (op === undefined) return left;
      this.pos++;
      left = { kind: 'binary', op, left, right: this.binary(level + 1) };
    }
  }

  unary(): Expr {
    if (this.isPunct('!') || this.isPunct('-')) {
      const op = (this.next() as { v: '!' | '-' }).v;
      return { kind: 'unary', op, operand: this.unary() };
    }
    let e = this.primary();
    for (;;) {
      if (this.isPunct('.')) {
        this.pos++;
        e = { kind: 'member', object: e, name: this.ident() };
      } else if (this.isPunct('[')) {
        this.pos++;
        const index = this.expression();
        this.punct(']');
        e = { kind: 'index', object: e, index };
      } else {
        return e;
      }
    }
  }

  primary(): Expr {
    const t = this.next();
    switch (t.t) {
      case 'string':
        return { kind: 'string', parts: t.parts };
      case 'number':
        return { kind: 'number', value: t.v };
      case 'ident':
        if (t.v === 'true' || t.v === 'false') return { kind: 'bool', value: t.v === 'true' };
        if (t.v === 'null') return { kind: 'null' };
        if (this.isPunct('(')) return { kind: 'call', name: t.v, args: this.args() };
        return { kind: 'ident', name: t.v };
      case 'punct':
        if (t.v === '(') {
          const e = this.expression();
          this.punct(')');
          return e;
        }
        if (t.v === '{') {
          this.pos--;
          return this.object();
        }
        if (t.v === '[') return this.isIdent('for') ? this.forExpression() : this.array();
        break;
      default:
        break;
    }
    this.pos--;
    return this.fail('expected a value');
  }

  /** `{`, then one `key: value` per line, then `}` (the multi-line form only). */
  object(): Expr {
    this.punct('{');
    const entries: Array<{ key: Expr; value: Expr }> = [];
    if (this.isPunct('}')) {
      this.pos++;
      return { kind: 'object', entries };
    }
    this.endOfStatement();
    while (!this.isPunct('}')) {
      const k = this.next();
      let key: Expr;
      if (k.t === 'ident') key = { kind: 'string', parts: [k.v] };
      else if (k.t === 'string') key = { kind: 'string', parts: k.parts };
      else {
        this.pos--;
        return this.fail('expected a property name');
      }
      this.punct(':');
      entries.push({ key, value: this.expression() });
      this.endOfStatement();
    }
    this.pos++;
    return { kind: 'object', entries };
  }

  /** After `[`: one item per line, then `]` (the multi-line form only). */
  array(): Expr {
    const items: Expr[] = [];
    if (this.isPunct(']')) {
      this.pos++;
      return { kind: 'array', items };
    }
    this.endOfStatement();
    while (!this.isPunct(']')) {
      items.push(this.expression());
      this.endOfStatement();
    }
    this.pos++;
    return { kind: 'array', items };
  }

  /** After `[`: `for item in source: body]` or `for (item, index) in source: body]`. */
  forExpression(): Expr {
    this.pos++; // for
    let item: string;
    let index: string | undefined;
    if (this.isPunct('(')) {
      this.pos++;
      item = this.ident();
      this.punct(',');
      index = this.ident();
      this.punct(')');
    } else {
      item = this.ident();
    }
    if (!this.isIdent('in')) this.fail('expected "in"');
    this.pos++;
    const source = this.expression();
    this.punct(':');
    const body = this.isPunct('{') ? this.object() : this.expression();
    this.punct(']');
    return { kind: 'for', item, index, source, body };
  }
}

function parseExpression(src: string, file: string, line: number): Expr {
  const p = new Parser(tokenize(src, file, line), file);
  const e = p.expression();
  if (!p.atEnd()) p.fail('unexpected text after the expression');
  return e;
}

/** Every declaration of a .bicep or .bicepparam file, in order. Throws naming file:line. */
export function parseBicep(src: string, file: string): Declaration[] {
  return new Parser(tokenize(src, file), file).declarations();
}
