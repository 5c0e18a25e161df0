// Pretrain: a GPT-2 style model trained from scratch on a (public) dataset's train split.
// No privacy(): reading a private dataset here is charged as non-private by the engine, which is right.
import type { NodeImplementation } from '@dpkd/graph';
import { readDatasetFile } from '@dpkd/data';
import { createModel, type ModelConfig, MODEL_PRESETS, type PresetName, presetConfig, trainLm } from '@dpkd/lm';
import type { PretrainParams } from '@dpkd/schema';
import { backend, encodeStream, inputOf, NodeInputError, reporter, saveModelOutput, tokenizer } from './common';

export function modelConfigOf(model: PretrainParams['model']): { config: ModelConfig; preset?: string } {
  const vocab = tokenizer().vocabSize;
  if (typeof model === 'string') {
    if (!(model in MODEL_PRESETS)) throw new NodeInputError(`unknown model preset '${model}': use one of ${Object.keys(MODEL_PRESETS).join(', ')}`);
    return { config: presetConfig(model as PresetName, vocab), preset: model };
  }
  return { config: { ...model, vocab } };
}

export const PretrainNode: NodeImplementation = {
  type: 'Pretrain',
  async run(ctx) {
    const p = ctx.params as unknown as Required<Omit<PretrainParams, 'steps' | 'seed'>> & Pick<PretrainParams, 'steps'>;
    const backendName = await backend();
    const { config, preset } = modelConfigOf(p.model);
    if (p.seqLen > config.ctx) throw new NodeInputError(`Pretrain node ${ctx.id}: seqLen ${p.seqLen} exceeds the model context ${config.ctx}; set seqLen <= ${config.ctx}`);
    const dataset = readDatasetFile(inputOf(ctx, 'data').path);
    const sequences = encodeStream(dataset.splits.train.map((d) => d.text), p.seqLen);
    if (sequences.length === 0) throw new NodeInputError(`Pretrain node ${ctx.id}: the train split has fewer than seqLen (${p.seqLen}) tokens`);
    const perEpoch = Math.max(1, Math.floor(sequences.length / p.batchSize));
    const total = p.steps ?? Math.max(1, Math.round(perEpoch * p.epochs));
    const model = createModel(config, { seed: ctx.seed });
    try {
      ctx.log(`${preset ?? 'custom'} model, ${sequences.length} windows of ${p.seqLen} tokens, ${total} steps of ${p.batchSize}`);
      const { steps, losses } = trainLm({
        model, sequences, pad: tokenizer().pad, steps: total, batchSize: p.batchSize, lr: p.lr, seed: ctx.seed,
        optimizer: { weightDecay: p.weightDecay },
        schedule: p.schedule === 'constant' ? { kind: 'constant' } : { kind: p.schedule, warmup: p.warmup, total },
        ...reporter(ctx),
      });
      const output = await saveModelOutput(ctx, model, preset);
      const tail = losses.slice(-Math.min(10, losses.length));
      return {
        outputs: { model: output },
        metrics: { steps, windows: sequences.length, tokens: steps * p.batchSize * p.seqLen, finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length, params: output.meta.params },
        provenance: { backend: backendName },
      };
    } finally {
      model.dispose();
    }
  },
};
