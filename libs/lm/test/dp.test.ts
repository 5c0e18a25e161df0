import { describe, expect, test } from 'vitest';
import {
  ceLoss,
  createModel,
  createRng,
  cryptoSource,
  dpGradient,
  dpTrainLm,
  naiveClippedSum,
  poissonSample,
  seededSource,
  tf,
  vectorisedClippedSum,
} from '../src';
import { maxRelDiff, PAD, randomBatch, TINY, useWasm, values } from './helpers';

useWasm();

describe('DP-SGD', () => {
  test('vectorised and naive per-example norms and clipped sums agree (1e-5 relative), with PAD and repeated tokens', () => {
    const m = createModel(TINY, { seed: 3 });
    const batch = randomBatch(4, 10, 12, 9); // few distinct tokens: repeated ids in the tied embedding
    batch[1]!.splice(6, 4, PAD, PAD, PAD, PAD);
    for (const clip of [0.05, 1e9]) {
      const a = vectorisedClippedSum(m, batch, clip, PAD);
      const b = naiveClippedSum(m, batch, clip, PAD);
      expect(maxRelDiff(a.norms, b.norms)).toBeLessThan(1e-5);
      expect(a.loss).toBeCloseTo(b.loss, 4);
      expect([...a.sum.keys()].sort()).toEqual([...m.params.keys()].sort());
      for (const [name, g] of b.sum) {
        const rel = maxRelDiff(values(a.sum.get(name)!), values(g));
        if (rel > 1e-5) throw new Error(`${name}: relative difference ${rel}`);
      }
      [...a.sum.values(), ...b.sum.values()].forEach((t) => t.dispose());
    }
    m.dispose();
  });

  test('every per-example gradient norm is <= C after clipping', () => {
    const m = createModel(TINY, { seed: 4 });
    const batch = randomBatch(3, 8, PAD, 1);
    const clip = 0.01;
    const { norms } = vectorisedClippedSum(m, batch, clip, PAD);
    expect(Math.min(...norms)).toBeGreaterThan(clip); // clipping is active for every example
    for (const example of batch) {
      const single = vectorisedClippedSum(m, [example], clip, PAD);
      const norm = Math.sqrt([...single.sum.values()].reduce((s, g) => s + (tf.sum(tf.square(g)).dataSync()[0] as number), 0));
      expect(norm).toBeLessThanOrEqual(clip);
      expect(norm).toBeGreaterThan(clip * 0.999);
      single.sum.forEach((g) => g.dispose());
    }
    m.dispose();
  });

  test('sigma = 0 and C = infinity: the DP step is the non-private step', () => {
    const batch = randomBatch(4, 8, PAD, 2); // no PAD: per-example means average to the batch mean
    const m = createModel(TINY, { seed: 6 });
    const { grads } = dpGradient(m, batch, {
      clip: Infinity,
      sigma: 0,
      expectedBatch: 4,
      physicalBatch: 3,
      noise: seededSource(createRng(0)),
      lr: 0.01,
      pad: PAD,
    });
    const vars = [...m.params.values()];
    const plain = tf.variableGrads(() => ceLoss(m, PAD)(batch), vars);
    for (const [name, p] of m.params) {
      const rel = maxRelDiff(values(grads.get(name)!), values(plain.grads[p.name]!));
      if (rel > 1e-5) throw new Error(`${name}: relative difference ${rel}`);
    }
    tf.dispose([plain.value, ...Object.values(plain.grads), ...grads.values()]);
    m.dispose();
  });

  test('noise: empirical std of the noisy gradient is sigma*C/expectedBatch; seeded noise reproduces', () => {
    const m = createModel(TINY, { seed: 8 });
    const noiseOf = (seed: number) => {
      // An empty logical batch (possible under Poisson sampling): the gradient is pure noise.
      const { grads } = dpGradient(m, [], { clip: 2, sigma: 1.5, expectedBatch: 4, noise: seededSource(createRng(seed)), lr: 0, pad: PAD });
      const v = values(grads.get('wte')!).slice();
      grads.forEach((g) => g.dispose());
      return v;
    };
    const v = noiseOf(1);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    expect(std).toBeGreaterThan(0.75 * 0.95);
    expect(std).toBeLessThan(0.75 * 1.05);
    expect(noiseOf(1)).toEqual(v);
    expect(noiseOf(2)).not.toEqual(v);
    m.dispose();
  });

  test('Poisson sampling: variable batch size with mean qN; dpTrainLm reports the steps taken', () => {
    const source = cryptoSource();
    const sizes = Array.from({ length: 200 }, () => poissonSample(100, 0.1, source).length);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    expect(mean).toBeGreaterThan(9);
    expect(mean).toBeLessThan(11);
    expect(new Set(sizes).size).toBeGreaterThan(5);
    const m = createModel(TINY, { seed: 1 });
    const seen: number[] = [];
    const before = tf.memory().numTensors;
    const r = dpTrainLm({
      model: m,
      sequences: randomBatch(20, 8, PAD, 4),
      pad: PAD,
      expectedBatch: 4,
      sigma: 1,
      clip: 1,
      steps: 5,
      physicalBatch: 2,
      lr: 1e-3,
      onStep: (s) => seen.push(s.batchSize),
      shouldStop: () => seen.length >= 4,
    });
    expect(r.steps).toBe(4);
    expect(r.q).toBeCloseTo(0.2);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  test("noise 'seeded' reproduces a run from its seed; 'crypto' does not (sampling and noise from the OS CSPRNG)", () => {
    const data = randomBatch(12, 8, PAD, 5);
    const train = (noise: 'seeded' | 'crypto') => {
      const m = createModel(TINY, { seed: 1 });
      const sizes: number[] = [];
      dpTrainLm({
        model: m,
        sequences: data,
        pad: PAD,
        q: 0.5,
        sigma: 1,
        clip: 1,
        steps: 3,
        lr: 1e-2,
        seed: 7,
        noise,
        onStep: (s) => sizes.push(s.batchSize),
      });
      const wte = values(m.params.get('wte')!);
      m.dispose();
      return { wte, sizes };
    };
    expect(train('seeded')).toEqual(train('seeded'));
    expect(train('crypto').wte).not.toEqual(train('crypto').wte);
  });

  test('the default is crypto: two runs with the same seed and no noise option differ', () => {
    const data = randomBatch(12, 8, PAD, 5);
    const train = () => {
      const m = createModel(TINY, { seed: 1 });
      dpTrainLm({ model: m, sequences: data, pad: PAD, q: 0.5, sigma: 1, clip: 1, steps: 2, lr: 1e-2, seed: 7 });
      const wte = values(m.params.get('wte')!);
      m.dispose();
      return wte;
    };
    expect(train()).not.toEqual(train());
  });
});
