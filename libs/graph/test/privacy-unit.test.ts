// The budget's δ enters the key of every Dataset of its unit (and so of every DP node downstream).
import { describe, expect, test } from 'vitest';
import { validateGraph } from '../src';

const graphWith = (budgets: Record<string, unknown>) =>
  JSON.stringify({
    name: 'g',
    privacy: { budgets },
    nodes: {
      a: { type: 'Dataset', params: { corpus: 'imdb', train: 10 } },
      b: { type: 'Dataset', params: { corpus: 'imdb', train: 20 } },
      pub: { type: 'Dataset', params: { corpus: 'public-mix', train: 5 } },
    },
  });
const paramsOf = (budgets: Record<string, unknown>) => {
  const r = validateGraph(graphWith(budgets), 'g.json');
  expect(r.diagnostics).toEqual([]);
  return Object.fromEntries(r.graph!.nodes.map((n) => [n.id, n.params.unitDelta]));
};

describe('the unit δ in Dataset params', () => {
  test('a budget by corpus or by any Dataset node of the corpus reaches every Dataset over it, not other corpora', () => {
    expect(paramsOf({ imdb: { epsilon: 1, delta: 1e-7 } })).toEqual({ a: 1e-7, b: 1e-7, pub: undefined });
    expect(paramsOf({ b: { epsilon: 1, delta: 1e-8 } })).toEqual({ a: 1e-8, b: 1e-8, pub: undefined });
  });

  test('no δ in the budget: nothing added (the Dataset uses the default 1/(10·N)), keys unchanged', () => {
    expect(paramsOf({ imdb: { epsilon: 1 } })).toEqual({ a: undefined, b: undefined, pub: undefined });
    const key = (budgets: Record<string, unknown>) => validateGraph(graphWith(budgets), 'g.json').graph!.nodes[0]!.key;
    expect(key({ imdb: { epsilon: 1 } })).toBe(key({ imdb: { epsilon: 50 } }));
    expect(key({ imdb: { epsilon: 1 } })).not.toBe(key({ imdb: { epsilon: 1, delta: 1e-7 } }));
  });
});

describe('privacy declarations at validate time', () => {
  const corpusSize = (corpus: string) => ({ imdb: 49_580, spam: 5_918 })[corpus];
  const messages = (graph: Record<string, unknown>, options = {}) =>
    validateGraph(JSON.stringify({ name: 'g', ...graph }), 'g.json', options).diagnostics.map((d) => `${d.pointer}: ${d.message}`);

  test('a budget δ is checked against 1/N only when the corpus sizes are given (else the plan checks it)', () => {
    const graph = {
      privacy: { budgets: { imdb: { epsilon: 1, delta: 1e-4 } } },
      nodes: { a: { type: 'Dataset', params: { corpus: 'imdb' } } },
    };
    expect(messages(graph)).toEqual([]);
    expect(messages(graph, { corpusSize })).toEqual([
      expect.stringMatching(/^\/privacy\/budgets\/imdb\/delta: budget "imdb" for imdb: δ = 0.0001 is not below 1\/N/),
    ]);
    expect(messages({ ...graph, privacy: { budgets: { imdb: { epsilon: 1, delta: 2e-5 } } } }, { corpusSize })).toEqual([]); // 2e-5 < 1/49580
  });

  test('declarations are read after interpolation and defaults: a swept corpus meeting a public Dataset of it is found', () => {
    const graph = {
      params: { corpus: 'spam' },
      sweep: { grid: { corpus: ['spam', 'imdb'] } },
      nodes: {
        swept: { type: 'Dataset', params: { corpus: '${corpus}' } }, // private by default
        leak: { type: 'Dataset', params: { corpus: 'imdb', private: false } },
      },
    };
    expect(messages(graph)).toEqual([
      expect.stringMatching(/^\/nodes\/leak\/params\/private: Dataset nodes swept \(private\) and leak \(public\) disagree about imdb/),
    ]);
    expect(messages({ ...graph, sweep: { grid: { corpus: ['spam', 'foldoc'] } } })).toEqual([]);
  });
});
