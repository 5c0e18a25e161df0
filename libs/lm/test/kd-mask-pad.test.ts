// maskPad (the paper's KD code counts PAD positions) must reach every term of every KD trainer: the CE and
// the KL of distillLoss, the KL against precomputed soft labels, and the per-example loss of DP distillation.
import { describe, expect, test } from 'vitest';
import { createModel, crossEntropy, distillLoss, forward, klDivergence, precomputedDistillLoss, softTargetKl, tf } from '../src';
import { dpDistillExampleLoss, kdMask } from '../src/distill';
import { PAD, randomBatch, TINY, useWasm } from './helpers';

useWasm();

const T = 8;
// Two rows that end in PAD, so masking PAD changes both the CE targets and the KL positions.
const batch = randomBatch(2, T, TINY.vocab - 1, 5).map((row) => [...row.slice(0, T - 3), PAD, PAD, PAD]);
const studentConfig = { ...TINY, layers: 1, d: 8, heads: 2, mlp: 16 };
const scalar = (f: () => tf.Scalar) => tf.tidy(() => f().dataSync()[0]!);
const kl = { temperature: 2, skipPositions: 1, klReduction: 'token-mean' as const };

describe('maskPad reaches every KD term', () => {
  test('kdMask: 0 at PAD unless maskPad is false', () => {
    expect(Array.from(kdMask([[1, PAD]], PAD))).toEqual([1, 0]);
    expect(Array.from(kdMask([[1, PAD]], PAD, false))).toEqual([1, 1]);
  });

  test('distillLoss: CE and KL both count PAD positions when maskPad is false', () => {
    const teacher = createModel(TINY, { seed: 1 });
    const student = createModel(studentConfig, { seed: 2 });
    for (const maskPad of [true, false]) {
      const got = scalar(() => distillLoss(student, teacher, { pad: PAD, lambda: 0.4, maskPad, ...kl })(batch));
      const want = scalar(() => {
        const ids = tf.tensor2d(batch, undefined, 'int32');
        const s = forward(student, ids).logits;
        const t = forward(teacher, ids).logits;
        const mask = maskPad ? Float32Array.from(batch.flat(), (id) => (id === PAD ? 0 : 1)) : undefined;
        const ce = crossEntropy(s, batch, PAD, 'mean', maskPad);
        const k = klDivergence(s, t, {
          batch: 2,
          seq: T,
          temperature: kl.temperature,
          skipPositions: kl.skipPositions,
          reduction: kl.klReduction,
          mask,
        });
        return tf.add(tf.mul(ce, 0.6), tf.mul(k, 0.4)) as tf.Scalar;
      });
      expect(got, `maskPad ${maskPad}`).toBeCloseTo(want, 5);
    }
    teacher.dispose();
    student.dispose();
  });

  test('precomputedDistillLoss: the soft-label KL counts PAD positions when maskPad is false', () => {
    const teacher = createModel(TINY, { seed: 1 });
    const student = createModel(studentConfig, { seed: 2 });
    const probs = tf.tidy(() => tf.softmax(forward(teacher, tf.tensor2d(batch, undefined, 'int32')).logits).dataSync() as Float32Array);
    const soft = { topK: 0, vocab: TINY.vocab, probs };
    const loss = (maskPad: boolean) =>
      scalar(() => precomputedDistillLoss({ student, pad: PAD, lambda: 1, maskPad, ...kl, targetsFor: () => ({ soft }) })(batch));
    const klWith = (mask?: Float32Array) =>
      scalar(() =>
        softTargetKl(forward(student, tf.tensor2d(batch, undefined, 'int32')).logits, soft, {
          batch: 2,
          seq: T,
          temperature: kl.temperature,
          skipPositions: kl.skipPositions,
          reduction: kl.klReduction,
          mask,
        }),
      );
    expect(loss(false)).toBeCloseTo(klWith(undefined), 5);
    expect(loss(true)).toBeCloseTo(klWith(kdMask(batch, PAD)), 5);
    expect(Math.abs(loss(false) - loss(true))).toBeGreaterThan(1e-4);
    teacher.dispose();
    student.dispose();
  });

  test('DP distillation: the per-example loss is distillLoss on a batch of one, maskPad included', () => {
    const teacher = createModel(TINY, { seed: 1 });
    const student = createModel(studentConfig, { seed: 2 });
    const example = batch[0]!;
    const perExample = (maskPad: boolean) =>
      scalar(() => dpDistillExampleLoss({ student, teacher, pad: PAD, lambda: 0.4, maskPad, ...kl })(example));
    const ofBatchOfOne = (maskPad: boolean) =>
      scalar(() => distillLoss(student, teacher, { pad: PAD, lambda: 0.4, maskPad, ...kl })([example]));
    for (const maskPad of [true, false]) expect(perExample(maskPad)).toBeCloseTo(ofBatchOfOne(maskPad), 6);
    expect(Math.abs(perExample(false) - perExample(true))).toBeGreaterThan(1e-4);
    teacher.dispose();
    student.dispose();
  });
});
