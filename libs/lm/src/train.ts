import * as tf from '@tensorflow/tfjs';
import { nextTokenTargets } from './losses';
import { forwardHidden, type LanguageModel } from './model';
import { tiedHeadNll } from './ops';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from './checkpoint';
import { AdamW, type AdamWOptions, type AdamWState, applyGradient, learningRate, type Schedule } from './optim';
import { createRng, restoreRng, type RngState, shuffledIndices } from './rng';
import { ReplicaPool } from './parallel/pool';
import type { ShardLossSpec, ShardTargets } from './parallel/protocol';

export type Batch = number[][];

export interface StepReport {
  step: number;
  total: number;
  loss: number;
}

/** Loss of one micro-batch; its gradient flows to `params` (and any extra trainable variables). */
export type LossFn = (batch: Batch) => tf.Scalar;

/** Mean next-token CE with PAD masked (= crossEntropy(forward(...).logits, batch, pad), with the head fused into the loss). */
export const ceLoss =
  (model: LanguageModel, pad: number): LossFn =>
  (batch) => {
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
      const scaled = tf.tidy(() =>
        sum.has(name) ? tf.add(sum.get(name)!, tf.div(g, microBatches.length)) : tf.div(g, microBatches.length),
      );
      sum.get(name)?.dispose();
      g.dispose();
      sum.set(name, scaled);
    }
  }
  applyGradient(params, optimizer, sum, options);
  sum.forEach((g) => g.dispose());
  return loss;
};

/**
 * Everything trainLm needs to continue a run exactly where it stopped: the parameters, AdamW's moments
 * and step, the data cursor (the rest of the current shuffled order and the generator that makes the
 * next one), the losses so far, and the caller's own JSON state (e.g. its validation history).
 */
export interface TrainState {
  /** Optimiser steps done. */
  step: number;
  total: number;
  order: number[];
  rng: RngState;
  optimizer: AdamWState;
  params: Map<string, NamedArray>;
  losses: number[];
  extra: Record<string, unknown>;
  /** The caller's own arrays (e.g. the best parameters so far). */
  arrays: Map<string, NamedArray>;
}

export interface TrainCheckpointing {
  /** A state saved by an earlier, interrupted run of the same training: it continues from there. */
  resume?: TrainState;
  /** Milliseconds between saves; a state is also saved when stopping early and at the end. */
  everyMs: number;
  save(state: TrainState): Promise<void>;
  /** The caller's state to save with each checkpoint. */
  extra?: () => { extra?: Record<string, unknown>; arrays?: Map<string, NamedArray> };
}

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
  /** Periodic saves of the whole training state, and resuming from one. */
  checkpoint?: TrainCheckpointing;
  /**
   * Data parallelism: replicas in all, the leader included (default 1: this thread only). With more, each
   * micro-batch is split across worker threads and the gradients summed (parallel/pool.ts); the result
   * equals one thread's within float tolerance.
   */
  threads?: number;
  /** The loss as data a worker can rebuild (default: CE, when `loss` is not given); required with `loss` and threads > 1. */
  parallelLoss?: ShardLossSpec;
  /** A shard's precomputed teacher outputs, for a 'precomputed-kd' parallelLoss. */
  shardTargets?: (shard: Batch) => ShardTargets;
}

export const padSequences = (sequences: number[][], length: number, pad: number): Batch =>
  sequences.map((s) => (s.length >= length ? s.slice(0, length) : [...s, ...new Array<number>(length - s.length).fill(pad)]));

/** `items` in consecutive groups of `size` (the last one shorter). */
export const chunk = <X>(items: X[], size: number): X[][] => {
  const out: X[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/** The parameters' current values, copied out (for a saved training state). */
export const arraysOf = (params: Map<string, tf.Variable>): Map<string, NamedArray> =>
  new Map([...params].map(([name, p]) => [name, { data: (p.dataSync() as Float32Array).slice(), shape: p.shape }]));

/** Puts saved values into the parameters, refusing a state whose parameter names or shapes differ. */
export const restoreParams = (params: Map<string, tf.Variable>, saved: Map<string, NamedArray>): void => {
  const names = [...params.keys()].sort().join(',');
  if ([...saved.keys()].sort().join(',') !== names) throw new Error('the saved training state has other parameters than this model');
  for (const [name, { data, shape }] of saved) {
    const p = params.get(name)!;
    if (shape.join('x') !== p.shape.join('x'))
      throw new Error(`the saved training state's parameter '${name}' has shape ${shape.join('x')}, the model ${p.shape.join('x')}`);
    tf.tidy(() => p.assign(tf.tensor(data, shape)));
  }
};

/** Lets timers and signal handlers run between steps (so Ctrl-C can stop training and save its state). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Non-private training: shuffled fixed-size batches, AdamW, schedule, accumulation, clipping. With
 * `checkpoint`, the whole state is saved every `everyMs`, on an early stop and at the end, and a run
 * resumed from a saved state takes exactly the steps the uninterrupted run would have taken.
 */
export const trainLm = async (o: TrainOptions): Promise<{ steps: number; losses: number[] }> => {
  if (o.sequences.length === 0) throw new Error('trainLm: no training sequences');
  const perEpoch = Math.max(1, Math.floor(o.sequences.length / o.batchSize));
  const total = o.steps ?? perEpoch * (o.epochs ?? 1);
  const resume = o.checkpoint?.resume;
  if (resume && resume.total !== total)
    throw new Error(`trainLm: the saved training state is for ${resume.total} steps, this run has ${total}`);
  if (resume && resume.order.some((i) => i >= o.sequences.length))
    throw new Error('trainLm: the saved training state indexes more sequences than this run has');
  const rng = resume ? restoreRng(resume.rng) : createRng(o.seed ?? 0);
  const optimizer = new AdamW(o.optimizer);
  const params = new Map([...o.model.params, ...(o.extraParams ?? new Map())]);
  const lossOf = o.loss ?? ceLoss(o.model, o.pad);
  const losses: number[] = resume ? [...resume.losses] : [];
  let order: number[] = resume ? [...resume.order] : [];
  let step = resume?.step ?? 0;
  let savedAt = Date.now();
  let pool: ReplicaPool | undefined;
  const save = async () => {
    const caller = o.checkpoint!.extra?.() ?? {};
    await o.checkpoint!.save({
      step,
      total,
      order: [...order],
      rng: rng.state(),
      optimizer: optimizer.exportState(),
      params: arraysOf(params),
      losses: [...losses],
      extra: caller.extra ?? {},
      arrays: caller.arrays ?? new Map(),
    });
    savedAt = Date.now();
  };
  try {
    if (resume) {
      restoreParams(params, resume.params);
      optimizer.importState(resume.optimizer);
    }
    const threads = Math.max(1, Math.floor(o.threads ?? 1));
    if (threads > 1 && o.loss && !o.parallelLoss)
      throw new Error('trainLm: threads > 1 with a custom loss needs parallelLoss (the loss as data for the workers)');
    // Started after a resume restored the parameters: the workers begin from them.
    pool =
      threads > 1
        ? await ReplicaPool.start({ threads, model: o.model, extras: o.extraParams, loss: o.parallelLoss ?? { kind: 'ce', pad: o.pad } })
        : undefined;
    // Every replica then steps its own AdamW on the reduced gradient: only gradients cross threads.
    const replicated = pool ? await pool.replicateOptimizer(o.optimizer, optimizer.exportState()) : false;
    const resumedAt = step;
    let stopped = false;
    while (step < total) {
      await yieldToEventLoop();
      if (o.shouldStop?.()) {
        stopped = true;
        break;
      }
      if (order.length < o.batchSize) order = order.concat(shuffledIndices(o.sequences.length, rng));
      const picked = order.splice(0, o.batchSize).map((i) => o.sequences[i]!);
      const lr = learningRate(o.lr ?? 1e-4, o.schedule ?? { kind: 'constant' }, step);
      const micro = chunk(picked, o.microBatchSize ?? o.batchSize);
      const loss = pool
        ? await parallelGradientStep(pool, params, optimizer, micro, { lr, clipNorm: o.clipNorm, shardTargets: o.shardTargets, replicated })
        : gradientStep(params, optimizer, micro, lossOf, { lr, clipNorm: o.clipNorm });
      step += 1;
      losses.push(loss);
      o.onStep?.({ step, total, loss });
      if (o.checkpoint && step < total && Date.now() - savedAt >= o.checkpoint.everyMs) await save();
    }
    if (o.checkpoint && (stopped || step > resumedAt)) await save();
  } finally {
    optimizer.dispose();
    await pool?.dispose();
  }
  return { steps: step, losses };
};

/**
 * gradientStep with the gradient computed across a replica pool. With a replicated optimiser every worker
 * applies the same update to the same reduced gradient; otherwise the workers get the new parameters.
 */
const parallelGradientStep = async (
  pool: ReplicaPool,
  params: Map<string, tf.Variable>,
  optimizer: AdamW,
  microBatches: Batch[],
  options: { lr: number; clipNorm?: number; shardTargets?: (shard: Batch) => ShardTargets; replicated: boolean },
): Promise<number> => {
  const update = { lr: options.lr, clipNorm: options.clipNorm };
  const { grads, loss } = await pool.gradients(microBatches, options.shardTargets, options.replicated ? update : undefined);
  applyGradient(params, optimizer, grads, update);
  grads.forEach((g) => g.dispose());
  if (!options.replicated) pool.parametersChanged();
  return loss;
};

const TRAIN_STATE_FORMAT = 'dpkd-train-state/1';

/** A training state as one safetensors file: arrays exactly (F32), the cursor and the caller's JSON in the metadata. */
export const encodeTrainState = (state: TrainState): Uint8Array => {
  const arrays: Array<[string, NamedArray]> = [];
  for (const [name, a] of state.params) arrays.push([`param/${name}`, a]);
  for (const [name, { m, v, shape }] of state.optimizer.moments)
    arrays.push([`adam.m/${name}`, { data: m, shape }], [`adam.v/${name}`, { data: v, shape }]);
  for (const [name, a] of state.arrays) arrays.push([`extra/${name}`, a]);
  const cursor = {
    step: state.step,
    total: state.total,
    order: state.order,
    rng: state.rng,
    adamSteps: state.optimizer.t,
    losses: state.losses,
    extra: state.extra,
  };
  return encodeSafetensors(arrays, { format: TRAIN_STATE_FORMAT, state: JSON.stringify(cursor) });
};

export const decodeTrainState = (bytes: Uint8Array): TrainState => {
  const { tensors, metadata } = decodeSafetensors(bytes);
  if (metadata.format !== TRAIN_STATE_FORMAT || !metadata.state) throw new Error(`not a training state (${TRAIN_STATE_FORMAT})`);
  const cursor = JSON.parse(metadata.state) as Omit<TrainState, 'params' | 'optimizer' | 'arrays'> & { adamSteps: number };
  const params = new Map<string, NamedArray>();
  const arrays = new Map<string, NamedArray>();
  const moments: AdamWState['moments'] = new Map();
  for (const [key, a] of tensors) {
    const slash = key.indexOf('/');
    const [kind, name] = [key.slice(0, slash), key.slice(slash + 1)];
    if (kind === 'param') params.set(name, a);
    else if (kind === 'extra') arrays.set(name, a);
    else if (kind === 'adam.m' || kind === 'adam.v') {
      const slot = moments.get(name) ?? { m: new Float32Array(0), v: new Float32Array(0), shape: a.shape };
      slot[kind === 'adam.m' ? 'm' : 'v'] = a.data;
      moments.set(name, slot);
    }
  }
  return {
    step: cursor.step,
    total: cursor.total,
    order: cursor.order,
    rng: cursor.rng,
    losses: cursor.losses,
    extra: cursor.extra ?? {},
    params,
    arrays,
    optimizer: { t: cursor.adamSteps, moments },
  };
};
