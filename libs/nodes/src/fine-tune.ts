// FineTune: non-private fine-tuning (the ε = ∞ rows). Its output is marked non-private.
import type { InputInfo, NodeImplementation, PrivacyClaim } from '@dpkd/graph';
import { readDatasetFile } from '@dpkd/data';
import { ceLoss, trainLm } from '@dpkd/lm';
import type { FineTuneParams } from '@dpkd/schema';
import { backend, BestCheckpoint, evaluationSteps, inputOf, loadModelInput, meanLoss, requireSeqLen, saveModelOutput, tokenizer } from './common';
import { resumableTraining, trainingProgress } from './resumable';
import { fineTuneExamples } from './fine-tune-data';

type Params = Required<Omit<FineTuneParams, 'seed'>>;

export const FineTuneNode: NodeImplementation = {
  type: 'FineTune',
  privacy(raw, inputs: Record<string, InputInfo>): PrivacyClaim[] {
    const p = raw as unknown as Params;
    const dataset = inputs.data?.dataset;
    if (!dataset?.private) return [];
    const claims: PrivacyClaim[] = [{ dataset, split: 'train', event: { type: 'NonPrivate', reason: 'non-private fine-tuning' } }];
    if (p.select === 'best-validation') claims.push({ dataset, split: 'validation', note: 'checkpoint selection on the validation split' });
    return claims;
  },
  async run(ctx) {
    const p = ctx.params as unknown as Params;
    const backendName = await backend();
    const dataset = readDatasetFile(inputOf(ctx, 'data').path);
    const { model, meta } = await loadModelInput(ctx, 'model');
    try {
      requireSeqLen(ctx, p.seqLen, model, 'model');
      const train = fineTuneExamples(dataset.splits.train, p.seqLen, p.controlCodes);
      const validation = fineTuneExamples(dataset.splits.validation, p.seqLen, p.controlCodes);
      const pad = tokenizer().pad;
      const total = Math.max(1, Math.round(Math.max(1, Math.floor(train.length / p.batchSize)) * p.epochs));
      const selectAt = p.select === 'best-validation' && validation.length > 0 ? evaluationSteps(total, p.epochs) : new Set<number>();
      const best = new BestCheckpoint(model.params);
      const validationLoss = () => meanLoss(ceLoss(model, pad), validation);
      const resumable = await resumableTraining(ctx, {
        minutes: p.checkpointMinutes,
        identity: { node: 'FineTune', key: ctx.key, sequences: train.length, total },
        extra: () => best.snapshot(),
      });
      if (resumable.resumed) best.resumeFrom(resumable.resumed.extra, resumable.resumed.arrays);
      const progress = trainingProgress(ctx, { tokensPerStep: p.batchSize * p.seqLen, startStep: resumable.resumed?.step ?? 0 });
      const { steps, losses } = await trainLm({
        model, sequences: train, pad, steps: total, batchSize: p.batchSize, lr: p.lr, seed: ctx.seed, optimizer: { weightDecay: p.weightDecay },
        checkpoint: resumable.checkpoint,
        shouldStop: progress.shouldStop,
        onStep: (r) => {
          if (selectAt.has(r.step)) best.offer(r.step, validationLoss());
          progress.onStep(r);
        },
      });
      if (ctx.signal.aborted) throw new Error(`FineTune node ${ctx.id} was interrupted at step ${steps} of ${total}; its state is saved, a rerun resumes it`);
      best.restore();
      const output = await saveModelOutput(ctx, model, meta.preset);
      return {
        outputs: { model: output },
        metrics: {
          steps, finalLoss: losses.at(-1), params: output.meta.params, private: false,
          selection: p.select === 'best-validation' ? { step: best.bestStep, validationLoss: best.bestLoss, history: best.history } : 'last',
        },
        provenance: { backend: backendName },
      };
    } finally {
      model.dispose();
    }
  },
};
