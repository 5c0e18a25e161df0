/* eslint-disable @typescript-eslint/no-explicit-any -- tf.customGrad hands its inputs, saved tensors and dy over untyped */
// Loss functions. Logits are [B*T, V] rows in batch-major order (row b*T + t).
import * as tf from '@tensorflow/tfjs';

type T2 = tf.Tensor2D;

/**
 * Sum over rows of weights[n] * (-log softmax(logits[n])[targets[n]]). Hand-written gradient
 * (softmax - onehot): autodiff through a gather would need UnsortedSegmentSum, absent on wasm.
 */
export const weightedNll = (logits: T2, targets: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar => {
  const op = tf.customGrad((z: any, t: any, w: any, save: any) => {
    const lse = tf.logSumExp(z, -1);
    const [n, v] = z.shape as [number, number];
    const flat = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), t);
    const picked = tf.gather(tf.reshape(z, [n * v]), flat);
    save([z, t, w, lse]);
    return {
      value: tf.sum(tf.mul(tf.sub(lse, picked), w)),
      gradFunc: (dy: any, [sz, st, sw, slse]: any) => {
        const p = tf.exp(tf.sub(sz, tf.expandDims(slse, 1)));
        const g = tf.sub(p, tf.oneHot(st, sz.shape[1]));
        return [tf.mul(g, tf.mul(tf.expandDims(sw, 1), dy)), tf.zerosLike(st), tf.zerosLike(sw)];
      },
    };
  });
  return op(logits, targets, weights) as tf.Scalar;
};

export type CeReduction = 'mean' | 'per-example-sum';

/**
 * Next-token targets (row b*T+t predicts ids[b][t+1]; the last position has no target) and weights.
 * 'mean': mean over all counted targets (the usual CE). 'per-example-sum': each example's own mean,
 * summed over examples, so that the gradient of example b is the gradient of its own loss (DP-SGD).
 * PAD targets get weight 0 unless maskPad is false (the paper's KD code counts them).
 */
export const nextTokenTargets = (
  batch: number[][],
  pad: number,
  reduction: CeReduction = 'mean',
  maskPad = true,
): { targets: Int32Array; weights: Float32Array } => {
  const B = batch.length;
  const T = batch[0]?.length ?? 0;
  const targets = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  let total = 0;
  const counts: number[] = [];
  for (let b = 0; b < B; b++) {
    if (batch[b]!.length !== T) throw new Error(`all sequences of a batch must have the same length (${T}); pad them first`);
    let count = 0;
    for (let t = 0; t < T; t++) {
      const target = t + 1 < T ? batch[b]![t + 1]! : pad;
      targets[b * T + t] = target;
      const counted = t + 1 < T && (!maskPad || target !== pad);
      weights[b * T + t] = counted ? 1 : 0;
      count += counted ? 1 : 0;
    }
    counts.push(count);
    total += count;
  }
  for (let b = 0; b < B; b++) {
    const denominator = reduction === 'mean' ? total : counts[b]!;
    for (let t = 0; t < T; t++) weights[b * T + t] = denominator > 0 ? weights[b * T + t]! / denominator : 0;
  }
  return { targets, weights };
};

/** Cross-entropy of next-token prediction with PAD targets masked. */
export const crossEntropy = (logits: T2, batch: number[][], pad: number, reduction: CeReduction = 'mean', maskPad = true): tf.Scalar => {
  const { targets, weights } = nextTokenTargets(batch, pad, reduction, maskPad);
  return weightedNll(logits, tf.tensor1d(targets, 'int32'), tf.tensor1d(weights));
};

export interface KlOptions {
  temperature?: number;
  batch: number;
  seq: number;
  /** Positions t < skipPositions are not counted (the paper's code: 5). */
  skipPositions?: number;
  /** 'token-mean': mean over counted positions. 'batch-sum': sum over counted positions / batch size (the paper's code). */
  reduction?: 'token-mean' | 'batch-sum';
  /** Optional per-row weight (e.g. 0 at PAD positions), length B*T. */
  mask?: Float32Array;
}

/** t² · KL(softmax(teacher/t) ‖ softmax(student/t)), reduced as asked. (tfjs has no stopGradient: differentiate w.r.t. the student only.) */
export const klDivergence = (studentLogits: T2, teacherLogits: T2, options: KlOptions): tf.Scalar => {
  const t = options.temperature ?? 1;
  const skip = options.skipPositions ?? 0;
  const { batch: B, seq: T } = options;
  const weights = new Float32Array(B * T);
  let counted = 0;
  for (let b = 0; b < B; b++) {
    for (let s = skip; s < T; s++) {
      const w = options.mask ? options.mask[b * T + s]! : 1;
      weights[b * T + s] = w;
      counted += w;
    }
  }
  const denominator = options.reduction === 'batch-sum' ? B : Math.max(counted, 1e-12);
  const teacherLog = tf.logSoftmax(tf.div(teacherLogits, t));
  const studentLog = tf.logSoftmax(tf.div(studentLogits, t));
  const perRow = tf.sum(tf.mul(tf.exp(teacherLog), tf.sub(teacherLog, studentLog)), -1);
  return tf.mul(tf.sum(tf.mul(perRow, tf.tensor1d(weights))), (t * t) / denominator) as tf.Scalar;
};

export interface HiddenAlignmentOptions {
  /** Pairs [student hidden index, teacher hidden index] (indices into forward()'s hidden list). Default: last to last. */
  layerMap?: Array<[number, number]>;
  /** Learned [dStudent, dTeacher] projections, one per pair, required when widths differ. */
  projections?: tf.Tensor2D[];
  loss?: 'mse' | 'cosine';
}

/** Mean over mapped pairs of MSE (over all elements) or 1 - cosine similarity (mean over rows). */
export const hiddenAlignment = (student: T2[], teacher: T2[], options: HiddenAlignmentOptions = {}): tf.Scalar => {
  const map = options.layerMap ?? [[student.length - 1, teacher.length - 1]];
  const terms = map.map(([s, t], i) => {
    let hs = student[s];
    const ht = teacher[t];
    if (!hs || !ht)
      throw new Error(`hidden layer map [${s}, ${t}] is out of range (student has ${student.length}, teacher ${teacher.length})`);
    const projection = options.projections?.[i];
    if (projection) hs = tf.matMul(hs, projection);
    if (hs.shape[1] !== ht.shape[1]) {
      throw new Error(`hidden widths differ (${hs.shape[1]} vs ${ht.shape[1]}): pass a projection (createProjection)`);
    }
    const target = ht;
    if (options.loss === 'cosine') {
      const dot = tf.sum(tf.mul(hs, target), -1);
      const norms = tf.mul(tf.norm(hs, 'euclidean', -1), tf.norm(target, 'euclidean', -1));
      return tf.mean(tf.sub(1, tf.div(dot, tf.add(norms, 1e-8))));
    }
    return tf.mean(tf.square(tf.sub(hs, target)));
  });
  return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
};

/** What seed 0 means for createProjection (any value no caller passes as its own seed would do). */
const PROJECTION_SEED_ZERO = 0x5eed0;

/** A learned student-to-teacher projection, initialised N(0, 1/dStudent), seeded through tf's RNG. */
export const createProjection = (dStudent: number, dTeacher: number, seed = 0): tf.Variable<tf.Rank.R2> =>
  tf.tidy(() =>
    // tfjs draws from Math.random when the seed is falsy: seed 0 gets a fixed stand-in so every seed reproduces.
    tf.variable(tf.randomNormal([dStudent, dTeacher], 0, 1 / Math.sqrt(dStudent), 'float32', seed === 0 ? PROJECTION_SEED_ZERO : seed)),
  ) as tf.Variable<tf.Rank.R2>;

/**
 * Precomputed teacher distributions for N = B·T rows (row b·T + t: the teacher's next-token
 * distribution after token t of sequence b). topK = 0: `probs` is the full distribution [N·vocab].
 * topK > 0: `ids` / `probs` are the k most likely tokens per row [N·topK] (not renormalised) and
 * `tail` [N] is the mass of every other token (1 − Σ probs).
 */
export interface SoftTargets {
  topK: number;
  vocab: number;
  probs: Float32Array;
  ids?: Uint16Array | Int32Array;
  tail?: Float32Array;
}

/** log of a probability, with 0·log 0 = 0 handled by the caller (weights of 0 mass are 0). */
const safeLog = (p: number) => (p > 0 ? Math.log(p) : 0);

/**
 * t² · KL(teacher ‖ student) on the coarsened distributions: the teacher's top-k tokens plus one
 * tail bucket (student tail = 1 − Σ_topk q). Exact (the ordinary KL) when topK = 0. The temperature
 * is applied to the coarsened distributions (bucket probabilities raised to 1/t and renormalised),
 * which equals softmax(z/t) for the full distribution and is exact for any topK at t = 1.
 * Weights, skipPositions and reductions are those of klDivergence. Dense targets and masks are
 * built on the CPU side: the gradient of tf.gather does not exist on wasm.
 */
export const softTargetKl = (studentLogits: T2, targets: SoftTargets, options: KlOptions): tf.Scalar => {
  const t = options.temperature ?? 1;
  const skip = options.skipPositions ?? 0;
  const { batch: B, seq: T } = options;
  const N = B * T;
  const V = targets.vocab;
  if (studentLogits.shape[0] !== N || studentLogits.shape[1] !== V) {
    throw new Error(`softTargetKl: student logits are [${studentLogits.shape}], targets describe [${N}, ${V}]`);
  }
  const k = targets.topK;
  if (targets.probs.length !== N * (k === 0 ? V : k))
    throw new Error(`softTargetKl: ${targets.probs.length} probabilities for ${N} rows of ${k === 0 ? V : k}`);
  const rowWeight = new Float64Array(N);
  let counted = 0;
  for (let b = 0; b < B; b++) {
    for (let s = skip; s < T; s++) {
      const w = options.mask ? options.mask[b * T + s]! : 1;
      rowWeight[b * T + s] = w;
      counted += w;
    }
  }
  const denominator = options.reduction === 'batch-sum' ? B : Math.max(counted, 1e-12);
  // Teacher buckets raised to 1/t and renormalised, times the row weight; plus Σ w·p·log p (a constant).
  const width = k === 0 ? V : k;
  const weighted = new Float32Array(N * V);
  const mask = k === 0 ? undefined : new Float32Array(N * V);
  const tailWeighted = new Float32Array(N);
  let constant = 0;
  const bucket = new Float64Array(width + 1);
  for (let n = 0; n < N; n++) {
    const w = rowWeight[n]!;
    let z = 0;
    for (let j = 0; j < width; j++) z += bucket[j] = Math.pow(Math.max(targets.probs[n * width + j]!, 0), 1 / t);
    const tailMass = k === 0 ? 0 : Math.max(targets.tail?.[n] ?? 0, 0);
    bucket[width] = k === 0 ? 0 : Math.pow(tailMass, 1 / t);
    z += bucket[width]!;
    for (let j = 0; j <= width; j++) {
      const p = bucket[j]! / z;
      if (w !== 0) constant += w * p * safeLog(p);
      if (j === width) tailWeighted[n] = w * p;
      else {
        const v = k === 0 ? j : targets.ids![n * k + j]!;
        weighted[n * V + v] = w * p;
        if (mask) mask[n * V + v] = 1;
      }
    }
  }
  return tf.tidy(() => {
    const logq = tf.logSoftmax(studentLogits);
    let cross: tf.Scalar;
    if (!mask) {
      const logr = t === 1 ? logq : tf.logSoftmax(tf.div(studentLogits, t));
      cross = tf.sum(tf.mul(tf.tensor2d(weighted, [N, V]), logr));
    } else {
      const m = tf.tensor2d(mask, [N, V]);
      const q = tf.exp(logq);
      // The tail as the sum of the tokens outside the top-k (more precise than 1 − Σ_topk q for small tails).
      const logTail = tf.log(tf.add(tf.sum(tf.mul(tf.sub(1, m), q), -1), 1e-30));
      const kept = tf.sum(tf.mul(m, t === 1 ? q : tf.exp(tf.div(logq, t))), -1);
      const logZ = tf.log(tf.add(kept, tf.exp(tf.div(logTail, t))));
      const logr = tf.sub(tf.div(logq, t), tf.expandDims(logZ, 1));
      const logrTail = tf.sub(tf.div(logTail, t), logZ);
      cross = tf.add(tf.sum(tf.mul(tf.tensor2d(weighted, [N, V]), logr)), tf.sum(tf.mul(tf.tensor1d(tailWeighted), logrTail))) as tf.Scalar;
    }
    return tf.mul(tf.sub(constant, cross), (t * t) / denominator) as tf.Scalar;
  });
};
