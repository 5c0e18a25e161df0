// Pretrain: a GPT-2 style model trained on a (public) dataset's train split, from scratch or, given an
// `init` model, from its weights (continued pretraining; the optimiser and schedule start afresh).
// No privacy(): reading a private dataset here is charged as non-private by the engine, which is right, and
// an `init` model brings its own lineage along the edge.
import { readDatasetFile } from '@dpkd/data';
import { ceLoss, createModel, type LanguageModel, type ModelConfig, MODEL_PRESETS, type PresetName, presetConfig, trainLm } from '@dpkd/lm';
import type { PretrainParams, PretrainPorts } from '@dpkd/schema';
import { backend, encodeStream, inputOf, loadModelInput, meanLoss, NodeInputError, saveModelOutput, tokenizer } from './common';
import { resumableTraining, trainingProgress } from './resumable';
import { defineNode, type NodeContext } from './define-node';

export function modelConfigOf(model: PretrainParams['model']): { config: ModelConfig; preset?: string } {
  const vocab = tokenizer().vocabSize;
  if (typeof model === 'string') {
    if (!(model in MODEL_PRESETS))
      throw new NodeInputError(`unknown model preset '${model}': use one of ${Object.keys(MODEL_PRESETS).join(', ')}`);
    return { config: presetConfig(model as PresetName, vocab), preset: model };
  }
  return { config: { ...model, vocab } };
}

/** At most `count` windows spread evenly over `windows` (every k-th), so a sample covers the whole split. */
export function spreadWindows(windows: number[][], count: number): number[][] {
  if (windows.length <= count) return windows;
  const stride = windows.length / count;
  return Array.from({ length: count }, (_, i) => windows[Math.floor(i * stride)]!);
}

type Params = Required<Omit<PretrainParams, 'steps' | 'seed'>> & Pick<PretrainParams, 'steps'>;

/** The validation windows a Pretrain measures on: `evalWindows` windows of seqLen spread over the validation split. */
export const pretrainValidationWindows = (validationTexts: string[], p: Pick<Params, 'seqLen' | 'evalWindows'>): number[][] =>
  spreadWindows(encodeStream(validationTexts, p.seqLen), p.evalWindows);

/** Perplexity of the model on the validation windows (exp of the mean next-token loss). */
export const validationPerplexity = (model: LanguageModel, windows: number[][]): number =>
  Math.exp(meanLoss(ceLoss(model, tokenizer().pad), windows));

export interface ValidationPoint {
  step: number;
  tokens: number;
  perplexity: number;
}

const ARCHITECTURE_FIELDS = ['layers', 'd', 'heads', 'mlp', 'ctx', 'vocab'] as const;

/** The `init` input's model, refused unless it has the architecture the node's `model` param names. */
async function initialModel(ctx: NodeContext, config: ModelConfig): Promise<LanguageModel> {
  const { model } = await loadModelInput(ctx, 'init');
  const differ = ARCHITECTURE_FIELDS.filter((f) => model.config[f] !== config[f]);
  if (differ.length > 0) {
    const shown = (c: ModelConfig) => ARCHITECTURE_FIELDS.map((f) => `${f} ${c[f]}`).join(', ');
    model.dispose();
    throw new NodeInputError(
      `params.model (${shown(config)}) is not the architecture of its \`init\` model (${shown(model.config)}): set params.model to the init model's architecture`,
      'model',
    );
  }
  return model;
}

export const PretrainNode = defineNode<Params, PretrainPorts>({
  type: 'Pretrain',
  parallel: true,
  async run(ctx) {
    const p = ctx.params;
    const backendName = await backend();
    const { config, preset } = modelConfigOf(p.model);
    if (p.seqLen > config.ctx)
      throw new NodeInputError(
        `Pretrain node ${ctx.id}: seqLen ${p.seqLen} exceeds the model context ${config.ctx}; set seqLen <= ${config.ctx}`,
      );
    const dataset = readDatasetFile(inputOf(ctx, 'data').path);
    const sequences = encodeStream(
      dataset.splits.train.map((d) => d.text),
      p.seqLen,
    );
    if (sequences.length === 0)
      throw new NodeInputError(`Pretrain node ${ctx.id}: the train split has fewer than seqLen (${p.seqLen}) tokens`);
    const validation = pretrainValidationWindows(
      dataset.splits.validation.map((d) => d.text),
      p,
    );
    const perEpoch = Math.max(1, Math.floor(sequences.length / p.batchSize));
    const total = p.steps ?? Math.max(1, Math.round(perEpoch * p.epochs));
    const tokensPerStep = p.batchSize * p.seqLen;
    const model = ctx.inputs.init ? await initialModel(ctx, config) : createModel(config, { seed: ctx.seed });
    try {
      const history: ValidationPoint[] = [];
      const resumable = await resumableTraining(ctx, {
        minutes: p.checkpointMinutes,
        identity: { node: 'Pretrain', key: ctx.key, windows: sequences.length, total },
        extra: () => ({ extra: { history } }),
      });
      history.push(...((resumable.resumed?.extra.history as ValidationPoint[] | undefined) ?? []));
      const measure = (step: number) => {
        if (validation.length === 0 || history.at(-1)?.step === step) return;
        history.push({ step, tokens: step * tokensPerStep, perplexity: validationPerplexity(model, validation) });
      };
      const progress = trainingProgress(ctx, {
        tokensPerStep,
        startStep: resumable.resumed?.step ?? 0,
        validation: () => history.at(-1)?.perplexity,
      });
      const threads = ctx.threads ?? 1;
      ctx.log(
        `${preset ?? 'custom'} model, ${sequences.length} windows of ${p.seqLen} tokens, ${total} steps of ${p.batchSize}, ${validation.length} validation windows, ${threads} thread(s)`,
      );
      const { steps, losses } = await trainLm({
        model,
        sequences,
        pad: tokenizer().pad,
        steps: total,
        batchSize: p.batchSize,
        lr: p.lr,
        seed: ctx.seed,
        optimizer: { weightDecay: p.weightDecay },
        schedule: p.schedule === 'constant' ? { kind: 'constant' } : { kind: p.schedule, warmup: p.warmup, total },
        checkpoint: resumable.checkpoint,
        threads,
        shouldStop: progress.shouldStop,
        onStep: (r) => {
          if (p.evalEvery > 0 && r.step % p.evalEvery === 0) measure(r.step);
          progress.onStep(r);
        },
      });
      if (ctx.signal.aborted)
        throw new Error(`Pretrain node ${ctx.id} was interrupted at step ${steps} of ${total}; its state is saved, a rerun resumes it`);
      measure(steps);
      const output = await saveModelOutput(ctx, model, preset);
      const tail = losses.slice(-Math.min(10, losses.length));
      return {
        outputs: { model: output },
        metrics: {
          steps,
          windows: sequences.length,
          tokens: steps * tokensPerStep,
          finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
          params: output.meta.params,
          ...(history.length > 0
            ? { validationPerplexity: history.at(-1)!.perplexity, validationWindows: validation.length, validationHistory: history }
            : {}),
          trainSeconds: resumable.trainSeconds(),
          resumedFrom: resumable.resumed?.step ?? 0,
        },
        provenance: { backend: backendName },
      };
    } finally {
      model.dispose();
    }
  },
});
