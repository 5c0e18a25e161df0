// DPFineTune: DP-SGD on the private train split (with a teacher input: the DPKD baseline student).
// The plan-time claim and run() compute q, steps and σ with the same function (dpPlan), at the privacy
// unit's δ, which the Dataset input states (the budget's, else 1/(10·N)): no node chooses its own δ.
// No private statistic leaves the node un-noised: metrics and progress carry no training loss.
import type { DatasetDescription, PrivacyClaim } from '@dpkd/graph';
import { readDatasetFile } from '@dpkd/data';
import { ceLoss, distillLoss, dpDistillLmParallel, dpTrainLmParallel } from '@dpkd/lm';
import { type AccountantName, calibrateSigma, dpSgdEvent, epsilonOf, SEEDED_NOISE_GAP, SHUFFLE_GAP } from '@dpkd/privacy';
import type { DPFineTuneParams, DpkdLoss, DPFineTunePorts } from '@dpkd/schema';
import {
  backend,
  BestCheckpoint,
  evaluationSteps,
  inputOf,
  loadModelInput,
  meanLoss,
  NodeInputError,
  requireSeqLen,
  saveModelOutput,
  tokenizer,
} from './common';
import type { DatasetMeta } from './dataset';
import { fineTuneExamples } from './fine-tune-data';
import { defineNode } from './define-node';
import { duration, resumableTraining } from './resumable';

type Params = Required<Omit<DPFineTuneParams, 'seed' | 'epsilon' | 'sigma' | 'kd'>> & Pick<DPFineTuneParams, 'epsilon' | 'sigma' | 'kd'>;

export const SELECTION_GAP = 'checkpoint selection on the private validation split (not noised)';

/**
 * How often a DP-SGD run saves its state into the store (weights, AdamW, the step, checkpoint selection; with
 * seeded noise also the sampler). A constant rather than a param, so that adding it kept every DPFineTune key.
 */
export const DP_CHECKPOINT_MINUTES = 5;

export interface DpPlan {
  q: number;
  steps: number;
  delta: number;
  sigma: number;
  /** The accountant's ε for (q, σ, steps) at δ when σ was calibrated. */
  calibratedEpsilon?: number;
}

const calibrations = new Map<string, { sigma: number; epsilon: number }>();

/** q = batchSize / n, steps = ceil(epochs · n / batchSize), δ = the unit's, σ = given or calibrated at δ. */
export function dpPlan(p: Pick<Params, 'batchSize' | 'epochs' | 'accountant' | 'epsilon' | 'sigma'>, dataset: DatasetDescription): DpPlan {
  const { n, delta } = dataset;
  if (!(n > 0)) throw new NodeInputError('DPFineTune: the private train split is empty');
  if (delta === undefined)
    throw new NodeInputError(
      `DPFineTune: the Dataset of ${dataset.unit} states no δ for its privacy unit (an artifact from an older dpkd: rerun its Dataset node)`,
    );
  if (p.batchSize > n)
    throw new NodeInputError(
      `DPFineTune: batchSize ${p.batchSize} exceeds the ${n} training examples (q = batchSize / n must be <= 1); lower batchSize`,
      'batchSize',
    );
  const q = p.batchSize / n;
  const steps = Math.ceil((p.epochs * n) / p.batchSize);
  if (p.sigma !== undefined) return { q, steps, delta, sigma: p.sigma };
  if (p.epsilon === undefined) throw new NodeInputError('DPFineTune: set epsilon (a target) or sigma (a noise multiplier)');
  const id = JSON.stringify([p.epsilon, delta, q, steps, p.accountant]);
  let hit = calibrations.get(id);
  if (!hit) {
    const c = calibrateSigma({ epsilon: p.epsilon, delta, q, steps, accountant: p.accountant as AccountantName });
    hit = { sigma: c.sigma, epsilon: c.epsilon };
    calibrations.set(id, hit);
  }
  return { q, steps, delta, sigma: hit.sigma, calibratedEpsilon: hit.epsilon };
}

/** The DP-SGD claim on the train split (with its gaps), plus the validation split when selecting on it. */
export function dpClaims(p: Params, dataset: DatasetDescription, steps?: number): PrivacyClaim[] {
  const plan = dpPlan(p, dataset);
  const gaps = [...(p.sampling === 'shuffle' ? [SHUFFLE_GAP] : []), ...(p.noise === 'seeded' ? [SEEDED_NOISE_GAP] : [])];
  const claims: PrivacyClaim[] = [
    {
      dataset,
      split: 'train',
      event: dpSgdEvent({ q: plan.q, sigma: plan.sigma, steps: steps ?? plan.steps }),
      note: 'DP-SGD',
      ...(gaps.length ? { gaps } : {}),
    },
  ];
  if (p.select === 'best-validation') claims.push({ dataset, split: 'validation', note: SELECTION_GAP });
  return claims;
}

/** The Dataset input as the engine described it at plan time (unit, n, N and the unit's δ). */
const describedInput = (meta: unknown): DatasetDescription => {
  const m = meta as Partial<DatasetMeta> | undefined;
  if (!m || typeof m.unit !== 'string' || typeof m.n !== 'number')
    throw new NodeInputError('DPFineTune: the data input has no Dataset meta (unit, n, δ)');
  return {
    unit: m.unit,
    private: m.private === true,
    n: m.n,
    corpusSize: m.corpusSize ?? m.n,
    ...(m.delta !== undefined ? { delta: m.delta } : {}),
  };
};

const kdDefaults = (kd: DpkdLoss | undefined): Required<DpkdLoss> => ({
  lambda: 0.4,
  temperature: 1,
  klReduction: 'paper',
  skipPositions: 0,
  ...kd,
});

export const DPFineTuneNode = defineNode<Params, DPFineTunePorts>({
  type: 'DPFineTune',
  parallel: true,
  privacy(p, inputs): PrivacyClaim[] {
    const dataset = inputs.data?.dataset;
    if (!dataset?.private) return [];
    return dpClaims(p, dataset);
  },
  async run(ctx) {
    const p = ctx.params;
    const backendName = await backend();
    const dataInput = inputOf(ctx, 'data');
    const dataset = readDatasetFile(dataInput.path);
    const description = describedInput(dataInput.meta);
    if (description.n !== dataset.splits.train.length || description.private !== dataset.private) {
      throw new NodeInputError(
        `DPFineTune: the data input's meta (n ${description.n}) does not match its file (n ${dataset.splits.train.length})`,
      );
    }
    const plan = dpPlan(p, description);
    const { model, meta } = await loadModelInput(ctx, 'model');
    const teacher = ctx.inputs.teacher ? (await loadModelInput(ctx, 'teacher')).model : undefined;
    const best = new BestCheckpoint(model.params);
    try {
      requireSeqLen(ctx, p.seqLen, model, 'model');
      if (teacher) requireSeqLen(ctx, p.seqLen, teacher, 'teacher');
      const pad = tokenizer().pad;
      const train = fineTuneExamples(dataset.splits.train, p.seqLen, p.controlCodes);
      const validation = fineTuneExamples(dataset.splits.validation, p.seqLen, p.controlCodes);
      const selectAt = p.select === 'best-validation' && validation.length > 0 ? evaluationSteps(plan.steps, p.epochs) : new Set<number>();
      const kd = kdDefaults(p.kd);
      const klReduction = kd.klReduction === 'paper' ? ('batch-sum' as const) : ('token-mean' as const);
      // Selection uses the training objective on the validation split: CE, or the KD loss for a DPKD student.
      const validationLoss = teacher
        ? () =>
            meanLoss(
              distillLoss(model, teacher, {
                pad,
                lambda: kd.lambda,
                temperature: kd.temperature,
                klReduction,
                skipPositions: kd.skipPositions,
              }),
              validation,
            )
        : () => meanLoss(ceLoss(model, pad), validation);
      // ε so far: the accountant on the steps taken up to now (what an interrupted run has spent).
      const epsilonAt = (step: number) =>
        epsilonOf(dpSgdEvent({ q: plan.q, sigma: plan.sigma, steps: step }), plan.delta, { accountant: p.accountant as AccountantName })
          .epsilon;
      // A rerun after an interruption continues from the saved state. The engine charges every attempt in
      // full before it starts, so resuming never lowers what the ledger holds; the claim below is the one
      // trajectory's steps, which is what the released model went through.
      const resumable = await resumableTraining(ctx, {
        minutes: DP_CHECKPOINT_MINUTES,
        identity: { node: 'DPFineTune', key: ctx.key, sequences: train.length, total: plan.steps, noise: p.noise },
        extra: () => best.snapshot(),
      });
      if (resumable.resumed) best.resumeFrom(resumable.resumed.extra, resumable.resumed.arrays);
      // Progress: the step and the ε spent so far; never the loss of a private batch (an un-noised statistic).
      const interval = Math.max(2, Math.ceil(plan.steps / 50));
      const started = Date.now();
      const startStep = resumable.resumed?.step ?? 0;
      const common = {
        sequences: train,
        pad,
        q: plan.q,
        sigma: plan.sigma,
        clip: p.clip,
        steps: plan.steps,
        sampling: p.sampling,
        lr: p.lr,
        optimizer: { weightDecay: p.weightDecay },
        seed: ctx.seed,
        noise: p.noise,
        checkpoint: resumable.checkpoint,
        shouldStop: () => ctx.signal.aborted,
        onStep: (r: { step: number; total: number; loss: number; batchSize: number }) => {
          // Only whether training diverged leaves the node (as a failure), never the loss itself. (An empty
          // Poisson batch has no loss: NaN by design.)
          if (r.batchSize > 0 && !Number.isFinite(r.loss))
            throw new Error(`DPFineTune node ${ctx.id}: training diverged (non-finite loss at step ${r.step}); lower the learning rate`);
          if (r.step % interval === 0 || r.step === r.total) {
            const epsilon = description.private ? epsilonAt(r.step) : undefined;
            ctx.progress({ step: r.step, total: r.total, ...(epsilon !== undefined ? { epsilon } : {}) });
            // The node log's progress line (what `dpkd status` shows): the pace and the ε spent, no loss.
            const perStep = (Date.now() - started) / 1000 / (r.step - startStep);
            ctx.log(
              `step ${r.step}/${r.total} ${perStep.toFixed(1)} s/step, ETA ${duration((r.total - r.step) * perStep)}` +
                (epsilon !== undefined ? `, ε ${epsilon.toFixed(3)} spent so far` : ''),
            );
          }
          if (selectAt.has(r.step)) best.offer(r.step, validationLoss());
        },
      };
      ctx.log(
        `DP-SGD: n ${description.n}, q ${plan.q.toFixed(5)}, ${plan.steps} steps, σ ${plan.sigma.toFixed(4)}, δ ${plan.delta.toExponential(3)} (the unit's), noise ${p.noise}${teacher ? `, KD λ ${kd.lambda} t ${kd.temperature}` : ''}`,
      );
      // On ctx.threads replicas (the DPKD student: a frozen teacher replica in every worker); the same batches,
      // noise and privacy event as one thread.
      const threads = ctx.threads ?? 1;
      const result = teacher
        ? await dpDistillLmParallel({
            ...common,
            student: model,
            teacher,
            lambda: kd.lambda,
            temperature: kd.temperature,
            klReduction,
            skipPositions: kd.skipPositions,
            threads,
          })
        : await dpTrainLmParallel({ ...common, model, physicalBatch: p.microBatch, method: p.clipping, threads });
      if (ctx.signal.aborted)
        throw new Error(
          `DPFineTune node ${ctx.id} was interrupted at step ${result.steps} of ${plan.steps}; its state is saved, a rerun resumes it`,
        );
      best.restore();
      const output = await saveModelOutput(ctx, model, meta.preset);
      return {
        outputs: { model: output },
        metrics: {
          steps: result.steps,
          plannedSteps: plan.steps,
          q: plan.q,
          sigma: plan.sigma,
          delta: plan.delta,
          calibratedEpsilon: plan.calibratedEpsilon,
          accountant: p.accountant,
          noise: p.noise,
          params: output.meta.params,
          teacher: teacher !== undefined,
          resumedFrom: resumable.resumed?.step ?? 0,
          selection:
            p.select === 'best-validation' ? { step: best.bestStep, validationLoss: best.bestLoss, history: best.history } : 'last',
        },
        // What was executed: the steps actually taken.
        privacy: description.private ? dpClaims(p, description, result.steps) : [],
        provenance: { backend: backendName },
      };
    } finally {
      best.dispose();
      model.dispose();
      teacher?.dispose();
    }
  },
});
