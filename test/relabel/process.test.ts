// Relabel rules as users write them (YAML), applied to label sets: Prometheus's documented
// semantics, with expected results taken from Prometheus's own model/relabel tests where
// they exist (hashmod values, templating, labelmap, keepequal/dropequal).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RelabelConfigError, parseRelabelYaml } from '../../shared/relabel/config';
import { relabel } from '../../shared/relabel/process';

/** Runs `yaml` on `input`: the resulting labels (sorted), or 'dropped' with the rule index. */
function run(yaml: string, input: Record<string, string>): Record<string, string> | string {
  const rules = parseRelabelYaml(yaml, 'test rules');
  const labels = new Map(Object.entries(input).filter(([, v]) => v !== ''));
  const by = relabel(labels, rules);
  if (by >= 0) return `dropped by rule ${by}`;
  return Object.fromEntries([...labels].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function configError(yaml: string): string {
  try {
    parseRelabelYaml(yaml, 'RELABEL_CONFIG_FILE');
  } catch (err) {
    assert.ok(err instanceof RelabelConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a configuration error');
}

describe('relabel actions', () => {
  it('replace: capture groups in the replacement, ${1} and $1', () => {
    assert.deepEqual(
      run(
        `
- source_labels: [a]
  regex: f(.*)
  target_label: d
  replacement: ch\${1}-ch$1`,
        { a: 'foo', b: 'bar' },
      ),
      { a: 'foo', b: 'bar', d: 'choo-choo' },
    );
  });

  it('replace: source labels joined by the separator; later rules see earlier results', () => {
    assert.deepEqual(
      run(
        `
- source_labels: [a, b]
  regex: f(.*);(.*)r
  target_label: a
  replacement: b\${1}\${2}m
- source_labels: [c, a]
  regex: (b).*b(.*)ba(.*)
  target_label: d
  replacement: $1$2$2$3`,
        { a: 'foo', b: 'bar', c: 'baz' },
      ),
      { a: 'boobam', b: 'bar', c: 'baz', d: 'boooom' },
    );
    assert.deepEqual(
      run(
        `
- source_labels: [a, b]
  separator: '|'
  target_label: joined`,
        { a: 'x', b: 'y' },
      ),
      { a: 'x', b: 'y', joined: 'x|y' },
    );
  });

  it('replace defaults: regex (.*) fully anchored, replacement $1, action replace', () => {
    assert.deepEqual(
      run(
        `
- source_labels: [instance]
  target_label: host`,
        { instance: 'h:9100' },
      ),
      { instance: 'h:9100', host: 'h:9100' },
    );
    // anchored: "f" does not match "boo" although "o" would be found inside it
    assert.deepEqual(
      run(
        `
- source_labels: [a]
  regex: f|o
  target_label: b
  replacement: hit`,
        { a: 'foo' },
      ),
      { a: 'foo' },
    );
  });

  it('replace: no match leaves the labels alone; an empty result deletes the target', () => {
    assert.deepEqual(
      run(
        `
- source_labels: [a]
  regex: f
  target_label: b
  replacement: bar`,
        { a: 'boo' },
      ),
      { a: 'boo' },
    );
    assert.deepEqual(
      run(
        `
- source_labels: [missing]
  target_label: a`,
        { a: 'x', __name__: 'm' },
      ),
      { __name__: 'm' },
    );
    // the literal fast path: an absent source sets a literal replacement
    assert.deepEqual(
      run(
        `
- target_label: env
  replacement: prod`,
        { __name__: 'm' },
      ),
      { __name__: 'm', env: 'prod' },
    );
  });

  it('replace: target_label templating; an invalid expanded name changes nothing', () => {
    assert.deepEqual(
      run(
        `
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  target_label: \${1}
  replacement: \${2}`,
        { a: 'some-name-value' },
      ),
      { a: 'some-name-value', name: 'value' },
    );
    assert.deepEqual(
      run(
        `
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  target_label: \${3}
  replacement: \${1}`,
        { a: 'some-name-0' },
      ),
      { a: 'some-name-0' },
    );
    // $$ is a literal dollar, a $ not followed by a name stays as written, $1x is group "1x" (absent)
    assert.deepEqual(
      run(
        `
- source_labels: [a]
  regex: (.*)
  target_label: out
  replacement: $$-$-$1x-\${1}x`,
        { a: 'v' },
      ),
      { a: 'v', out: '$-$--vx' },
    );
  });

  it('replace: named groups, in both RE2 spellings', () => {
    assert.deepEqual(
      run(
        `
- source_labels: [pod]
  regex: (?P<app>[a-z]+)-(?<hash>[0-9a-f]+)
  target_label: app
  replacement: \${app}/$hash`,
        { pod: 'web-7f3a' },
      ),
      { pod: 'web-7f3a', app: 'web/7f3a' },
    );
  });

  it('keep and drop judge the joined source values against the anchored regex', () => {
    const rules = `
- source_labels: [__name__]
  regex: go_.*|process_.*
  action: drop`;
    assert.equal(run(rules, { __name__: 'go_goroutines' }), 'dropped by rule 0');
    assert.deepEqual(run(rules, { __name__: 'http_go_requests' }), { __name__: 'http_go_requests' });
    const keep = `
- source_labels: [__name__, job]
  regex: up;node
  action: keep`;
    assert.deepEqual(run(keep, { __name__: 'up', job: 'node' }), { __name__: 'up', job: 'node' });
    assert.equal(run(keep, { __name__: 'up', job: 'nodes' }), 'dropped by rule 0');
    // an absent label reads as "": keep on a label a series lacks drops it
    assert.equal(
      run(
        `
- source_labels: [team]
  regex: .+
  action: keep`,
        { __name__: 'up' },
      ),
      'dropped by rule 0',
    );
  });

  it('keepequal and dropequal compare the source value with the target label', () => {
    const input = { __tmp_port: '1234', __port1: '1234', __port2: '5678' };
    assert.deepEqual(run('- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}', input), input);
    assert.equal(run('- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}', input), 'dropped by rule 0');
    assert.equal(run('- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}', input), 'dropped by rule 0');
    assert.deepEqual(run('- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}', input), input);
  });

  it("hashmod: md5, last 8 bytes as a big-endian uint64, modulo (Prometheus's values)", () => {
    assert.deepEqual(run('- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}', { c: 'baz' }), { c: 'baz', d: '976' });
    assert.deepEqual(run('- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}', { a: 'foo\nbar' }), { a: 'foo\nbar', b: '734' });
  });

  it('labelmap copies matching labels under the expanded name; the originals stay', () => {
    assert.deepEqual(
      run(
        `
- regex: __meta_(my.*)
  replacement: \${1}
  action: labelmap`,
        { a: 'foo', __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', __meta_other: 'ccc' },
      ),
      { __meta_my_bar: 'aaa', __meta_my_baz: 'bbb', __meta_other: 'ccc', a: 'foo', my_bar: 'aaa', my_baz: 'bbb' },
    );
  });

  it('labeldrop and labelkeep remove labels by name', () => {
    const input = { __name__: 'm', a: 'foo', b1: 'bar', b2: 'baz' };
    assert.deepEqual(run('- {regex: b.*, action: labeldrop}', input), { __name__: 'm', a: 'foo' });
    assert.deepEqual(run('- {regex: __name__|b.*, action: labelkeep}', input), { __name__: 'm', b1: 'bar', b2: 'baz' });
  });

  it('lowercase and uppercase set the target from the joined sources, as Go maps each character', () => {
    assert.deepEqual(
      run(
        `
- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
- {source_labels: [foo], action: lowercase, target_label: foo_lowercase}`,
        { foo: 'bAr123Foo' },
      ),
      { foo: 'bAr123Foo', foo_lowercase: 'bar123foo', foo_uppercase: 'BAR123FOO' },
    );
    // Go's strings.ToUpper keeps ß (no one-character upper case); JS alone would give "SS"
    assert.deepEqual(run('- {source_labels: [s], action: uppercase, target_label: u}', { s: 'straße' }), { s: 'straße', u: 'STRAßE' });
    assert.deepEqual(run('- {source_labels: [s], action: lowercase, target_label: l}', { s: 'İSTANBUL' }), { s: 'İSTANBUL', l: 'istanbul' });
  });

  it('rules run in order and the first drop ends the walk', () => {
    assert.equal(
      run(
        `
- {source_labels: [a], regex: .*o.*, action: drop}
- {source_labels: [a], regex: f(.*), target_label: d, replacement: ch$1}`,
        { a: 'foo' },
      ),
      'dropped by rule 0',
    );
    // a label deleted by one rule is gone for the next (Prometheus issue 12283's case)
    assert.deepEqual(
      run(
        `
- {regex: ^__meta_kubernetes_pod_container_port_name$, action: labeldrop}
- {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: (.+), replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: ^metrics$, action: keep}`,
        { __meta_kubernetes_pod_container_port_name: 'foo', __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091' },
      ),
      { __meta_kubernetes_pod_annotation_XXX_metrics_port: '9091', __meta_kubernetes_pod_container_port_name: 'metrics' },
    );
  });

  it('actions are case-insensitive and an empty file is no rules', () => {
    assert.equal(run('- {source_labels: [a], regex: x, action: DROP}', { a: 'x' }), 'dropped by rule 0');
    assert.deepEqual(parseRelabelYaml('', 'empty'), []);
    assert.deepEqual(parseRelabelYaml('# nothing here\n', 'empty'), []);
  });
});

describe('RE2 semantics in JavaScript', () => {
  it('. does not match \\n but matches \\r and U+2028, as in RE2; (?s) makes it match \\n', () => {
    const rules = '- {source_labels: [a], regex: a.b, action: drop}';
    assert.equal(run(rules, { a: 'a\rb' }), 'dropped by rule 0');
    assert.equal(run(rules, { a: 'a\u2028b' }), 'dropped by rule 0');
    assert.deepEqual(run(rules, { a: 'a\nb' }), { a: 'a\nb' });
    assert.equal(run('- {source_labels: [a], regex: "(?s)a.b", action: drop}', { a: 'a\nb' }), 'dropped by rule 0');
  });

  it("\\s is RE2's ASCII [\\t\\n\\f\\r ]: no vertical tab, no Unicode spaces", () => {
    const rules = '- {source_labels: [a], regex: "x\\\\sy", action: drop}';
    assert.equal(run(rules, { a: 'x y' }), 'dropped by rule 0');
    assert.deepEqual(run(rules, { a: 'x\u000by' }), { a: 'x\u000by' });
    assert.deepEqual(run(rules, { a: 'x\u00a0y' }), { a: 'x\u00a0y' });
  });

  it('a leading (?i) is case-insensitive matching; escaped punctuation is a literal', () => {
    assert.equal(run('- {source_labels: [a], regex: "(?i)error", action: drop}', { a: 'ERROR' }), 'dropped by rule 0');
    assert.equal(run('- {source_labels: [a], regex: "a\\\\-b\\\\:c\\\\.d", action: drop}', { a: 'a-b:c.d' }), 'dropped by rule 0');
    assert.deepEqual(run('- {source_labels: [a], regex: "a\\\\.b", action: drop}', { a: 'axb' }), { a: 'axb' });
    // \z and \A are RE2's text anchors
    assert.equal(run('- {source_labels: [a], regex: "\\\\Aab\\\\z", action: drop}', { a: 'ab' }), 'dropped by rule 0');
  });

  it('refuses what RE2 and JavaScript read differently, or what only one of them has', () => {
    const cases: [string, RegExp][] = [
      ['a(?=b)', /lookaround/],
      ['(a)\\\\1', /octal escape and JavaScript as a backreference/],
      ['[[:alpha:]]+', /POSIX character classes/],
      ['\\\\pL+', /Unicode class/],
      ['\\\\Qa.b\\\\E', /\\Q…\\E/],
      ['a(?i)b', /inline flag group/],
      ['a{1001}', /at most 1000/],
      ['(unclosed', /regex: "\(unclosed"/],
    ];
    for (const [regex, why] of cases) {
      const msg = configError(`- {source_labels: [a], regex: "${regex}", action: drop}`);
      assert.match(msg, /^RELABEL_CONFIG_FILE: rule 0, regex: /, msg);
      assert.match(msg, why, msg);
    }
  });
});

describe('relabel configuration errors name the rule and the field', () => {
  const cases: [string, RegExp][] = [
    ['- {action: replace}', /rule 0, target_label: the replace action requires target_label/],
    ['- {action: hashmod, target_label: x, source_labels: [a]}', /rule 0, modulus: hashmod requires a non-zero modulus/],
    ['- {action: dropp}', /rule 0, action: unknown action "dropp"/],
    ['- {action: ""}', /rule 0, action: cannot be empty/],
    ['- {target_label: x}\n- {target_label: "-${3}"}', /rule 1, target_label: "-\$\{3\}" is not a valid label name/],
    ['- {target_label: "0${3}"}', /rule 0, target_label: /],
    ['- {action: lowercase, target_label: "${3}", source_labels: [a]}', /rule 0, target_label: .* for lowercase/],
    ['- {action: lowercase, target_label: x, replacement: y}', /rule 0, replacement: cannot be set for the lowercase action/],
    ['- {action: keepequal, target_label: x, regex: a}', /rule 0, regex: the keepequal action takes only source_labels and target_label/],
    ['- {action: labeldrop, regex: a, target_label: x}', /rule 0, target_label: the labeldrop action takes only regex/],
    ['- {action: labelkeep, regex: a, source_labels: [x]}', /rule 0, source_labels: the labelkeep action takes only regex/],
    ['- {action: labelmap, regex: a, replacement: "-x"}', /rule 0, replacement: .* for labelmap/],
    ['- {source_labels: [a-b], target_label: x}', /rule 0, source_labels\[0\]: "a-b" is not a valid label name/],
    ['- {source_labels: a, target_label: x}', /rule 0, source_labels: must be a list/],
    ['- {target_label: x, sourcelabels: [a]}', /rule 0, sourcelabels: unknown field/],
    ['- {action: hashmod, target_label: x, modulus: -3}', /rule 0, modulus: must be a whole number/],
    ['source_labels: [a]', /must be a list of relabel_config rules/],
    ['- [a, b]', /rule 0, rule: must be a mapping/],
    ['- {a: [}', /not valid YAML/],
  ];
  for (const [yaml, expected] of cases) {
    it(yaml.replace(/\n/g, ' '), () => assert.match(configError(yaml), expected));
  }

  it("accepts Prometheus's valid target templates", () => {
    for (const target of ['label', 'label${1}', '${1}label', '$1', 'asd$2asd', '_${1}_', 'foo${bar}foo']) {
      assert.doesNotThrow(() => parseRelabelYaml(`- {source_labels: [a], regex: (.*), target_label: "${target}"}`, 't'), target);
    }
    for (const target of ['-label', '${', '$', '${}', 'foo${', '-foo${1}bar-']) {
      assert.throws(() => parseRelabelYaml(`- {source_labels: [a], regex: (.*), target_label: "${target}"}`, 't'), RelabelConfigError, target);
    }
  });
});
