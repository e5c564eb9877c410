// The Bicep reader the template test relies on: it reads what the subset holds exactly, and
// refuses what it does not know, naming file and line, instead of reading it wrong.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseBicep } from './bicep/parse';
import { Evaluator } from './bicep/evaluate';

const SAMPLE = `// a comment
@description('the app\\'s name')
@minLength(2)
param appName string
param urls array = []
var joined = empty(urls) ? 'none' : join(urls, ',')

resource id 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-\${appName}'
  /* a block
     comment */
  properties: {
    '\${appName}-key': {}
    list: [
      1
      -2
      true
    ]
  }
}

module roles 'role.bicep' = [for (u, i) in urls: {
  name: '\${appName}-\${i}'
  scope: resourceGroup(split(u, '/')[2], last(split(u, '/')))
}]

module maybe 'x.bicep' = if (!empty(urls) && appName != 'x') {
  name: 'maybe'
}

output joined string = joined
`;

describe('Bicep reader', () => {
  test('declarations, decorators, interpolation, loops, conditions and expressions are read and evaluate as ARM would', () => {
    const decls = parseBicep(SAMPLE, 'sample.bicep');
    assert.deepEqual(
      decls.map((d) => `${d.kind} ${d.name}`),
      ['param appName', 'param urls', 'var joined', 'resource id', 'module roles', 'module maybe', 'output joined'],
    );
    assert.deepEqual(
      decls[0].decorators.map((d) => d.name),
      ['description', 'minLength'],
    );
    const ev = new Evaluator(decls, { params: { appName: 'relay', urls: ['/s/sub-1/g/x', '/s/sub-2/g/y'] }, platform: {} });
    assert.equal(ev.eval(decls[0].decorators[0].args[0]), "the app's name");
    assert.equal(ev.eval(decls[2].kind === 'var' ? decls[2].value : { kind: 'null' }), '/s/sub-1/g/x,/s/sub-2/g/y');
    const id = decls[3];
    assert.ok(id.kind === 'resource');
    assert.equal(id.type, 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31');
    assert.deepEqual(ev.eval(id.value), { name: 'id-relay', properties: { 'relay-key': {}, list: [1, -2, true] } });
    const roles = decls[4];
    assert.ok(roles.kind === 'module' && roles.value.kind === 'for');
    assert.deepEqual(ev.each(roles.value), [
      { name: 'relay-0', scope: { subscriptionId: 'sub-1', name: 'x' } },
      { name: 'relay-1', scope: { subscriptionId: 'sub-2', name: 'y' } },
    ]);
    const maybe = decls[5];
    assert.ok(maybe.kind === 'module');
    assert.deepEqual(ev.eval(maybe.value), { name: 'maybe' });
    assert.equal(new Evaluator(decls, { params: { appName: 'relay', urls: [] }, platform: {} }).eval(maybe.value), null);
  });

  test('a .bicepparam file: using and param assignments', () => {
    const decls = parseBicep("using 'main.bicep'\nparam appName = 'relay'\nparam urls = [\n  'a'\n]\n", 'main.bicepparam');
    assert.deepEqual(
      decls.map((d) => d.kind),
      ['using', 'param', 'param'],
    );
    assert.ok(decls[0].kind === 'using' && decls[0].path === 'main.bicep');
  });

  test('what the subset does not hold is refused with file and line, not read wrong', () => {
    const refused: Array<[string, RegExp]> = [
      ['param a string\nvar x = { a: 1, b: 2 }\n', /^x\.bicep:2: expected the end of the line/],
      ["var x = a ?? 'b'\n", /^x\.bicep:1: unexpected "\?\?"/],
      ['type port = int\n', /^x\.bicep:1: "type" declarations are outside the subset/],
      ["var x = '''\nmulti\n'''\n", /^x\.bicep:1: multi-line ''' strings/],
      ["var x = 'open\n", /^x\.bicep:1: unclosed string/],
      ["var x = 'a\\qb'\n", /^x\.bicep:1: unknown escape \\q/],
      ['var x = [\n  1, 2\n]\n', /^x\.bicep:2: expected the end of the line/],
      ["@description('dangling')\n", /decorators with nothing to decorate/],
    ];
    for (const [src, message] of refused)
      assert.throws(
        () => parseBicep(src, 'x.bicep'),
        (e: unknown) => e instanceof Error && message.test(e.message),
        src,
      );
  });

  test('the evaluator refuses functions and symbols it does not know rather than invent a value', () => {
    const decls = parseBicep("resource r 'T@1' = {\n  name: 'r'\n}\nvar a = uniqueString('x')\nvar b = r.properties.x\n", 'x.bicep');
    const ev = new Evaluator(decls, { params: {}, platform: {} });
    const value = (name: string) => {
      const d = decls.find((x) => x.name === name);
      assert.ok(d?.kind === 'var');
      return d.value;
    };
    assert.throws(() => ev.eval(value('a')), /does not know the function uniqueString\(\)/);
    assert.throws(() => ev.eval(value('b')), /no stand-in for what Azure returns for resource r/);
  });
});
