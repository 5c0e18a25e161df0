import * as tf from '@tensorflow/tfjs';
import {
  createProjection,
  crossEntropy,
  type HiddenAlignmentOptions,
  hiddenAlignment,
  klDivergence,
  type SoftTargets,
  softTargetKl,
} from './losses';
import { forward, type LanguageModel } from './model';
import { type DpLoopOptions, type DpTrainOptions, type DpTrainResult, dpTrainLm, dpTrainLmAsync } from './dp';
import { type Batch, type LossFn, type TrainOptions, trainLm } from './train';

/** The weights and shape of the KD objective (1 − λ)·CE + λ·t²·KL + α·hidden, shared by every KD trainer. */
export interface KdObjective {
  /** Weight of the soft-label term. The paper: 0.4. */
  lambda: number;
  temperature?: number;
  /** Weight of hidden-state alignment (0 = off, the paper's default). */
  alpha?: number;
  klReduction?: 'token-mean' | 'batch-sum';
  skipPositions?: number;
  /** CE and KL count PAD positions when false (the paper's KD code); default true. */
  maskPad?: boolean;
}

/** What distillLoss needs besides the two models: the KD objective, the PAD id and hidden alignment. */
export interface DistillLossOptions extends KdObjective {
  pad: number;
  hidden?: Omit<HiddenAlignmentOptions, 'projections'>;
}

/** Per-row weight of the KL terms, length B·T: 0 at PAD positions unless `maskPad` is false. */
export const kdMask = (batch: Batch, pad: number, maskPad = true): Float32Array => {
  const T = batch[0]?.length ?? 0;
  const mask = new Float32Array(batch.length * T);
  batch.forEach((row, b) => row.forEach((id, p) => (mask[b * T + p] = !maskPad || id !== pad ? 1 : 0)));
  return mask;
};

export interface DistillOptions extends Omit<TrainOptions, 'model' | 'loss' | 'extraParams'>, DistillLossOptions {
  student: LanguageModel;
  teacher: LanguageModel;
}

/** The KD objective for one batch; `projections` are the learned width adapters for hidden alignment. */
export const distillLoss =
  (student: LanguageModel, teacher: LanguageModel, o: DistillLossOptions, projections: tf.Tensor2D[] = []): LossFn =>
  (batch) => {
    const B = batch.length;
    const T = batch[0]!.length;
    const alpha = o.alpha ?? 0;
    const ids = tf.tensor2d(batch, undefined, 'int32');
    const s = forward(student, ids, { hidden: alpha > 0 });
    // Inside the caller's variableGrads scope: disposed with it; no gradient reaches the teacher's variables.
    const t = forward(teacher, ids, { hidden: alpha > 0 });
    const mask = kdMask(batch, o.pad, o.maskPad);
    let loss = tf.add(
      tf.mul(crossEntropy(s.logits, batch, o.pad, 'mean', o.maskPad ?? true), 1 - o.lambda),
      tf.mul(
        klDivergence(s.logits, t.logits, {
          batch: B,
          seq: T,
          temperature: o.temperature,
          skipPositions: o.skipPositions,
          reduction: o.klReduction,
          mask,
        }),
        o.lambda,
      ),
    ) as tf.Scalar;
    if (alpha > 0) loss = tf.add(loss, tf.mul(hiddenAlignment(s.hidden!, t.hidden!, { ...o.hidden, projections }), alpha)) as tf.Scalar;
    return loss;
  };

/** Knowledge distillation of `student` from a fixed `teacher` (non-private: the inputs are synthetic). */
export const distillLm = async (o: DistillOptions): Promise<{ steps: number; losses: number[] }> => {
  const alpha = o.alpha ?? 0;
  const sH = o.student.config.d;
  const tH = o.teacher.config.d;
  const pairs = o.hidden?.layerMap ?? [[o.student.config.layers, o.teacher.config.layers]];
  const extra = new Map<string, tf.Variable>();
  const projections: tf.Tensor2D[] = [];
  if (alpha > 0 && sH !== tH) {
    pairs.forEach((_, i) => {
      const p = createProjection(sH, tH, (o.seed ?? 0) + i);
      extra.set(`proj${i}`, p);
      projections.push(p);
    });
  }
  try {
    return await trainLm({ ...o, model: o.student, loss: distillLoss(o.student, o.teacher, o, projections), extraParams: extra });
  } finally {
    extra.forEach((v) => v.dispose());
  }
};

/** What a student is trained against for one batch, looked up from precomputed artifacts. */
export interface PrecomputedTargets {
  /** Teacher distributions for the batch's B·T rows. */
  soft?: SoftTargets;
  /** Teacher hidden states, one [B·T, dTeacher] array per hidden pair. */
  hidden?: Float32Array[];
}

export interface PrecomputedDistillOptions extends KdObjective {
  student: LanguageModel;
  pad: number;
  /** Student hidden index (into forward()'s hidden list) of each hidden pair, and the loss. */
  hidden?: { studentLayers: number[]; loss?: 'mse' | 'cosine' };
  /** The precomputed targets of a batch (the rows are the caller's own sequence arrays). */
  targetsFor(batch: Batch): PrecomputedTargets;
}

/**
 * Each term's share of a larger batch's loss: a shard's normaliser over the whole micro-batch's (its CE
 * targets, its KL denominator, its rows), so that the shard losses of a data-parallel step add up to the
 * one-thread loss. Default 1 each: the batch is the whole micro-batch.
 */
export interface KdShares {
  ce: number;
  kl: number;
  hidden: number;
}

/**
 * The KD objective against precomputed teacher outputs (no teacher forward): soft labels through
 * softTargetKl, hidden states through hiddenAlignment with `projections` when widths differ.
 */
export const precomputedDistillLoss =
  (o: PrecomputedDistillOptions, projections: tf.Tensor2D[] = [], shares: KdShares = { ce: 1, kl: 1, hidden: 1 }): LossFn =>
  (batch) => {
    const B = batch.length;
    const T = batch[0]!.length;
    const alpha = o.alpha ?? 0;
    const targets = o.targetsFor(batch);
    const s = forward(o.student, tf.tensor2d(batch, undefined, 'int32'), { hidden: alpha > 0 });
    let loss = tf.mul(crossEntropy(s.logits, batch, o.pad, 'mean', o.maskPad ?? true), (1 - o.lambda) * shares.ce) as tf.Scalar;
    if (o.lambda > 0) {
      if (!targets.soft) throw new Error('precomputedDistillLoss: lambda > 0 needs soft targets');
      const mask = kdMask(batch, o.pad, o.maskPad);
      const kl = softTargetKl(s.logits, targets.soft, {
        batch: B,
        seq: T,
        temperature: o.temperature,
        skipPositions: o.skipPositions,
        reduction: o.klReduction,
        mask,
      });
      loss = tf.add(loss, tf.mul(kl, o.lambda * shares.kl)) as tf.Scalar;
    }
    if (alpha > 0) {
      if (!targets.hidden || !o.hidden) throw new Error('precomputedDistillLoss: alpha > 0 needs hidden targets and hidden.studentLayers');
      const studentHidden = o.hidden.studentLayers.map((index) => {
        const h = s.hidden![index];
        if (!h) throw new Error(`student hidden index ${index} is out of range (the student has ${s.hidden!.length} hidden states)`);
        return h;
      });
      const teacherHidden = targets.hidden.map((data) => tf.tensor2d(data, [B * T, data.length / (B * T)]));
      const align = hiddenAlignment(studentHidden, teacherHidden, {
        layerMap: studentHidden.map((_, i) => [i, i] as [number, number]),
        projections: projections.length > 0 ? projections : undefined,
        loss: o.hidden.loss,
      });
      loss = tf.add(loss, tf.mul(align, alpha * shares.hidden)) as tf.Scalar;
    }
    return loss;
  };

export interface DpDistillOptions
  extends DpLoopOptions, Pick<KdObjective, 'lambda' | 'temperature' | 'klReduction' | 'skipPositions' | 'maskPad'> {
  student: LanguageModel;
  teacher: LanguageModel;
}

/** What the DPKD per-example loss reads besides the two models (plain data: a worker rebuilds the loss from it). */
export type DpDistillObjective = Pick<DpDistillOptions, 'pad' | 'lambda' | 'temperature' | 'klReduction' | 'skipPositions' | 'maskPad'>;

/**
 * DP-SGD on the KD objective (the DPKD baseline, Mireshghallah et al. 2022): per example
 * ℓ_i = (1 − λ)·CE_i + λ·t²·KL_i (the example's own mean CE over non-PAD targets; its KL summed over
 * positions for 'batch-sum', as a batch of one), clipped per example by the naive loop (the vectorised
 * book-keeping is specific to CE), then dpTrainLm's noise, normalisation, sampling and AdamW. On several
 * threads: dpDistillLmParallel (parallel/dp-train.ts).
 */
export const dpDistillLm = (o: DpDistillOptions): DpTrainResult => dpTrainLm(dpDistillTrainOptions(o), 'dpDistillLm');

/** dpDistillLm through the awaiting loop (checkpointing, stops between steps); the same steps. */
export const dpDistillLmAsync = (o: DpDistillOptions): Promise<DpTrainResult> => dpTrainLmAsync(dpDistillTrainOptions(o), 'dpDistillLm');

/** dpTrainLm's options for the DPKD student: the KD loss per example, clipped by the naive loop. */
const dpDistillTrainOptions = (o: DpDistillOptions): DpTrainOptions => ({
  ...o,
  model: o.student,
  method: 'naive',
  // The fields a worker gets too (dpDistillObjective), so both paths read the same objective.
  exampleLoss: dpDistillExampleLoss({ ...dpDistillObjective(o), student: o.student, teacher: o.teacher }),
});

/** One example's KD loss for DP-SGD: distillLoss on a batch of one (the teacher's variables get no gradient). */
export const dpDistillExampleLoss =
  (o: DpDistillObjective & Pick<DpDistillOptions, 'student' | 'teacher'>) =>
  (example: number[]): tf.Scalar =>
    distillLoss(o.student, o.teacher, o)([example]);

/** The objective alone, picked field by field: the options also hold the data and callbacks, which cannot cross a thread. */
export const dpDistillObjective = (o: DpDistillObjective): DpDistillObjective => ({
  pad: o.pad,
  lambda: o.lambda,
  temperature: o.temperature,
  klReduction: o.klReduction,
  skipPositions: o.skipPositions,
  maskPad: o.maskPad,
});
