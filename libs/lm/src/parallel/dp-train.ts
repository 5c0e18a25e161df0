// DP-SGD across replicas: the leader samples the logical batch (Poisson, from the CSPRNG unless seeded), each
// replica clips its shard's examples locally (a clip factor needs only its own example's gradient), the
// leader sums the clipped sums, draws the Gaussian noise once, normalises by the expected batch and steps.
// The privacy event is unchanged: same q, σ, C and steps as dpTrainLm, one noise draw per logical batch.
import { AdamW, learningRate } from '../optim';
import { dpLoopPlan, dpTrainLm, type DpTrainOptions, type DpTrainResult, noisyMean } from '../dp';
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
  const { q, expectedBatch, total, source, nextBatch } = dpLoopPlan(o, 'dpTrainLm');
  const pool = await ReplicaPool.start({ threads, model: o.model, loss: { kind: 'ce', pad: o.pad } });
  const optimizer = new AdamW(o.optimizer);
  const losses: number[] = [];
  let step = 0;
  try {
    for (; step < total; step++) {
      if (o.shouldStop?.()) break;
      const batch = nextBatch();
      const lr = learningRate(o.lr ?? 1e-4, o.schedule ?? { kind: 'constant' }, step);
      const { grads: sums, loss } = await pool.clippedSum(batch, {
        clip: o.clip,
        pad: o.pad,
        physicalBatch: o.physicalBatch ?? Math.max(1, batch.length),
        method: o.method ?? 'vectorised',
      });
      const grads = noisyMean(o.model, sums, { sigma: o.sigma, clip: o.clip, noise: source, expectedBatch });
      optimizer.step(o.model.params, grads, lr);
      grads.forEach((g) => g.dispose());
      pool.parametersChanged();
      const mean = batch.length > 0 ? loss / batch.length : Number.NaN;
      losses.push(mean);
      o.onStep?.({ step: step + 1, total, loss: mean, batchSize: batch.length });
    }
  } finally {
    optimizer.dispose();
    await pool.dispose();
  }
  return { steps: step, q, sigma: o.sigma, losses };
};
