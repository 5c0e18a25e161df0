// The speed-motivated kernels (split attention, fused head + CE, sigmoid-form GELU, matmul row sums)
// against the plain tfjs formulations they replace: same values and gradients within float tolerance.
import { describe, expect, test } from 'vitest';
import { createModel, crossEntropy, forward, tf, weightedNll } from '../src';
import { ceLoss } from '../src/train';
import { gelu, splitAttention, sumPerExample, sumRows, tiedHead, tiedHeadNll } from '../src/ops';
import { maxRelDiff, PAD, randomBatch, TINY, useWasm, values } from './helpers';

useWasm();

const gradsOf = (f: () => tf.Scalar, vars: tf.Variable[]) => {
  const { value, grads } = tf.variableGrads(f, vars);
  const out = { value: value.dataSync()[0]!, grads: vars.map((v) => values(grads[v.name]!).slice()) };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
};

describe('fast ops', () => {
  test('split attention = batched attention: model logits and every parameter gradient (1e-5 relative)', () => {
    const m = createModel(TINY, { seed: 5 });
    const batch = randomBatch(3, 12, PAD, 4);
    batch[2]!.splice(8, 4, PAD, PAD, PAD, PAD);
    const vars = [...m.params.values()];
    const ids = () => tf.tensor2d(batch, undefined, 'int32');
    const logits = (attention: 'split' | 'batched') => tf.tidy(() => values(forward(m, ids(), { attention }).logits).slice());
    expect(maxRelDiff(logits('split'), logits('batched'))).toBeLessThan(1e-5);
    const loss = (attention: 'split' | 'batched') => () => crossEntropy(forward(m, ids(), { attention }).logits, batch, PAD);
    const a = gradsOf(loss('split'), vars);
    const b = gradsOf(loss('batched'), vars);
    expect(a.value).toBeCloseTo(b.value, 5);
    vars.forEach((v, i) => {
      const rel = maxRelDiff(a.grads[i]!, b.grads[i]!);
      if (!(rel < 1e-5)) throw new Error(`${v.name}: relative difference ${rel}`);
    });
    m.dispose();
  });

  test('split attention gradient w.r.t. q, k, v matches autodiff of the batched formula (with earlier cached keys)', () => {
    const [BH, T, S, dh] = [3, 5, 7, 4];
    const rnd = (shape: [number, number, number], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor3D;
    const mask = tf.tensor2d(
      Array.from({ length: T * S }, (_, i) => (i % S > Math.floor(i / S) + S - T ? -1e9 : 0)),
      [T, S],
    );
    const [q, k, v] = [rnd([BH, T, dh], 1), rnd([BH, S, dh], 2), rnd([BH, S, dh], 3)];
    const weight = rnd([BH, T, dh], 4);
    const batched = (qi: tf.Tensor3D, ki: tf.Tensor3D, vi: tf.Tensor3D) =>
      tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(qi, ki, false, true), 0.5), mask)), vi);
    const objective = (f: typeof batched) => (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) =>
      tf.sum(tf.mul(f(qi as tf.Tensor3D, ki as tf.Tensor3D, vi as tf.Tensor3D), weight)) as tf.Scalar;
    const ga = tf.grads(objective((a, b, c) => splitAttention(a, b, c, mask, 0.5)))([q, k, v]);
    const gb = tf.grads(objective(batched))([q, k, v]);
    ga.forEach((g, i) => expect(maxRelDiff(values(g), values(gb[i]!))).toBeLessThan(1e-5));
    tf.dispose([mask, q, k, v, weight, ...ga, ...gb]);
  });

  test('fused tied head + CE = tiedHead then weightedNll: value, dh and dwte, with zero weights', () => {
    const [N, V, d] = [7, 11, 4];
    const h = tf.randomNormal([N, d], 0, 2, 'float32', 1) as tf.Tensor2D;
    const wte = tf.randomNormal([V, d], 0, 2, 'float32', 2) as tf.Tensor2D;
    const targets = tf.tensor1d([0, 3, 10, 3, 5, 7, 1], 'int32');
    const weights = tf.tensor1d([0.5, 0, 1, 2, 0.25, 1, 0]);
    const fused = (hi: tf.Tensor, wi: tf.Tensor) => tiedHeadNll(hi as tf.Tensor2D, wi as tf.Tensor2D, targets, weights);
    const plain = (hi: tf.Tensor, wi: tf.Tensor) => weightedNll(tiedHead(hi as tf.Tensor2D, wi as tf.Tensor2D), targets, weights);
    const va = tf.tidy(() => fused(h, wte).dataSync()[0]!);
    const vb = tf.tidy(() => plain(h, wte).dataSync()[0]!);
    expect(Math.abs(va - vb) / Math.abs(vb)).toBeLessThan(1e-5);
    const ga = tf.grads(fused)([h, wte]);
    const gb = tf.grads(plain)([h, wte]);
    ga.forEach((g, i) => expect(maxRelDiff(values(g), values(gb[i]!))).toBeLessThan(1e-5));
    tf.dispose([h, wte, targets, weights, ...ga, ...gb]);
  });

  test('fused head + CE = plain tf.matMul + log-softmax under tf.grad (no customGrad): value, dh, dwte', () => {
    const [N, V, d] = [24, 13, 5];
    const h = tf.randomNormal([N, d], 0, 2, 'float32', 3) as tf.Tensor2D;
    const wte = tf.randomNormal([V, d], 0, 2, 'float32', 4) as tf.Tensor2D;
    const targets = tf.tensor1d(
      Array.from({ length: N }, (_, i) => (i * 7) % V),
      'int32',
    );
    const weights = tf.tensor1d(Array.from({ length: N }, (_, i) => (i % 5 === 0 ? 0 : 1 / (1 + (i % 3)))));
    const plain = (hi: tf.Tensor, wi: tf.Tensor) => {
      const logp = tf.logSoftmax(tf.matMul(hi, wi, false, true));
      return tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(logp, tf.oneHot(targets, V)), 1), weights))) as tf.Scalar;
    };
    const fused = (hi: tf.Tensor, wi: tf.Tensor) => tiedHeadNll(hi as tf.Tensor2D, wi as tf.Tensor2D, targets, weights);
    const va = tf.tidy(() => fused(h, wte).dataSync()[0]!);
    const vb = tf.tidy(() => plain(h, wte).dataSync()[0]!);
    expect(Math.abs(va - vb) / Math.abs(vb)).toBeLessThan(1e-5);
    const ga = tf.grads(fused)([h, wte]);
    const gb = tf.grads(plain)([h, wte]);
    ga.forEach((g, i) => expect(maxRelDiff(values(g), values(gb[i]!)), `gradient ${i}`).toBeLessThan(1e-5));
    tf.dispose([h, wte, targets, weights, ...ga, ...gb]);
  });

  test('ceLoss (fused) = crossEntropy(forward().logits): value and gradients', () => {
    const m = createModel(TINY, { seed: 6 });
    const batch = randomBatch(2, 9, PAD, 8);
    batch[0]!.splice(7, 2, PAD, PAD);
    const vars = [...m.params.values()];
    const a = gradsOf(() => ceLoss(m, PAD)(batch), vars);
    const b = gradsOf(() => crossEntropy(forward(m, tf.tensor2d(batch, undefined, 'int32')).logits, batch, PAD), vars);
    expect(a.value).toBeCloseTo(b.value, 5);
    vars.forEach((v, i) => expect(maxRelDiff(a.grads[i]!, b.grads[i]!)).toBeLessThan(1e-5));
    m.dispose();
  });

  test("GELU in sigmoid form = GPT-2's tanh formula, value and gradient", () => {
    const x = tf.linspace(-6, 6, 101);
    const tanhForm = (t: tf.Tensor) =>
      tf.mul(tf.mul(t, 0.5), tf.add(tf.tanh(tf.mul(tf.add(t, tf.mul(tf.pow(t, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1));
    expect(maxRelDiff(values(gelu(x)), values(tanhForm(x)))).toBeLessThan(1e-6);
    expect(maxRelDiff(values(tf.grad((t) => gelu(t))(x)), values(tf.grad(tanhForm)(x)))).toBeLessThan(1e-5);
  });

  test('row sums by matmul = tf.sum', () => {
    const x = tf.randomNormal([12, 5], 0, 1, 'float32', 3) as tf.Tensor2D;
    expect(maxRelDiff(values(sumRows(x)), values(tf.sum(x, 0)))).toBeLessThan(1e-6);
    expect(maxRelDiff(values(sumPerExample(x, 3)), values(tf.sum(tf.reshape(x, [3, 4, 5]), 1)))).toBeLessThan(1e-6);
    x.dispose();
  });
});
