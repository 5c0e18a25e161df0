import * as tf from '@tensorflow/tfjs';
import { createProjection, crossEntropy, type HiddenAlignmentOptions, hiddenAlignment, klDivergence } from './losses';
import { forward, type LanguageModel } from './model';
import { type LossFn, type TrainOptions, trainLm } from './train';

export interface DistillOptions extends Omit<TrainOptions, 'model' | 'loss' | 'extraParams'> {
  student: LanguageModel;
  teacher: LanguageModel;
  /** Weight of the soft-label term: (1 - λ)·CE + λ·KL + α·hidden. The paper: 0.4. */
  lambda: number;
  temperature?: number;
  /** Weight of hidden-state alignment (0 = off, the paper's default). */
  alpha?: number;
  klReduction?: 'token-mean' | 'batch-sum';
  skipPositions?: number;
  /** CE counts PAD targets when false (the paper's KD code); default true. */
  maskPad?: boolean;
  hidden?: Omit<HiddenAlignmentOptions, 'projections'>;
}

/** The KD objective for one batch; `projections` are the learned width adapters for hidden alignment. */
export const distillLoss = (student: LanguageModel, teacher: LanguageModel, o: DistillOptions, projections: tf.Tensor2D[]): LossFn => (batch) => {
  const B = batch.length;
  const T = batch[0]!.length;
  const alpha = o.alpha ?? 0;
  const ids = tf.tensor2d(batch, undefined, 'int32');
  const s = forward(student, ids, { hidden: alpha > 0 });
  // Inside the caller's variableGrads scope: disposed with it; no gradient reaches the teacher's variables.
  const t = forward(teacher, ids, { hidden: alpha > 0 });
  const mask = new Float32Array(B * T);
  batch.forEach((row, b) => row.forEach((id, p) => (mask[b * T + p] = o.maskPad === false || id !== o.pad ? 1 : 0)));
  let loss = tf.add(
    tf.mul(crossEntropy(s.logits, batch, o.pad, 'mean', o.maskPad ?? true), 1 - o.lambda),
    tf.mul(klDivergence(s.logits, t.logits, { batch: B, seq: T, temperature: o.temperature, skipPositions: o.skipPositions, reduction: o.klReduction, mask }), o.lambda),
  ) as tf.Scalar;
  if (alpha > 0) loss = tf.add(loss, tf.mul(hiddenAlignment(s.hidden!, t.hidden!, { ...o.hidden, projections }), alpha)) as tf.Scalar;
  return loss;
};

/** Knowledge distillation of `student` from a fixed `teacher` (non-private: the inputs are synthetic). */
export const distillLm = (o: DistillOptions): { steps: number; losses: number[] } => {
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
    return trainLm({ ...o, model: o.student, loss: distillLoss(o.student, o.teacher, o, projections), extraParams: extra });
  } finally {
    extra.forEach((v) => v.dispose());
  }
};
