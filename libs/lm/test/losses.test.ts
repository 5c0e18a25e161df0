// Each loss's analytic gradient (tf.grad through our customGrads / autodiff) against central finite differences.
import { describe, expect, test } from 'vitest';
import { createProjection, crossEntropy, hiddenAlignment, klDivergence, nextTokenTargets, tf } from '../src';
import { useWasm } from './helpers';

useWasm();

const B = 2,
  T = 6,
  V = 5,
  D = 3;
const seeded = (n: number, seed: number, scale = 1) => {
  let s = seed;
  return Array.from({ length: n }, () => (((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1) * scale);
};

/** Max relative error between tf.grad of f at x and central differences (float64 in JS is not available: eps 1e-2). */
const checkGradient = (f: (x: tf.Tensor2D) => tf.Scalar, x0: number[], shape: [number, number]) => {
  const analytic = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => f(x as tf.Tensor2D))(tf.tensor2d(x0, shape))
      .dataSync()
      .slice(),
  );
  const value = (x: number[]) => tf.tidy(() => f(tf.tensor2d(x, shape)).dataSync()[0]!);
  const eps = 1e-2;
  let worst = 0;
  const scale = Math.max(...Array.from(analytic, Math.abs));
  expect(scale).toBeGreaterThan(0);
  x0.forEach((_, i) => {
    const plus = x0.slice();
    plus[i]! += eps;
    const minus = x0.slice();
    minus[i]! -= eps;
    const numeric = (value(plus) - value(minus)) / (2 * eps);
    worst = Math.max(worst, Math.abs(numeric - analytic[i]!) / scale);
  });
  return worst;
};

const batch = [
  [1, 2, 3, 4, 4, 0],
  [2, 2, 1, 0, 0, 0],
]; // 0 is PAD

describe('losses', () => {
  test('CE masks PAD targets: mean and per-example-sum weights', () => {
    const { targets, weights } = nextTokenTargets(batch, 0);
    expect(Array.from(targets.slice(0, 6))).toEqual([2, 3, 4, 4, 0, 0]);
    expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1);
    expect(Array.from(weights.slice(6)).filter((w) => w > 0).length).toBe(2);
    const perExample = nextTokenTargets(batch, 0, 'per-example-sum').weights;
    expect(perExample.reduce((a, b) => a + b, 0)).toBeCloseTo(2);
    // Uniform logits: CE = log V exactly, whatever is masked.
    expect(tf.tidy(() => crossEntropy(tf.zeros([B * T, V]) as tf.Tensor2D, batch, 0).dataSync()[0])).toBeCloseTo(Math.log(V), 5);
  });

  test('CE gradient (finite differences)', () => {
    expect(checkGradient((x) => crossEntropy(x, batch, 0), seeded(B * T * V, 3, 2), [B * T, V])).toBeLessThan(1e-2);
    expect(checkGradient((x) => crossEntropy(x, batch, 0, 'per-example-sum', false), seeded(B * T * V, 4, 2), [B * T, V])).toBeLessThan(
      1e-2,
    );
  });

  test('KL: zero for equal logits, reductions differ as specified, gradient (finite differences)', () => {
    const teacher = tf.tensor2d(seeded(B * T * V, 7, 2), [B * T, V]);
    const opts = { batch: B, seq: T, temperature: 2, skipPositions: 2 };
    expect(tf.tidy(() => klDivergence(teacher, teacher, opts).dataSync()[0]!)).toBeCloseTo(0, 6);
    const student = tf.tensor2d(seeded(B * T * V, 8, 2), [B * T, V]);
    const mean = tf.tidy(() => klDivergence(student, teacher, { ...opts, reduction: 'token-mean' }).dataSync()[0]!);
    const sum = tf.tidy(() => klDivergence(student, teacher, { ...opts, reduction: 'batch-sum' }).dataSync()[0]!);
    expect(sum).toBeCloseTo((mean * B * (T - 2)) / B, 4); // summed over the 4 counted positions, / B
    expect(mean).toBeGreaterThan(0);
    for (const reduction of ['token-mean', 'batch-sum'] as const) {
      expect(checkGradient((x) => klDivergence(x, teacher, { ...opts, reduction }), seeded(B * T * V, 9, 2), [B * T, V])).toBeLessThan(
        1e-2,
      );
    }
    tf.dispose([teacher, student]);
  });

  test('hidden alignment: MSE and cosine, with a projection; gradients (finite differences)', () => {
    const teacherH = [tf.tensor2d(seeded(4 * 2, 5), [4, 2]), tf.tensor2d(seeded(4 * 2, 6), [4, 2])];
    const projection = tf.tensor2d(seeded(D * 2, 11), [D, 2]);
    for (const loss of ['mse', 'cosine'] as const) {
      const f = (x: tf.Tensor2D) =>
        hiddenAlignment([x, x], teacherH, {
          layerMap: [
            [0, 0],
            [1, 1],
          ],
          projections: [projection, projection],
          loss,
        });
      expect(checkGradient(f, seeded(4 * D, 12), [4, D])).toBeLessThan(1e-2);
      const fp = (p: tf.Tensor2D) => hiddenAlignment([tf.tensor2d(seeded(4 * D, 12), [4, D])], [teacherH[1]!], { projections: [p], loss });
      expect(checkGradient(fp, seeded(D * 2, 13), [D, 2])).toBeLessThan(1e-2);
    }
    expect(() => hiddenAlignment([tf.zeros([4, D]) as tf.Tensor2D], [teacherH[0]!])).toThrow(/projection/);
    expect(tf.tidy(() => hiddenAlignment([teacherH[0]!], [teacherH[0]!], { loss: 'cosine' }).dataSync()[0]!)).toBeCloseTo(0, 5);
    tf.dispose([...teacherH, projection]);
  });
});

describe('createProjection', () => {
  test('every seed reproduces, seed 0 included (tfjs alone would draw seed 0 from Math.random)', () => {
    for (const seed of [0, 3]) {
      const [a, b] = [createProjection(4, 6, seed), createProjection(4, 6, seed)];
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      a.dispose();
      b.dispose();
    }
    const [zero, three] = [createProjection(4, 6, 0), createProjection(4, 6, 3)];
    expect(Array.from(zero.dataSync())).not.toEqual(Array.from(three.dataSync()));
    zero.dispose();
    three.dispose();
  });
});
