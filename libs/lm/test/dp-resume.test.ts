// Resumable DP-SGD: a run stopped after a few steps saves its state; a run resumed from it takes exactly the
// steps the uninterrupted run takes (seeded noise: the same batches and noise), on one thread and on two. The
// saved state never holds a private statistic (the batch losses) and, with CSPRNG noise, not the sampler's
// order either (which batches the next steps hold).
import { describe, expect, test } from 'vitest';
import {
  createModel,
  decodeTrainState,
  dpTrainLmParallel,
  encodeTrainState,
  type LanguageModel,
  padSequences,
  type TrainCheckpointing,
  type TrainState,
} from '../src';
import { maxRelDiff, PAD, randomBatch, TINY, useWasm, values } from './helpers';

useWasm();

const data = padSequences(randomBatch(12, 10, 20, 5), 12, PAD);
const base = { sequences: data, pad: PAD, expectedBatch: 4, sigma: 0.8, clip: 1, steps: 7, lr: 0.01, seed: 9 };
type Sampling = 'poisson' | 'shuffle';

const paramsOf = (m: LanguageModel) => [...m.params.values()].map((p) => values(p).slice());

/** A checkpointing that keeps the last saved state in memory, round-tripped through its file encoding. */
const memoryCheckpoint = (resume?: TrainState): TrainCheckpointing & { saved: TrainState[] } => {
  const saved: TrainState[] = [];
  return {
    resume,
    everyMs: 1e9,
    saved,
    save: async (state) => void saved.push(decodeTrainState(encodeTrainState(state))),
  };
};

const run = async (o: { sampling: Sampling; threads: number; noise?: 'seeded' | 'crypto'; stopAfter?: number; resume?: TrainState }) => {
  const model = createModel(TINY, { seed: 4 });
  const checkpoint = memoryCheckpoint(o.resume);
  let taken = 0;
  const result = await dpTrainLmParallel({
    ...base,
    model,
    sampling: o.sampling,
    noise: o.noise ?? 'seeded',
    threads: o.threads,
    checkpoint,
    shouldStop: () => o.stopAfter !== undefined && taken >= o.stopAfter,
    onStep: () => void taken++,
  });
  const params = paramsOf(model);
  model.dispose();
  return { result, params, saved: checkpoint.saved };
};

describe('resumable DP-SGD', () => {
  test.each([
    ['poisson', 1],
    ['shuffle', 1],
    ['poisson', 2],
  ] as Array<[Sampling, number]>)(
    '%s batches on %i thread(s): stopped at step 3 and resumed = uninterrupted',
    async (sampling, threads) => {
      const full = await run({ sampling, threads });
      expect(full.result.steps).toBe(7);
      expect(full.saved).toHaveLength(0); // no save after the last step: the caller commits the result

      const stopped = await run({ sampling, threads, stopAfter: 3 });
      expect(stopped.result.steps).toBe(3);
      expect(stopped.saved).toHaveLength(1);
      const state = stopped.saved[0]!;
      expect(state.step).toBe(3);
      expect(state.losses).toEqual([]); // un-noised private statistics never go to disk

      const resumed = await run({ sampling, threads, resume: state });
      expect(resumed.result.steps).toBe(7); // the trajectory's steps, what the accountant is given
      expect(resumed.result.losses).toHaveLength(4); // this session's steps
      resumed.params.forEach((p, i) => expect(maxRelDiff(p, full.params[i]!)).toBeLessThan(threads === 1 ? 1e-12 : 1e-5));
      // And the resumed run really started from the saved weights: a fresh start with the same seed differs.
      expect(Math.max(...stopped.params.map((p, i) => maxRelDiff(p, full.params[i]!)))).toBeGreaterThan(1e-4);
    },
    60_000,
  );

  test('with CSPRNG noise the saved state holds no sampler order; the resumed run completes the trajectory', async () => {
    const stopped = await run({ sampling: 'shuffle', threads: 1, noise: 'crypto', stopAfter: 2 });
    const state = stopped.saved[0]!;
    expect(state.order).toEqual([]);
    expect(state.losses).toEqual([]);
    const resumed = await run({ sampling: 'shuffle', threads: 1, noise: 'crypto', resume: state });
    expect(resumed.result.steps).toBe(7);
    expect(resumed.result.losses).toHaveLength(5);
  }, 60_000);

  test('a saved state for another step count is refused', async () => {
    const stopped = await run({ sampling: 'poisson', threads: 1, stopAfter: 2 });
    await expect(run({ sampling: 'poisson', threads: 1, resume: { ...stopped.saved[0]!, total: 9 } })).rejects.toThrow(
      /saved training state is for 9 steps, this run has 7/,
    );
  }, 60_000);
});
