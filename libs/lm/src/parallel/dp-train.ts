// DP-SGD across replicas: the leader samples the logical batch (Poisson, from the CSPRNG unless seeded), each
// replica clips its share of the examples locally (a clip factor needs only its own example's gradient), the
// leader sums the clipped sums, draws the Gaussian noise once, normalises by the expected batch, and every
// replica applies that one noisy gradient with its own AdamW replica. The privacy event is unchanged: same q,
// σ, C and steps as dpTrainLm, one noise draw per logical batch. The loop itself is dp.ts's (dpSteps).
// The per-example loss is the pool's (a spec each worker rebuilds): CE for dpTrainLm, or DPKD's KD loss
// through a frozen teacher replica in every worker for dpDistillLm.
import { type DpDistillOptions, dpDistillLmAsync, dpDistillObjective } from '../distill';
import {
  dpLoopPlan,
  type DpStepInput,
  drawNoise,
  dpTrainLmAsync,
  type DpTrainOptions,
  type DpTrainResult,
  noisyMean,
  runDpStepsAsync,
} from '../dp';
import type { StepNoise } from '../dp';
import { ReplicaPool, type ReplicaPoolOptions } from './pool';

export interface ParallelDpTrainOptions extends DpTrainOptions {
  /** Replicas, the leader included; 1 (default) is dpTrainLm's step on this thread. */
  threads?: number;
}

export interface ParallelDpDistillOptions extends DpDistillOptions {
  /** Replicas, the leader included; 1 (default) is dpDistillLm's step on this thread. */
  threads?: number;
}

const threadsOf = (o: { threads?: number }) => Math.max(1, Math.floor(o.threads ?? 1));

/**
 * dpTrainLm with the per-example work spread over `threads` replicas. A custom `exampleLoss` closure cannot
 * cross to a worker, so it runs on one thread (the DPKD student has its own: dpDistillLmParallel).
 */
export const dpTrainLmParallel = async (o: ParallelDpTrainOptions): Promise<DpTrainResult> => {
  const threads = threadsOf(o);
  if (threads === 1 || o.exampleLoss) return dpTrainLmAsync(o);
  return dpTrainOnPool(o, { threads, model: o.model, loss: { kind: 'ce', pad: o.pad } }, 'dpTrainLm');
};

/**
 * dpDistillLm (the DPKD student: naive per-example clipping of the KD loss through a live teacher) across
 * `threads` replicas: each worker holds a frozen teacher replica, sent once at start, and rebuilds the same
 * per-example loss from its spec. Same batches, noise and privacy event as one thread.
 */
export const dpDistillLmParallel = async (o: ParallelDpDistillOptions): Promise<DpTrainResult> => {
  const threads = threadsOf(o);
  if (threads === 1) return dpDistillLmAsync(o);
  return dpTrainOnPool(
    { ...o, model: o.student, method: 'naive' },
    { threads, model: o.student, teacher: o.teacher, loss: { kind: 'live-kd', ...dpDistillObjective(o) } },
    'dpDistillLm',
  );
};

/** The DP loop with every step on a pool started from `pool` (disposed at the end). */
const dpTrainOnPool = async (o: DpTrainOptions, pool: ReplicaPoolOptions, caller: string): Promise<DpTrainResult> => {
  const plan = dpLoopPlan(o, caller);
  let replicas: ReplicaPool | undefined;
  let replicated = false;
  try {
    return await runDpStepsAsync(
      o,
      plan,
      (input) => parallelDpStep(replicas!, o, input, replicated),
      async (optimizer) => {
        // Started once a resumed run has restored the weights: the workers begin from them.
        replicas = await ReplicaPool.start(pool);
        replicated = await replicas.replicateOptimizer(o.optimizer, optimizer.exportState());
      },
    );
  } finally {
    await replicas?.dispose();
  }
};

/** One DP step on the pool; the mean loss of the (private, un-noised) batch. */
const parallelDpStep = async (
  pool: ReplicaPool,
  o: DpTrainOptions,
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
