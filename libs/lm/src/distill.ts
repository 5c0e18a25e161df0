import * as tf from '@tensorflow/tfjs';
import { createProjection, crossEntropy, type HiddenAlignmentOptions, hiddenAlignment, klDivergence, type SoftTargets, softTargetKl } from './losses';
import { forward, type LanguageModel } from './model';
import { AdamW, type AdamWOptions, learningRate, type Schedule } from './optim';
import { createCryptoRng, createRng, type Rng } from './rng';
import { type Batch, type LossFn, type StepReport, type TrainOptions, trainLm } from './train';

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

/** What a student is trained against for one batch, looked up from precomputed artifacts. */
export interface PrecomputedTargets {
  /** Teacher distributions for the batch's B·T rows. */
  soft?: SoftTargets;
  /** Teacher hidden states, one [B·T, dTeacher] array per hidden pair. */
  hidden?: Float32Array[];
}

export interface PrecomputedDistillOptions {
  student: LanguageModel;
  pad: number;
  /** (1 − λ)·CE + λ·KL + α·hidden. */
  lambda: number;
  temperature?: number;
  alpha?: number;
  klReduction?: 'token-mean' | 'batch-sum';
  skipPositions?: number;
  maskPad?: boolean;
  /** Student hidden index (into forward()'s hidden list) of each hidden pair, and the loss. */
  hidden?: { studentLayers: number[]; loss?: 'mse' | 'cosine' };
  /** The precomputed targets of a batch (the rows are the caller's own sequence arrays). */
  targetsFor(batch: Batch): PrecomputedTargets;
}

/**
 * The KD objective against precomputed teacher outputs (no teacher forward): soft labels through
 * softTargetKl, hidden states through hiddenAlignment with `projections` when widths differ.
 */
export const precomputedDistillLoss = (o: PrecomputedDistillOptions, projections: tf.Tensor2D[] = []): LossFn => (batch) => {
  const B = batch.length;
  const T = batch[0]!.length;
  const alpha = o.alpha ?? 0;
  const targets = o.targetsFor(batch);
  const s = forward(o.student, tf.tensor2d(batch, undefined, 'int32'), { hidden: alpha > 0 });
  let loss = tf.mul(crossEntropy(s.logits, batch, o.pad, 'mean', o.maskPad ?? true), 1 - o.lambda) as tf.Scalar;
  if (o.lambda > 0) {
    if (!targets.soft) throw new Error('precomputedDistillLoss: lambda > 0 needs soft targets');
    const mask = new Float32Array(B * T);
    batch.forEach((row, b) => row.forEach((id, p) => (mask[b * T + p] = id !== o.pad ? 1 : 0)));
    const kl = softTargetKl(s.logits, targets.soft, { batch: B, seq: T, temperature: o.temperature, skipPositions: o.skipPositions, reduction: o.klReduction, mask });
    loss = tf.add(loss, tf.mul(kl, o.lambda)) as tf.Scalar;
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
    loss = tf.add(loss, tf.mul(align, alpha)) as tf.Scalar;
  }
  return loss;
};

export interface DpDistillOptions {
  student: LanguageModel;
  teacher: LanguageModel;
  sequences: Batch;
  pad: number;
  q?: number;
  expectedBatch?: number;
  sigma: number;
  clip: number;
  steps?: number;
  epochs?: number;
  sampling?: 'poisson' | 'shuffle';
  lr?: number;
  schedule?: Schedule;
  optimizer?: AdamWOptions;
  seed?: number;
  noise?: 'seeded' | 'crypto';
  rng?: Rng;
  lambda: number;
  temperature?: number;
  klReduction?: 'token-mean' | 'batch-sum';
  skipPositions?: number;
  shouldStop?: () => boolean;
  onStep?: (report: StepReport & { batchSize: number }) => void;
}

/**
 * DP-SGD on the KD objective (the DPKD baseline, Mireshghallah et al. 2022): per example
 * ℓ_i = (1 − λ)·CE_i + λ·t²·KL_i (the example's own mean CE over non-PAD targets; its KL summed over
 * positions for 'batch-sum', as a batch of one), gradients clipped per example by the naive loop (one
 * backward per example: the vectorised book-keeping in dp.ts is specific to CE), Gaussian noise σC on
 * the sum, divided by the expected batch size, AdamW. Sampling and noise as dpTrainLm.
 */
export const dpDistillLm = (o: DpDistillOptions): { steps: number; q: number; sigma: number; losses: number[] } => {
  const N = o.sequences.length;
  if (N === 0) throw new Error('dpDistillLm: no training sequences');
  const q = o.q ?? (o.expectedBatch !== undefined ? o.expectedBatch / N : Number.NaN);
  if (!(q > 0 && q <= 1)) throw new Error(`dpDistillLm: sampling rate q must be in (0, 1]; give q or expectedBatch <= ${N}`);
  if (!(o.clip > 0) || !(o.sigma >= 0)) throw new Error('dpDistillLm: clip must be > 0 and sigma >= 0');
  const expectedBatch = q * N;
  const total = o.steps ?? Math.ceil((o.epochs ?? 1) / q);
  const rng = o.rng ?? createRng(o.seed ?? 0);
  const noiseRng = o.noise === 'crypto' ? createCryptoRng() : rng;
  const optimizer = new AdamW(o.optimizer);
  const names = [...o.student.params.keys()];
  const vars = names.map((n) => o.student.params.get(n)!);
  const nameOf = new Map(vars.map((v, i) => [v.name, names[i]!]));
  const exampleLoss = (example: number[]): tf.Scalar => {
    const T = example.length;
    const ids = tf.tensor2d([example], [1, T], 'int32');
    const s = forward(o.student, ids).logits;
    const t = forward(o.teacher, ids).logits; // not in `vars`: no gradient reaches the teacher
    const mask = Float32Array.from(example, (id) => (id !== o.pad ? 1 : 0));
    const ce = crossEntropy(s, [example], o.pad, 'per-example-sum');
    const kl = klDivergence(s, t, { batch: 1, seq: T, temperature: o.temperature, skipPositions: o.skipPositions, reduction: o.klReduction, mask });
    return tf.add(tf.mul(ce, 1 - o.lambda), tf.mul(kl, o.lambda)) as tf.Scalar;
  };
  const losses: number[] = [];
  let order: number[] = [];
  let step = 0;
  try {
    for (; step < total; step++) {
      if (o.shouldStop?.()) break;
      let indices: number[];
      if (o.sampling === 'shuffle') {
        const size = Math.max(1, Math.round(expectedBatch));
        while (order.length < size) order = order.concat(shuffledOrder(N, rng));
        indices = order.splice(0, size);
      } else {
        indices = [];
        for (let i = 0; i < N; i++) if (rng.next() < q) indices.push(i);
      }
      const sum = new Map<string, tf.Tensor>();
      let loss = 0;
      for (const i of indices) {
        const { value, grads } = tf.variableGrads(() => exampleLoss(o.sequences[i]!), vars);
        loss += value.dataSync()[0]!;
        value.dispose();
        const squared = tf.tidy(() => tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
        const c = Math.min(1, o.clip / (Math.sqrt(squared.dataSync()[0]!) + 1e-6));
        squared.dispose();
        for (const [varName, g] of Object.entries(grads)) {
          const name = nameOf.get(varName)!;
          const next = tf.tidy(() => (sum.has(name) ? tf.add(sum.get(name)!, tf.mul(g, c)) : tf.mul(g, c)));
          sum.get(name)?.dispose();
          sum.set(name, next);
          g.dispose();
        }
      }
      const grads = new Map<string, tf.Tensor>();
      const std = o.sigma * o.clip;
      for (const [name, p] of o.student.params) {
        const noise = new Float32Array(p.size);
        if (std > 0 && Number.isFinite(std)) for (let j = 0; j < noise.length; j++) noise[j] = noiseRng.normal() * std;
        const s = sum.get(name);
        grads.set(name, tf.tidy(() => tf.div(tf.add(s ?? tf.zerosLike(p), tf.tensor(noise, p.shape)), expectedBatch)));
        s?.dispose();
      }
      optimizer.step(o.student.params, grads, learningRate(o.lr ?? 1e-4, o.schedule ?? { kind: 'constant' }, step));
      grads.forEach((g) => g.dispose());
      const mean = indices.length > 0 ? loss / indices.length : Number.NaN;
      losses.push(mean);
      o.onStep?.({ step: step + 1, total, loss: mean, batchSize: indices.length });
    }
  } finally {
    optimizer.dispose();
  }
  return { steps: step, q, sigma: o.sigma, losses };
};

const shuffledOrder = (n: number, rng: Rng): number[] => {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
};
