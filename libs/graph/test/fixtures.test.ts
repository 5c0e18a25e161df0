// Every error kind has a bad-graph fixture under test/fixtures/graphs; each case names where the
// error must point (the first occurrence of `at` in the file) and what it must say.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type Diagnostic, formatDiagnostic, validateGraph } from '../src';

const dir = join(import.meta.dirname, '../../../test/fixtures/graphs');

interface Case {
  pointer: string;
  message: RegExp;
  /** Text whose first occurrence is where line:column must point. */
  at: string;
  hint?: RegExp;
  expected?: RegExp;
}

const cases: Record<string, Case> = {
  'not-json': { pointer: '', message: /not valid JSON: property name expected/, at: '}\n  }' },
  'duplicate-key': { pointer: '/nodes/a', message: /duplicate key `a`/, at: '"a": { "type": "Dataset", "params": { "corpus": "spam"' },
  'missing-name': { pointer: '', message: /missing required property `name`/, at: '{' },
  'unknown-top-level-property': { pointer: '/node', message: /unknown property `node`/, at: '"node"', hint: /did you mean `nodes`\?/ },
  'unknown-node-type': {
    pointer: '/nodes/teacher/type',
    message: /unknown node type `DPFinetune`/,
    at: '"DPFinetune"',
    hint: /did you mean `DPFineTune`\?/,
  },
  'missing-node': {
    pointer: '/nodes/soft/inputs/teacher',
    message: /missing node `teachr`/,
    at: '"teachr"',
    hint: /did you mean `teacher`\?/,
  },
  'missing-output-port': {
    pointer: '/nodes/soft/inputs/corpus',
    message: /no output port `corpuss`/,
    at: '"syn.corpuss"',
    hint: /`corpus`/,
  },
  'unknown-input-port': {
    pointer: '/nodes/syn/inputs/code',
    message: /has no input port `code`/,
    at: '"code"',
    hint: /did you mean `codes`\?/,
  },
  'missing-input': {
    pointer: '/nodes/teacher/inputs',
    message: /missing its input `data`/,
    at: '{\n        "model": "t0"',
    expected: /Dataset/,
  },
  'port-kind-mismatch': { pointer: '/nodes/soft/inputs/corpus', message: /takes a Corpus, but `teacher` is a Model/, at: '"teacher"\n' },
  cycle: { pointer: '/nodes/c/inputs/init', message: /cycle: c -> b -> a -> c/, at: '"a",' },
  'unknown-sweep-axis': {
    pointer: '/sweep/grid/epsilom',
    message: /unknown sweep axis `epsilom`/,
    at: '"epsilom"',
    hint: /did you mean `epsilon`\?/,
  },
  'unused-sweep-axis': { pointer: '/sweep/grid/seedValue', message: /unused sweep axis `seedValue`/, at: '"seedValue": [' },
  'zip-unequal-lengths': { pointer: '/sweep/zip/0', message: /different lengths \(lr: 2, epochs: 3\)/, at: '{\n        "lr": [' },
  'unknown-interpolation': {
    pointer: '/nodes/teacher/params/epsilon',
    message: /unknown graph param `epsilonn`/,
    at: '"${epsilonn}"',
    hint: /did you mean `epsilon`\?/,
  },
  'param-wrong-type': { pointer: '/nodes/teacher/params/lr', message: /wrong type: string "fast"/, at: '"fast"', expected: /number > 0/ },
  'param-unknown-property': {
    pointer: '/nodes/teacher/params/clipp',
    message: /unknown property `clipp`/,
    at: '"clipp"',
    hint: /did you mean `clip`\?/,
  },
  'param-enum-typo': {
    pointer: '/nodes/imdb/params/corpus',
    message: /"imbd" is not allowed/,
    at: '"imbd"',
    hint: /did you mean "imdb"\?/,
  },
  'param-missing-required': { pointer: '/nodes/syn/params', message: /missing required property `count`/, at: '{}' },
  'interpolated-wrong-type': {
    pointer: '/nodes/teacher/params/epsilon',
    message: /wrong type: string "two"/,
    at: '"${epsilon}"',
    hint: /sweep point epsilon=two/,
  },
  'epsilon-and-sigma': { pointer: '/nodes/teacher/params', message: /either epsilon .* or sigma .*not both/, at: '{\n        "epsilon"' },
  'public-mix-private': { pointer: '/nodes/public/params/private', message: /public-mix and fortunes are public data/, at: 'true' },
  'budget-unknown-dataset': {
    pointer: '/privacy/budgets/imbd',
    message: /neither a Dataset node nor a corpus/,
    at: '"imbd"',
    hint: /did you mean `imdb`\?/,
  },
  'report-row-unknown-port': {
    pointer: '/nodes/table/params/rows/0/metrics',
    message: /`teachr` is not an input/,
    at: '"teachr"',
    hint: /did you mean `teacher`\?/,
  },
  'privacy-mixed-declaration': {
    pointer: '/nodes/leak/params/private',
    message: /Dataset nodes imdb \(private\) and leak \(public\) disagree about imdb/,
    at: 'false',
    hint: /set the same "private" on both/,
  },
  'privacy-two-budgets': {
    pointer: '/privacy/budgets/imdb',
    message: /privacy unit imdb has two budgets, "small" \(ε 1\) and "imdb" \(ε 100\)/,
    at: '"imdb": {',
    hint: /keep one budget/,
  },
  'privacy-budget-delta': {
    pointer: '/privacy/budgets/imdb/delta',
    message: /budget "imdb" for imdb: δ = 0.0001 is not below 1\/N = 2.02e-5 \(N = 49580 documents\).*use δ well below 1\/N/,
    at: '0.0001',
  },
};

/** What the CLI passes from @dpkd/data's pins (a corpus's documents, N of its privacy unit); imdb's count. */
const corpusSize = (corpus: string) => (corpus === 'imdb' ? 49_580 : undefined);

function positionOf(text: string, needle: string): { line: number; column: number } {
  const offset = text.indexOf(needle);
  if (offset < 0) throw new Error(`fixture lacks ${JSON.stringify(needle)}`);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

describe('bad-graph fixtures', () => {
  test('every fixture has a case and every case a fixture', () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.json') && !f.startsWith('valid-'))
      .map((f) => f.slice(0, -5));
    expect(files.sort()).toEqual(Object.keys(cases).sort());
  });

  for (const [name, c] of Object.entries(cases)) {
    test(name, () => {
      const file = `test/fixtures/graphs/${name}.json`;
      const text = readFileSync(join(dir, `${name}.json`), 'utf8');
      const result = validateGraph(text, file, { corpusSize });
      expect(result.graph).toBeUndefined();
      const found = result.diagnostics.find((d: Diagnostic) => d.pointer === c.pointer && c.message.test(d.message));
      expect(found, result.diagnostics.map(formatDiagnostic).join('\n')).toBeDefined();
      expect(found!.file).toBe(file);
      // An error inside a subtree may point at its first character; the fixture's `at` is chosen to be exact.
      expect({ line: found!.line, column: found!.column }).toEqual(positionOf(text, c.at));
      if (c.hint) expect(found!.hint).toMatch(c.hint);
      if (c.expected) expect(found!.expected).toMatch(c.expected);
      expect(formatDiagnostic(found!)).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:${found!.line}:${found!.column}: `));
    });
  }

  test('the valid fixture validates', () => {
    const text = readFileSync(join(dir, 'valid-minimal.json'), 'utf8');
    expect(validateGraph(text, 'valid-minimal.json', { corpusSize }).diagnostics).toEqual([]);
  });
});

describe('graphs/ examples', () => {
  const graphs = join(import.meta.dirname, '../../../graphs');
  const files = readdirSync(graphs).filter((f) => f.endsWith('.json'));
  test('there are examples', () => expect(files.length).toBeGreaterThanOrEqual(2));
  for (const f of files) {
    test(`graphs/${f} is valid`, () => {
      const result = validateGraph(readFileSync(join(graphs, f), 'utf8'), `graphs/${f}`);
      expect(result.diagnostics.map(formatDiagnostic)).toEqual([]);
      expect(result.graph!.nodes.length).toBeGreaterThan(0);
    });
  }
});
