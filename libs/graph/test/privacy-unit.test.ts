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
