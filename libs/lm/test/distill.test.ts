import { describe, expect, test } from 'vitest';
import { createModel, distillLm, tf } from '../src';
import { PAD, randomBatch, TINY, useWasm } from './helpers';

useWasm();

describe('distillation', () => {
  test('distillLm trains a narrower student with KL + hidden alignment through a learned projection, without leaks', async () => {
    const teacher = createModel(TINY, { seed: 1 });
    const student = createModel({ ...TINY, layers: 1, d: 8, heads: 2, mlp: 16 }, { seed: 2 });
    const before = tf.memory().numTensors;
    const data = randomBatch(8, 10, 6, 3);
    const { steps, losses } = await distillLm({
      student,
      teacher,
      sequences: data,
      pad: PAD,
      steps: 6,
      batchSize: 4,
      lr: 0.01,
      lambda: 0.4,
      temperature: 2,
      alpha: 1,
      klReduction: 'batch-sum',
      skipPositions: 5,
      hidden: { loss: 'cosine' },
    });
    expect(steps).toBe(6);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[5]!).toBeLessThan(losses[0]!);
    expect(tf.memory().numTensors).toBe(before);
    teacher.dispose();
    student.dispose();
  });
});
