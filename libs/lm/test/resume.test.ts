import { describe, expect, test } from 'vitest';
import {
  createModel,
  createRng,
  decodeCheckpoint,
  decodeTrainState,
  encodeCheckpoint,
  encodeTrainState,
  forward,
  fromHalf,
  padSequences,
  restoreRng,
  tf,
  toHalf,
  trainLm,
  type TrainState,
} from '../src';
import { PAD, randomBatch, TINY, useWasm, values } from './helpers';

useWasm();

const data = padSequences(randomBatch(11, 10, 20, 7), 12, PAD); // 11 sequences, batch 4: the order spans epochs
const options = {
  sequences: data,
  pad: PAD,
  steps: 9,
  batchSize: 4,
  microBatchSize: 2,
  lr: 0.01,
  seed: 3,
  schedule: { kind: 'cosine' as const, warmup: 2, total: 9 },
  clipNorm: 1,
  optimizer: { weightDecay: 0.1 },
};
const paramsOf = (m: ReturnType<typeof createModel>) => new Map([...m.params].map(([n, p]) => [n, Array.from(values(p))]));

describe('resumable training', () => {
  test('the generator state continues the exact sequence, Box-Muller spare included', () => {
    const a = createRng(5);
    a.next();
    a.normal(); // leaves a spare normal behind
    const b = restoreRng(JSON.parse(JSON.stringify(a.state())));
    expect([b.normal(), b.next(), b.normal()]).toEqual([a.normal(), a.next(), a.normal()]);
  });

  test('a run stopped after k steps and resumed from its saved state ends bitwise equal to an uninterrupted run', async () => {
    const full = createModel(TINY, { seed: 1 });
    const uninterrupted = await trainLm({ ...options, model: full });
    const expected = paramsOf(full);
    full.dispose();

    for (const k of [1, 4, 6]) {
      const first = createModel(TINY, { seed: 1 });
      let saved: Uint8Array | undefined;
      let calls = 0;
      const stopped = await trainLm({
        ...options,
        model: first,
        shouldStop: () => calls++ >= k,
        checkpoint: {
          everyMs: 3_600_000,
          save: async (s) => void (saved = encodeTrainState(s)),
          extra: () => ({ extra: { note: 'kept' } }),
        },
      });
      first.dispose();
      expect(stopped.steps).toBe(k);
      const state: TrainState = decodeTrainState(saved!); // through bytes, as from the store
      expect(state.step).toBe(k);
      expect(state.extra).toEqual({ note: 'kept' });
      expect(state.optimizer.t).toBe(k);

      const before = tf.memory().numTensors;
      const second = createModel(TINY, { seed: 99 }); // other initial weights: all of them come from the state
      const resumed = await trainLm({
        ...options,
        model: second,
        checkpoint: { everyMs: 3_600_000, resume: state, save: async () => undefined },
      });
      expect(resumed.steps).toBe(9);
      expect(resumed.losses).toEqual(uninterrupted.losses);
      expect(paramsOf(second)).toEqual(expected);
      second.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  test('periodic saves happen every everyMs and at the end; a state from other training is refused', async () => {
    const m = createModel(TINY, { seed: 1 });
    const steps: number[] = [];
    await trainLm({ ...options, model: m, checkpoint: { everyMs: 0, save: async (s) => void steps.push(s.step) } });
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let last: TrainState | undefined;
    await trainLm({ ...options, steps: 3, model: m, checkpoint: { everyMs: 3_600_000, save: async (s) => void (last = s) } });
    expect(last!.step).toBe(3);
    await expect(trainLm({ ...options, model: m, checkpoint: { everyMs: 0, resume: last, save: async () => undefined } })).rejects.toThrow(
      /for 3 steps, this run has 9/,
    );
    m.dispose();
  });

  test('float16: round to nearest even, exact on representable values, too large values refused', () => {
    for (const x of [0, 1, -2, 0.5, 65504, 2 ** -24, -(2 ** -14)]) expect(fromHalf(toHalf(x))).toBe(x);
    expect(fromHalf(toHalf(1 + 2 ** -11))).toBe(1); // a tie: rounds to the even mantissa
    expect(fromHalf(toHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(fromHalf(toHalf(0.1))).toBeCloseTo(0.1, 4);
    expect(() => toHalf(70000)).toThrow(/float16/);
  });

  test('a model stored as F16 loads with logits close to the F32 original; F32 is exact', () => {
    const m = createModel(TINY, { seed: 4 });
    const ids = tf.tensor2d([data[0]!], undefined, 'int32');
    const logits = (model: typeof m) => tf.tidy(() => Array.from(forward(model, ids).logits.dataSync()));
    const reference = logits(m);
    const f32 = decodeCheckpoint(encodeCheckpoint(m, {}, 'F32')).model;
    const f16 = decodeCheckpoint(encodeCheckpoint(m, {}, 'F16')).model;
    expect(logits(f32)).toEqual(reference);
    const half = logits(f16);
    expect(Math.max(...half.map((v, i) => Math.abs(v - reference[i]!)))).toBeLessThan(1e-2);
    expect(encodeCheckpoint(m, {}, 'F16').length).toBeLessThan(0.6 * encodeCheckpoint(m, {}, 'F32').length);
    [m, f32, f16].forEach((x) => x.dispose());
    ids.dispose();
  });
});
