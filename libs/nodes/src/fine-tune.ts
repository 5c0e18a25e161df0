// FineTune: non-private fine-tuning (the ε = ∞ rows). Its output is marked non-private.
import type { PrivacyClaim } from '@dpkd/graph';
import { readDatasetFile } from '@dpkd/data';
import { ceLoss } from '@dpkd/lm';
import type { FineTuneParams, FineTunePorts } from '@dpkd/schema';
import {
  backend,
  BestCheckpoint,
  evaluationSteps,
  inputOf,
  loadModelInput,
  meanLoss,
  requireSeqLen,
  saveModelOutput,
  tokenizer,
} from './common';
import { trainWithSelection } from './resumable';
import { fineTuneExamples } from './fine-tune-data';
import { defineNode } from './define-node';

type Params = Required<Omit<FineTuneParams, 'seed'>>;

export const FineTuneNode = defineNode<Params, FineTunePorts>({
  type: 'FineTune',
  parallel: true,
  privacy(p, inputs): PrivacyClaim[] {
    const dataset = inputs.data?.dataset;
    if (!dataset?.private) return [];
    const claims: PrivacyClaim[] = [{ dataset, split: 'train', event: { type: 'NonPrivate', reason: 'non-private fine-tuning' } }];
    if (p.select === 'best-validation') claims.push({ dataset, split: 'validation', note: 'checkpoint selection on the validation split' });
    return claims;
  },
  async run(ctx) {
    const p = ctx.params;
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
      const { steps, losses } = await trainWithSelection(ctx, {
        node: 'FineTune',
        minutes: p.checkpointMinutes,
        best,
        selectAt,
        selectionLoss: validationLoss,
        tokensPerStep: p.batchSize * p.seqLen,
        train: { model, sequences: train, pad, steps: total, batchSize: p.batchSize, lr: p.lr, optimizer: { weightDecay: p.weightDecay } },
      });
      const output = await saveModelOutput(ctx, model, meta.preset);
      return {
        outputs: { model: output },
        metrics: {
          steps,
          finalLoss: losses.at(-1),
          params: output.meta.params,
          private: false,
          selection:
            p.select === 'best-validation' ? { step: best.bestStep, validationLoss: best.bestLoss, history: best.history } : 'last',
        },
        provenance: { backend: backendName },
      };
    } finally {
      model.dispose();
    }
  },
});
