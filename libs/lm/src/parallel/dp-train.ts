// DP-SGD across replicas: the leader samples the logical batch (Poisson, from the CSPRNG unless seeded), each
// replica clips its share of the examples locally (a clip factor needs only its own example's gradient), the
// leader sums the clipped sums, draws the Gaussian noise once, normalises by the expected batch, and every
// replica applies that one noisy gradient with its own AdamW replica. The privacy event is unchanged: same q,
// σ, C and steps as dpTrainLm, one noise draw per logical batch. The loop itself is dp.ts's (dpSteps).
import {
  dpLoopPlan,
  type DpStepInput,
  drawNoise,
  dpTrainLm,
  type DpTrainOptions,
  type DpTrainResult,
  noisyMean,
  runDpStepsAsync,
} from '../dp';
import type { StepNoise } from '../dp';
import { ReplicaPool } from './pool';

export interface ParallelDpTrainOptions extends DpTrainOptions {
  /** Replicas, the leader included; 1 (default) is dpTrainLm on this thread. */
  threads?: number;
}

/**
 * dpTrainLm with the per-example work spread over `threads` replicas. A custom per-example loss (DPKD's
 * KD loss: naive clipping through the teacher) runs on one thread: its closure cannot cross to a worker.
 */
export const dpTrainLmParallel = async (o: ParallelDpTrainOptions): Promise<DpTrainResult> => {
  const threads = Math.max(1, Math.floor(o.threads ?? 1));
  if (threads === 1 || o.exampleLoss) return dpTrainLm(o);
  const plan = dpLoopPlan(o, 'dpTrainLm');
  const pool = await ReplicaPool.start({ threads, model: o.model, loss: { kind: 'ce', pad: o.pad } });
  let replicated = false;
  try {
    return await runDpStepsAsync(
      o,
      plan,
      (input) => parallelDpStep(pool, o, input, replicated),
      async (optimizer) => {
        replicated = await pool.replicateOptimizer(o.optimizer, optimizer.exportState());
      },
    );
  } finally {
    await pool.dispose();
  }
};

/** One DP step on the pool; the mean loss of the (private, un-noised) batch. */
const parallelDpStep = async (
  pool: ReplicaPool,
  o: ParallelDpTrainOptions,
  { batch, lr, optimizer, source, expectedBatch }: DpStepInput,
  replicated: boolean,
): Promise<number> => {
  const privacy = { sigma: o.sigma, clip: o.clip, noise: source, expectedBatch };
  let noise: StepNoise | undefined;
  const { grads: sums, loss } = await pool.clippedSum(
    batch,
    { clip: o.clip, pad: o.pad, physicalBatch: o.physicalBatch ?? Math.max(1, batch.length), method: o.method ?? 'vectorised' },
    // The noise does not depend on the gradient: drawn while the workers finish, in the one-thread order.
    () => (noise = drawNoise(o.model, privacy)),
  );
  const grads = noisyMean(o.model, sums, privacy, noise);
  if (replicated) pool.applyEverywhere(grads, lr);
  optimizer.step(o.model.params, grads, lr);
  grads.forEach((g) => g.dispose());
  if (!replicated) pool.parametersChanged();
  return batch.length > 0 ? loss / batch.length : Number.NaN;
};
