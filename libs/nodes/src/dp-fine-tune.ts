// DPFineTune: DP-SGD on the private train split (with a teacher input: the DPKD baseline student).
// The plan-time claim and run() compute q, steps, δ and σ with the same function (dpPlan).
import type { DatasetDescription, InputInfo, NodeImplementation, PrivacyClaim } from '@dpkd/graph';
import { readDatasetFile } from '@dpkd/data';
import { ceLoss, distillLoss, dpDistillLm, dpTrainLm } from '@dpkd/lm';
import { type AccountantName, calibrateSigma, dpSgdEvent, epsilonOf } from '@dpkd/privacy';
import type { DPFineTuneParams, DpkdLoss } from '@dpkd/schema';
import { backend, BestCheckpoint, evaluationSteps, inputOf, loadModelInput, meanLoss, NodeInputError, reporter, requireSeqLen, saveModelOutput, tokenizer } from './common';
import { fineTuneExamples } from './fine-tune-data';

type Params = Required<Omit<DPFineTuneParams, 'seed' | 'epsilon' | 'sigma' | 'kd' | 'noise'>> & Pick<DPFineTuneParams, 'epsilon' | 'sigma' | 'kd' | 'noise'>;

export const SHUFFLE_NOTE = 'fixed-size shuffled batches accounted as Poisson sampling (as the paper\'s code); the guarantee assumes Poisson';

export interface DpPlan {
  q: number;
  steps: number;
  delta: number;
  sigma: number;
  /** The accountant's ε for (q, σ, steps) at δ when σ was calibrated. */
  calibratedEpsilon?: number;
}

const calibrations = new Map<string, { sigma: number; epsilon: number }>();

/** q = batchSize / n, steps = ceil(epochs · n / batchSize), δ = 1/n or given, σ = given or calibrated. */
export function dpPlan(p: Pick<Params, 'batchSize' | 'epochs' | 'delta' | 'accountant' | 'epsilon' | 'sigma'>, n: number): DpPlan {
  if (!(n > 0)) throw new NodeInputError('DPFineTune: the private train split is empty');
  if (p.batchSize > n) throw new NodeInputError(`DPFineTune: batchSize ${p.batchSize} exceeds the ${n} training examples (q = batchSize / n must be <= 1); lower batchSize`);
  const q = p.batchSize / n;
  const steps = Math.ceil((p.epochs * n) / p.batchSize);
  const delta = p.delta === '1/n' ? 1 / n : p.delta;
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

export function dpClaims(p: Params, dataset: DatasetDescription, steps?: number): PrivacyClaim[] {
  const plan = dpPlan(p, dataset.n);
  const claims: PrivacyClaim[] = [{
    dataset,
    split: 'train',
    event: dpSgdEvent({ q: plan.q, sigma: plan.sigma, steps: steps ?? plan.steps }),
    ...(p.sampling === 'shuffle' ? { note: SHUFFLE_NOTE } : {}),
  }];
  if (p.select === 'best-validation') claims.push({ dataset, split: 'validation', note: 'checkpoint selection on the validation split' });
  return claims;
}

const kdDefaults = (kd: DpkdLoss | undefined): Required<DpkdLoss> => ({ lambda: 0.4, temperature: 1, klReduction: 'paper', skipPositions: 0, ...kd });

export const DPFineTuneNode: NodeImplementation = {
  type: 'DPFineTune',
  privacy(raw, inputs: Record<string, InputInfo>): PrivacyClaim[] {
    const dataset = inputs.data?.dataset;
    if (!dataset?.private) return [];
    return dpClaims(raw as unknown as Params, dataset);
  },
  async run(ctx) {
    const p = ctx.params as unknown as Params;
    const backendName = await backend();
    const dataInput = inputOf(ctx, 'data');
    const dataset = readDatasetFile(dataInput.path);
    const description: DatasetDescription = { unit: dataset.corpus, private: dataset.private, n: dataset.splits.train.length };
    const plan = dpPlan(p, description.n);
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
        ? () => meanLoss(distillLoss(model, teacher, { student: model, teacher, sequences: [], batchSize: 1, pad, lambda: kd.lambda, temperature: kd.temperature, klReduction, skipPositions: kd.skipPositions }, []), validation)
        : () => meanLoss(ceLoss(model, pad), validation);
      // ε so far: the accountant on the steps taken up to now (what an interrupted run has spent).
      const epsilonAt = (step: number) =>
        epsilonOf(dpSgdEvent({ q: plan.q, sigma: plan.sigma, steps: step }), plan.delta, { accountant: p.accountant as AccountantName }).epsilon;
      const progress = reporter(ctx, 2, description.private ? epsilonAt : undefined);
      const common = {
        sequences: train, pad, q: plan.q, sigma: plan.sigma, clip: p.clip, steps: plan.steps, sampling: p.sampling,
        lr: p.lr, optimizer: { weightDecay: p.weightDecay }, seed: ctx.seed, noise: p.noise ?? 'seeded', shouldStop: progress.shouldStop,
        onStep: (r: { step: number; total: number; loss: number }) => {
          progress.onStep(r);
          if (selectAt.has(r.step)) best.offer(r.step, validationLoss());
        },
      };
      ctx.log(`DP-SGD: n ${description.n}, q ${plan.q.toFixed(5)}, ${plan.steps} steps, σ ${plan.sigma.toFixed(4)}, δ ${plan.delta.toExponential(3)}${teacher ? `, KD λ ${kd.lambda} t ${kd.temperature}` : ''}`);
      const result = teacher
        ? dpDistillLm({ ...common, student: model, teacher, lambda: kd.lambda, temperature: kd.temperature, klReduction, skipPositions: kd.skipPositions })
        : dpTrainLm({ ...common, model, physicalBatch: p.microBatch, method: p.clipping });
      best.restore();
      const output = await saveModelOutput(ctx, model, meta.preset);
      return {
        outputs: { model: output },
        metrics: {
          steps: result.steps, plannedSteps: plan.steps, q: plan.q, sigma: plan.sigma, delta: plan.delta, calibratedEpsilon: plan.calibratedEpsilon,
          accountant: p.accountant, finalLoss: result.losses.at(-1), params: output.meta.params, teacher: teacher !== undefined,
          selection: p.select === 'best-validation' ? { step: best.bestStep, validationLoss: best.bestLoss, history: best.history } : 'last',
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
};
