// Evaluates expressions of the Bicep subset parse.ts reads, the way ARM would at deployment:
// parameters from a parameters file, variables from their declarations, and for each
// resource or module symbol the properties Azure would hand back (given by the caller,
// clearly as stand-ins: the test names the identity's client id, the storage account's
// name…). Only the functions the templates use are known; any other throws, naming it.

import type { Declaration, Expr } from './parse';

export type Value = string | number | boolean | null | readonly Value[] | { readonly [key: string]: Value };

export interface Scope {
  /** parameter values (defaults are applied from the declarations when missing) */
  params: Readonly<Record<string, Value>>;
  /** what Azure returns for each resource or module symbol: `{ id, name, properties: {…} }` */
  platform: Readonly<Record<string, Value>>;
  /** loop variables, set while evaluating the body of a `for` */
  locals?: Readonly<Record<string, Value>>;
}

type Fn = (args: Value[]) => Value;

const str = (v: Value, fn: string): string => {
  if (typeof v !== 'string') throw new Error(`${fn}() wants a string, got ${JSON.stringify(v)}`);
  return v;
};
/** Array.isArray, but narrowing a Value to Value[] rather than any[]. */
export const isArray = (v: Value): v is readonly Value[] => Array.isArray(v);
const arr = (v: Value, fn: string): readonly Value[] => {
  if (!isArray(v)) throw new Error(`${fn}() wants an array, got ${JSON.stringify(v)}`);
  return v;
};

const FUNCTIONS: Readonly<Record<string, Fn>> = {
  join: ([a, sep]) =>
    arr(a, 'join')
      .map((x) => str(x, 'join'))
      .join(str(sep, 'join')),
  split: ([s, sep]) => str(s, 'split').split(str(sep, 'split')),
  last: ([a]) => {
    const xs = typeof a === 'string' ? [...a] : arr(a, 'last');
    return xs[xs.length - 1] ?? null;
  },
  empty: ([v]) => v === null || v === '' || (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v).length === 0),
  // Stand-ins with the shape ARM gives: enough to see which subscription, group and role.
  resourceGroup: (args): Value =>
    args.length === 0
      ? { name: '<this resource group>', location: 'westeurope' }
      : { subscriptionId: str(args[0], 'resourceGroup'), name: str(args[1], 'resourceGroup') },
  subscriptionResourceId: ([type, name]) =>
    `/subscriptions/<this subscription>/providers/${str(type, 'subscriptionResourceId')}/${str(name, 'subscriptionResourceId')}`,
  guid: (args) => `guid(${args.map((a) => JSON.stringify(a)).join(',')})`,
};

export class Evaluator {
  private readonly decls = new Map<string, Declaration>();
  constructor(
    declarations: readonly Declaration[],
    private readonly scope: Scope,
  ) {
    for (const d of declarations) this.decls.set(d.name, d);
  }

  /** A copy evaluating with loop variables bound (the body of a `for`). */
  with(locals: Readonly<Record<string, Value>>): Evaluator {
    const e = new Evaluator([...this.decls.values()], { ...this.scope, locals: { ...this.scope.locals, ...locals } });
    return e;
  }

  /** The value of a `for` body per element of its source, in order. */
  each(loop: Extract<Expr, { kind: 'for' }>): Value[] {
    return arr(this.eval(loop.source), 'for').map((item, i) => {
      const locals: Record<string, Value> = { [loop.item]: item };
      if (loop.index !== undefined) locals[loop.index] = i;
      return this.with(locals).eval(loop.body);
    });
  }

  /** A value inside '…${x}…': an object or array there is a template mistake, not "[object Object]". */
  private interpolated(e: Expr): string {
    const v = this.eval(e);
    if (v !== null && typeof v === 'object') throw new Error(`an object or array inside a string: ${JSON.stringify(v)}`);
    return String(v);
  }

  eval(e: Expr): Value {
    switch (e.kind) {
      case 'string':
        return e.parts.map((p) => (typeof p === 'string' ? p : this.interpolated(p))).join('');
      case 'number':
      case 'bool':
        return e.value;
      case 'null':
        return null;
      case 'ident':
        return this.symbol(e.name);
      case 'member': {
        const o = this.eval(e.object);
        if (o === null || typeof o !== 'object' || Array.isArray(o) || !(e.name in o)) {
          throw new Error(`no property "${e.name}" in ${JSON.stringify(o)}`);
        }
        return (o as Record<string, Value>)[e.name];
      }
      case 'index': {
        const o = arr(this.eval(e.object), '[]');
        const i = this.eval(e.index);
        if (typeof i !== 'number' || i < 0 || i >= o.length) throw new Error(`index ${JSON.stringify(i)} out of range`);
        return o[i];
      }
      case 'call': {
        const fn = FUNCTIONS[e.name];
        if (fn === undefined) throw new Error(`the test's evaluator does not know the function ${e.name}()`);
        return fn(e.args.map((a) => this.eval(a)));
      }
      case 'unary': {
        const v = this.eval(e.operand);
        return e.op === '!' ? !v : -(v as number);
      }
      case 'binary': {
        if (e.op === '&&') return Boolean(this.eval(e.left)) && Boolean(this.eval(e.right));
        if (e.op === '||') return Boolean(this.eval(e.left)) || Boolean(this.eval(e.right));
        const same = JSON.stringify(this.eval(e.left)) === JSON.stringify(this.eval(e.right));
        return e.op === '==' ? same : !same;
      }
      case 'ternary':
        return this.eval(e.test) ? this.eval(e.then) : this.eval(e.else);
      case 'object': {
        const o: Record<string, Value> = {};
        for (const { key, value } of e.entries) o[str(this.eval(key), 'object key')] = this.eval(value);
        return o;
      }
      case 'array':
        return e.items.map((x) => this.eval(x));
      case 'for':
        return this.each(e);
      case 'if':
        return this.eval(e.test) ? this.eval(e.body) : null;
    }
  }

  private symbol(name: string): Value {
    const local = this.scope.locals?.[name];
    if (local !== undefined) return local;
    const d = this.decls.get(name);
    if (d === undefined) throw new Error(`"${name}" is not declared`);
    switch (d.kind) {
      case 'param': {
        const given = this.scope.params[name];
        if (given !== undefined) return given;
        if (d.value === undefined) throw new Error(`parameter ${name} has no value and no default`);
        return this.eval(d.value);
      }
      case 'var':
        return this.eval(d.value);
      case 'resource':
      case 'module': {
        const v = this.scope.platform[name];
        if (v === undefined) throw new Error(`the test gives no stand-in for what Azure returns for ${d.kind} ${name}`);
        return v;
      }
      default:
        throw new Error(`"${name}" cannot be used as a value`);
    }
  }
}
