import * as tf from '@tensorflow/tfjs';
import { nextTokenTargets } from './losses';
import { forwardHidden, type LanguageModel } from './model';
import { tiedHeadNll } from './ops';
import { AdamW, type AdamWOptions, clipByGlobalNorm, learningRate, type Schedule } from './optim';
import { createRng, shuffledIndices } from './rng';

export type Batch = number[][];

export interface StepReport {
  step: number;
  total: number;
  loss: number;
}

/** Loss of one micro-batch; its gradient flows to `params` (and any extra trainable variables). */
export type LossFn = (batch: Batch) => tf.Scalar;

/** Mean next-token CE with PAD masked (= crossEntropy(forward(...).logits, batch, pad), with the head fused into the loss). */
export const ceLoss = (model: LanguageModel, pad: number): LossFn => (batch) => {
  const { targets, weights } = nextTokenTargets(batch, pad, 'mean');
  const { final } = forwardHidden(model, tf.tensor2d(batch, undefined, 'int32'));
  return tiedHeadNll(final, model.params.get('wte')! as tf.Tensor as tf.Tensor2D, tf.tensor1d(targets, 'int32'), tf.tensor1d(weights));
};

/**
 * One optimiser step over a logical batch made of micro-batches (gradient accumulation: the mean of
 * the micro-batch gradients), optional global-norm clipping, then AdamW. Returns the mean loss.
 */
export const gradientStep = (
  params: Map<string, tf.Variable>,
  optimizer: AdamW,
  microBatches: Batch[],
  lossOf: LossFn,
  options: { lr: number; clipNorm?: number },
): number => {
  const names = [...params.keys()];
  const varList = names.map((n) => params.get(n)!);
  const nameOf = new Map(varList.map((v, i) => [v.name, names[i]!]));
  const sum = new Map<string, tf.Tensor>();
  let loss = 0;
  for (const micro of microBatches) {
    const { value, grads } = tf.variableGrads(() => lossOf(micro), varList);
    loss += value.dataSync()[0]! / microBatches.length;
    value.dispose();
    for (const [varName, g] of Object.entries(grads)) {
      const name = nameOf.get(varName)!;
      const scaled = tf.tidy(() => (sum.has(name) ? tf.add(sum.get(name)!, tf.div(g, microBatches.length)) : tf.div(g, microBatches.length)));
      sum.get(name)?.dispose();
      g.dispose();
      sum.set(name, scaled);
    }
  }
  if (options.clipNorm !== undefined && Number.isFinite(options.clipNorm)) clipByGlobalNorm(sum, options.clipNorm);
  optimizer.step(params, sum, options.lr);
  sum.forEach((g) => g.dispose());
  return loss;
};

export interface TrainOptions {
  model: LanguageModel;
  /** Token sequences, all of the same length (see padSequences). */
  sequences: Batch;
  pad: number;
  steps?: number;
  epochs?: number;
  batchSize: number;
  /** Micro-batch size for gradient accumulation (default: batchSize). */
  microBatchSize?: number;
  lr?: number;
  schedule?: Schedule;
  optimizer?: AdamWOptions;
  clipNorm?: number;
  seed?: number;
  /** Replace the CE loss (e.g. distillation); extra trainable variables go in extraParams. */
  loss?: LossFn;
  extraParams?: Map<string, tf.Variable>;
  shouldStop?: () => boolean;
  onStep?: (report: StepReport) => void;
}

export const padSequences = (sequences: number[][], length: number, pad: number): Batch =>
  sequences.map((s) => (s.length >= length ? s.slice(0, length) : [...s, ...new Array<number>(length - s.length).fill(pad)]));

export const chunk = <X>(items: X[], size: number): X[][] => {
  const out: X[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/** Non-private training: shuffled fixed-size batches, AdamW, schedule, accumulation, clipping. */
export const trainLm = (o: TrainOptions): { steps: number; losses: number[] } => {
  if (o.sequences.length === 0) throw new Error('trainLm: no training sequences');
  const perEpoch = Math.max(1, Math.floor(o.sequences.length / o.batchSize));
  const total = o.steps ?? perEpoch * (o.epochs ?? 1);
  const rng = createRng(o.seed ?? 0);
  const optimizer = new AdamW(o.optimizer);
  const params = new Map([...o.model.params, ...(o.extraParams ?? new Map())]);
  const lossOf = o.loss ?? ceLoss(o.model, o.pad);
  const losses: number[] = [];
  let order: number[] = [];
  let step = 0;
  try {
    for (; step < total; step++) {
      if (o.shouldStop?.()) break;
      if (order.length < o.batchSize) order = order.concat(shuffledIndices(o.sequences.length, rng));
      const picked = order.splice(0, o.batchSize).map((i) => o.sequences[i]!);
      const lr = learningRate(o.lr ?? 1e-4, o.schedule ?? { kind: 'constant' }, step);
      const loss = gradientStep(params, optimizer, chunk(picked, o.microBatchSize ?? o.batchSize), lossOf, { lr, clipNorm: o.clipNorm });
      losses.push(loss);
      o.onStep?.({ step: step + 1, total, loss });
    }
  } finally {
    optimizer.dispose();
  }
  return { steps: step, losses };
};
