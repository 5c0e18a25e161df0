import { describe, expect, test } from 'vitest';
import type { EngineGraph, EngineNode } from '../src';
import { estimateGraph, flopsPerToken, MEASURED_SPEED, NODE_OVERHEAD_SECONDS, tokensPerSecond, type ModelShape } from '../src/estimate';

const shapes: Record<string, ModelShape> = {
  small: { layers: 1, d: 32, mlp: 128, ctx: 64, vocab: 4098 },
  ref: MEASURED_SPEED.models[0]!.shape,
  big: { layers: 6, d: 192, mlp: 768, ctx: 128, vocab: 4098 },
};

const node = (id: string, type: string, params: Record<string, unknown>, inputs: Record<string, string> = {}, heavy = true): EngineNode =>
  ({
    id,
    baseId: id,
    type,
    heavy,
    params,
    inputs: Object.fromEntries(Object.entries(inputs).map(([p, n]) => [p, { node: n, port: p }])),
    deps: Object.values(inputs),
  }) as unknown as EngineNode;

const graphOf = (nodes: EngineNode[]) => ({ name: 'g', nodes, sweepPoints: [] }) as unknown as EngineGraph;
const inputs = {
  modelShape: (m: unknown) => (typeof m === 'string' ? shapes[m] : undefined),
  dataset: async (n: EngineNode) =>
    n.params.corpus === 'public-mix'
      ? { unit: 'public-mix', private: false, n: 1000, corpusSize: 2855 }
      : { unit: 'imdb', private: true, n: 640, corpusSize: 49580 },
};

describe('speed', () => {
  test('a measured model runs at its measured speed; bigger is slower, smaller faster but at most 2x', () => {
    expect(tokensPerSecond(shapes.ref!, 'train', 128)).toBe(MEASURED_SPEED.models[0]!.tokensPerSecond.train);
    expect(tokensPerSecond(shapes.big!, 'train')).toBeLessThan(MEASURED_SPEED.models[1]!.tokensPerSecond.train);
    expect(tokensPerSecond(shapes.small!, 'train', 64)).toBe(2 * MEASURED_SPEED.models[0]!.tokensPerSecond.train);
    expect(flopsPerToken(shapes.big!)).toBeGreaterThan(flopsPerToken(shapes.ref!));
  });
});

describe('estimateGraph', () => {
  test("a PublicModel's shape comes from its card (publicModelShape) and flows downstream; without it there is no time", async () => {
    const graph = graphOf([
      node('priv', 'Dataset', { corpus: 'imdb', test: 50 }, {}, false),
      node('pm', 'PublicModel', { name: 'zoo-big', sha256: 'f'.repeat(64) }, {}, false),
      node('dp', 'DPFineTune', { epochs: 1, batchSize: 64, seqLen: 64 }, { model: 'pm', data: 'priv' }),
    ]);
    const toRun = new Set(['priv', 'pm', 'dp']);
    const known = await estimateGraph(graph, toRun, {
      ...inputs,
      publicModelShape: (name) => (name === 'zoo-big' ? shapes.big : undefined),
    });
    const small = await estimateGraph(graph, toRun, { ...inputs, publicModelShape: () => shapes.small });
    expect(known.nodes[0]!.seconds).toBeGreaterThan(small.nodes[0]!.seconds!);
    expect(known.nodes[0]!.basis).not.toContain('model size unknown');
    const unknown = await estimateGraph(graph, toRun, inputs);
    expect(unknown.nodes[0]!.basis).toContain('model size unknown, no time');
  });

  test('tokens follow the params: steps, one epoch over the corpus, DP steps, and the model flows to downstream nodes', async () => {
    const graph = graphOf([
      node('pub', 'Dataset', { corpus: 'public-mix' }, {}, false),
      node('priv', 'Dataset', { corpus: 'imdb', test: 50 }, {}, false),
      node('a', 'Pretrain', { model: 'ref', steps: 10, batchSize: 16, seqLen: 128 }, { data: 'pub' }),
      node('b', 'Pretrain', { model: 'ref', epochs: 1, batchSize: 32, seqLen: 128 }, { data: 'pub' }),
      node('dp', 'DPFineTune', { epochs: 1, batchSize: 64, seqLen: 64 }, { model: 'a', data: 'priv' }),
      node('odd', 'Mystery', {}, { x: 'a' }),
      node('cached', 'Pretrain', { model: 'ref', steps: 10, batchSize: 16, seqLen: 128 }, { data: 'pub' }),
    ]);
    const e = await estimateGraph(graph, new Set(['pub', 'priv', 'a', 'b', 'dp', 'odd']), inputs);
    const by = new Map(e.nodes.map((n) => [n.node, n]));
    expect([...by.keys()]).toEqual(['a', 'b', 'dp', 'odd']); // light and cached nodes are not listed
    expect(by.get('a')!.tokens).toBe(10 * 16 * 128);
    expect(by.get('a')!.seconds).toBeCloseTo(NODE_OVERHEAD_SECONDS + (10 * 16 * 128) / MEASURED_SPEED.models[0]!.tokensPerSecond.train, 9);
    // One epoch: 1000 documents of ~1909 tokens in windows of 128, batches of 32.
    const steps = Math.floor((1000 * (5.45e6 / 2855)) / 128 / 32);
    expect(by.get('b')!.tokens).toBe(steps * 32 * 128);
    expect(by.get('dp')!.tokens).toBe(10 * 64 * 64); // ceil(640 / 64) steps
    expect(by.get('dp')!.seconds).toBeGreaterThan(NODE_OVERHEAD_SECONDS);
    expect(by.get('odd')!.tokens).toBeUndefined();
    expect(e.seconds).toBeCloseTo(by.get('a')!.seconds! + by.get('b')!.seconds! + by.get('dp')!.seconds!, 9);
  });
});
