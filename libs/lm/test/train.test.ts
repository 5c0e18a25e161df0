import { describe, expect, test } from 'vitest';
import { AdamW, ceLoss, createModel, gradientStep, learningRate, padSequences, tf, trainLm } from '../src';
import { maxRelDiff, PAD, randomBatch, TINY, useWasm, values } from './helpers';

useWasm();

describe('training', () => {
  test('schedules: constant, warmup then linear / cosine decay', () => {
    expect(learningRate(1, { kind: 'constant' }, 99)).toBe(1);
    const lin = { kind: 'linear' as const, warmup: 10, total: 110 };
    expect(learningRate(1, lin, 0)).toBeCloseTo(0.1);
    expect(learningRate(1, lin, 9)).toBeCloseTo(1);
    expect(learningRate(1, lin, 60)).toBeCloseTo(0.5);
    expect(learningRate(1, lin, 110)).toBeCloseTo(0);
    const cos = { kind: 'cosine' as const, total: 100, minFactor: 0.1 };
    expect(learningRate(1, cos, 0)).toBeCloseTo(1);
    expect(learningRate(1, cos, 50)).toBeCloseTo(0.55);
    expect(learningRate(1, cos, 100)).toBeCloseTo(0.1);
  });

  test('AdamW is keyed by name: gradient order does not matter; matches the closed form', () => {
    const run = (order: string[]) => {
      const params = new Map([
        ['a', tf.variable(tf.tensor1d([1, 2]))],
        ['b', tf.variable(tf.tensor1d([3]))],
      ]);
      const opt = new AdamW({ weightDecay: 0.1, decays: () => true });
      for (let step = 0; step < 3; step++) {
        const grads = new Map(order.map((n) => [n, n === 'a' ? tf.tensor1d([0.5, -1]) : tf.tensor1d([2])] as const));
        opt.step(params, grads, 0.1);
        grads.forEach((g) => g.dispose());
        order = [...order].reverse();
      }
      const out = [...values(params.get('a')!), ...values(params.get('b')!)];
      opt.dispose();
      params.forEach((p) => p.dispose());
      return out;
    };
    const x = run(['a', 'b']);
    expect(run(['b', 'a'])).toEqual(x);
    // Constant gradient: bias-corrected m/sqrt(v) = sign(g) (up to eps), so p <- p - lr (sign(g) + wd p).
    let p = 3;
    for (let i = 0; i < 3; i++) p = p - 0.1 * (1 + 0.1 * p);
    expect(x[2]).toBeCloseTo(p, 5);
  });

  test('gradient accumulation over micro-batches equals one full batch', () => {
    const batch = randomBatch(4, 8, PAD, 3);
    const results = [[batch], [batch.slice(0, 2), batch.slice(2)]].map((micro) => {
      const m = createModel(TINY, { seed: 5 });
      const opt = new AdamW();
      gradientStep(m.params, opt, micro, ceLoss(m, PAD), { lr: 0.01, clipNorm: 0.5 });
      const v = values(m.params.get('h0.mlp.fc.w')!).slice();
      opt.dispose();
      m.dispose();
      return v;
    });
    expect(maxRelDiff(results[1]!, results[0]!)).toBeLessThan(1e-5);
  });

  test('loss decreases and tensors do not leak across steps', async () => {
    const m = createModel(TINY, { seed: 2 });
    const data = padSequences(randomBatch(8, 10, 6, 11), 12, PAD); // a small vocabulary: easy to learn
    const counts: number[] = [];
    const { losses, steps } = await trainLm({
      model: m,
      sequences: data,
      pad: PAD,
      steps: 12,
      batchSize: 4,
      microBatchSize: 2,
      lr: 0.01,
      schedule: { kind: 'cosine', warmup: 2, total: 12 },
      clipNorm: 1,
      onStep: () => counts.push(tf.memory().numTensors),
    });
    expect(steps).toBe(12);
    expect(losses[11]!).toBeLessThan(losses[0]! - 0.5);
    expect(new Set(counts.slice(1)).size).toBe(1);
    let stopAfter = 0;
    const stopped = await trainLm({ model: m, sequences: data, pad: PAD, steps: 10, batchSize: 4, shouldStop: () => stopAfter++ >= 3 });
    expect(stopped.steps).toBe(3);
    m.dispose();
  });
});
