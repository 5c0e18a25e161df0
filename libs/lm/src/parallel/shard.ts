// The work one replica does on its shard, the same code on the leader and in each worker. A shard's loss
// uses the whole micro-batch's normalisers (its token count, its KL denominator, its size), so the shard
// losses (and gradients) add up to exactly the one-thread loss of the micro-batch, whatever the split.
import * as tf from '@tensorflow/tfjs';
import { clippedSum, type ClipMethod, type ExampleLoss } from '../dp';
import { dpDistillExampleLoss, kdMask, precomputedDistillLoss } from '../distill';
import { nextTokenTargets } from '../losses';
import { forwardHidden, type LanguageModel } from '../model';
import { tiedHeadNll } from '../ops';
import { type Batch, chunk } from '../train';
import type { ArrayMap, ShardLossSpec, ShardWork } from './protocol';

/** `items` in `parts` contiguous groups whose sizes differ by at most one (empty groups when parts > items). */
export const splitEvenly = <X>(items: X[], parts: number): X[][] => {
  const out: X[][] = [];
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const size = Math.floor(items.length / parts) + (i < items.length % parts ? 1 : 0);
    out.push(items.slice(start, start + size));
    start += size;
  }
  return out;
};

/** Counted next-token targets of a batch: the rule of nextTokenTargets (the last position has none; PAD only when maskPad is false). */
export const countTargets = (batch: Batch, pad: number, maskPad = true): number => {
  let count = 0;
  for (const row of batch) for (let t = 1; t < row.length; t++) if (!maskPad || row[t] !== pad) count += 1;
  return count;
};

/** The KL denominator of klDivergence / softTargetKl for this batch (before the 1e-12 floor). */
export const klDenominator = (batch: Batch, spec: Extract<ShardLossSpec, { kind: 'precomputed-kd' }>): number => {
  if (spec.klReduction === 'batch-sum') return batch.length;
  const T = batch[0]?.length ?? 0;
  const mask = kdMask(batch, spec.pad, spec.maskPad);
  let counted = 0;
  for (let b = 0; b < batch.length; b++) for (let s = spec.skipPositions ?? 0; s < T; s++) counted += mask[b * T + s]!;
  return counted;
};

/** The micro-batch normalisers a shard needs (computed by the leader on the whole micro-batch). */
export const workOf = (shard: Batch, micro: Batch, spec: ShardLossSpec): Omit<ShardWork, 'targets'> => {
  const maskPad = spec.kind === 'precomputed-kd' ? (spec.maskPad ?? true) : true;
  return {
    shard,
    batch: micro.length,
    ceCount: countTargets(micro, spec.pad, maskPad),
    ...(spec.kind === 'precomputed-kd' ? { klDenominator: klDenominator(micro, spec) } : {}),
  };
};

/** Next-token CE of the shard's counted targets divided by the micro-batch's count (ceLoss on the whole micro-batch = Σ over shards). */
const ceShardLoss = (model: LanguageModel, work: ShardWork, pad: number): tf.Scalar => {
  const { targets, weights } = nextTokenTargets(work.shard, pad, 'mean');
  for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! > 0 ? 1 / work.ceCount : 0;
  const { final } = forwardHidden(model, tf.tensor2d(work.shard, undefined, 'int32'));
  return tiedHeadNll(final, model.params.get('wte')! as tf.Tensor as tf.Tensor2D, tf.tensor1d(targets, 'int32'), tf.tensor1d(weights));
};

const kdShardLoss = (
  model: LanguageModel,
  extras: Map<string, tf.Variable>,
  work: ShardWork,
  spec: Extract<ShardLossSpec, { kind: 'precomputed-kd' }>,
): tf.Scalar => {
  const maskPad = spec.maskPad ?? true;
  const localKl = klDenominator(work.shard, spec);
  const shares = {
    ce: countTargets(work.shard, spec.pad, maskPad) / Math.max(work.ceCount, 1e-12),
    kl: Math.max(localKl, 1e-12) / Math.max(work.klDenominator ?? 0, 1e-12),
    hidden: work.shard.length / work.batch,
  };
  const projections = spec.projections.map((name) => extras.get(name)! as tf.Tensor as tf.Tensor2D);
  return precomputedDistillLoss({ ...spec, student: model, targetsFor: () => work.targets ?? {} }, projections, shares)(work.shard);
};

export const shardLoss = (spec: ShardLossSpec, model: LanguageModel, extras: Map<string, tf.Variable>, work: ShardWork): tf.Scalar => {
  if (spec.kind === 'ce') return ceShardLoss(model, work, spec.pad);
  if (spec.kind === 'precomputed-kd') return kdShardLoss(model, extras, work, spec);
  throw new Error(`replica: a '${spec.kind}' loss is per-example (clippedSum); training shards take 'ce' or 'precomputed-kd'`);
};

/**
 * The per-example loss that DP-SGD clips, rebuilt on each replica from the spec: undefined for CE (clippedSum's
 * own per-example CE and its vectorised book-keeping), the DPKD KD loss through the teacher replica for live-kd.
 */
export const exampleLossOf = (spec: ShardLossSpec, student: LanguageModel, teacher?: LanguageModel): ExampleLoss | undefined => {
  if (spec.kind === 'ce') return undefined;
  if (spec.kind === 'precomputed-kd') throw new Error("replica: per-example clipping takes a 'ce' or 'live-kd' loss");
  if (!teacher) throw new Error("replica: a 'live-kd' loss needs a teacher (ReplicaPool.start({teacher}))");
  return dpDistillExampleLoss({ ...spec, student, teacher });
};

/**
 * Σ over the given shards of scale · ∇(shard loss) for every trainable, and Σ scale · shard loss. A trainable
 * the loss does not reach gets no entry (as gradientStep).
 */
export const shardGradients = (
  spec: ShardLossSpec,
  model: LanguageModel,
  extras: Map<string, tf.Variable>,
  work: ShardWork[],
  scale: number,
): { grads: Map<string, tf.Tensor>; loss: number } => {
  const trainables = new Map([...model.params, ...extras]);
  const names = [...trainables.keys()];
  const vars = names.map((n) => trainables.get(n)!);
  const nameOf = new Map(vars.map((v, i) => [v.name, names[i]!]));
  const sum = new Map<string, tf.Tensor>();
  let loss = 0;
  for (const w of work) {
    if (w.shard.length === 0) continue;
    const { value, grads } = tf.variableGrads(() => shardLoss(spec, model, extras, w), vars);
    loss += value.dataSync()[0]! * scale;
    value.dispose();
    for (const [varName, g] of Object.entries(grads)) {
      const name = nameOf.get(varName)!;
      const next = tf.tidy(() => (sum.has(name) ? tf.add(sum.get(name)!, tf.mul(g, scale)) : tf.mul(g, scale)));
      sum.get(name)?.dispose();
      g.dispose();
      sum.set(name, next);
    }
  }
  return { grads: sum, loss };
};

/**
 * Per-example clipped gradients summed over a shard (clipping stays local: it needs only each example's own
 * gradient); `exampleLoss` as dp.ts's clippedSum (exampleLossOf).
 */
export const shardClippedSum = (
  model: LanguageModel,
  shard: Batch,
  o: { clip: number; pad: number; physicalBatch: number; method: ClipMethod },
  exampleLoss?: ExampleLoss,
): { grads: Map<string, tf.Tensor>; norms: number[]; loss: number } => {
  const grads = new Map<string, tf.Tensor>();
  const norms: number[] = [];
  let loss = 0;
  for (const micro of chunk(shard, Math.max(1, o.physicalBatch))) {
    const part = clippedSum(model, micro, o.clip, o.pad, o.method, exampleLoss);
    norms.push(...part.norms);
    loss += part.loss;
    for (const [name, g] of part.sum) {
      const prev = grads.get(name);
      grads.set(name, prev ? tf.add(prev, g) : g);
      if (prev) tf.dispose([prev, g]);
    }
  }
  return { grads, norms, loss };
};

/** Mean next-token CE of each batch (the evaluation loss), as numbers. */
export const batchLosses = (model: LanguageModel, batches: Batch[], pad: number): number[] =>
  batches.map((batch) =>
    tf.tidy(
      () =>
        ceShardLoss(model, { shard: batch, batch: batch.length, ceCount: Math.max(countTargets(batch, pad), 1e-12) }, pad).dataSync()[0]!,
    ),
  );

/**
 * A tensor's values in an ArrayBuffer of their own, so that a postMessage can transfer it instead of cloning.
 * On wasm a read is already a fresh copy of the heap range; another backend (cpu) may hand out its own
 * storage, and a view on a larger buffer would carry that whole buffer: both are copied.
 */
export const ownedArray = (t: tf.Tensor): Float32Array => {
  const a = t.dataSync() as Float32Array;
  return tf.getBackend() === 'wasm' && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
};

/** Tensors to flat arrays, each with a buffer of its own (see ownedArray). */
export const toArrays = (tensors: Map<string, tf.Tensor>): ArrayMap => {
  const out: ArrayMap = {};
  for (const [name, t] of tensors) out[name] = ownedArray(t);
  return out;
};

/** The buffers of arrays to transfer with a postMessage (the sender must not use the arrays afterwards). */
export const buffersOf = (arrays: ArrayMap): ArrayBuffer[] => Object.values(arrays).map((a) => a.buffer as ArrayBuffer);

/**
 * Σ of gradient parts in the given order. A Map part's tensors are consumed (the first part's become the sum),
 * an ArrayMap's arrays become tensors here. The leader and every replica reduce with this one function over the
 * same values in the same order, so their sums (and hence their optimiser steps) are bitwise equal.
 */
export const sumParts = (parts: Array<Map<string, tf.Tensor> | ArrayMap>, shapes: Map<string, number[]>): Map<string, tf.Tensor> => {
  const total = new Map<string, tf.Tensor>();
  const entries = (part: Map<string, tf.Tensor> | ArrayMap): Array<[string, () => tf.Tensor]> =>
    part instanceof Map
      ? [...part].map(([name, g]) => [name, () => g])
      : Object.entries(part).map(([name, data]) => [name, () => tf.tensor(data, shapes.get(name)!)]);
  for (const part of parts) {
    for (const [name, make] of entries(part)) {
      const prev = total.get(name);
      const g = make();
      total.set(name, prev ? tf.add(prev, g) : g);
      if (prev) tf.dispose([prev, g]);
    }
  }
  return total;
};

/** Puts broadcast values into the replica's trainables. */
export const assignArrays = (trainables: Map<string, tf.Variable>, arrays: ArrayMap): void => {
  for (const [name, data] of Object.entries(arrays)) {
    const v = trainables.get(name);
    if (!v) throw new Error(`replica: no trainable '${name}'`);
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
};
