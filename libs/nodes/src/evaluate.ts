// Evaluate: perplexity of a model on a dataset split, overall and per control code (the paper's procedure:
// raw texts joined by a blank line, non-overlapping windows, exp of the mean window NLL).
import type { PrivacyClaim } from '@dpkd/graph';
import { readDatasetFile } from '@dpkd/data';
import { perplexity, perplexityOnPool, ReplicaPool } from '@dpkd/lm';
import type { EvaluateParams, EvaluatePorts } from '@dpkd/schema';
import { backend, inputOf, loadModelInput, NodeInputError, tokenizer, writeJsonOutput } from './common';
import { defineNode } from './define-node';

type Params = Required<Omit<EvaluateParams, 'seed'>>;

export interface EvaluationMetrics {
  split: string;
  procedure: string;
  /** The chosen procedure's perplexity. */
  perplexity: number;
  paper: number;
  tokenWeighted: number;
  windows: number;
  tokens: number;
  window: number;
  documents: number;
  perCode?: Record<string, number>;
  /** The evaluated model's parameter count (the Report's params column). */
  params: number;
  preset?: string;
  config: unknown;
}

export const EvaluateNode = defineNode<Params, EvaluatePorts>({
  type: 'Evaluate',
  parallel: true,
  privacy(p, inputs): PrivacyClaim[] {
    const dataset = inputs.data?.dataset;
    if (!dataset?.private) return [];
    return [{ dataset, split: p.split, note: `evaluation on the private ${p.split} split (not noised)` }];
  },
  async run(ctx) {
    const p = ctx.params;
    const backendName = await backend();
    const dataset = readDatasetFile(inputOf(ctx, 'data').path);
    const docs = dataset.splits[p.split];
    if (docs.length === 0)
      throw new NodeInputError(
        `Evaluate node ${ctx.id}: the ${p.split} split of ${dataset.corpus} is empty; give the Dataset node ${p.split} > 0`,
      );
    const { model, meta } = await loadModelInput(ctx, 'model');
    // Window batches dealt across the cores the scheduler gave the run: the same sums, the same result.
    const pool =
      (ctx.threads ?? 1) > 1
        ? await ReplicaPool.start({ threads: ctx.threads!, model, loss: { kind: 'ce', pad: tokenizer().pad } })
        : undefined;
    const evaluate = (texts: string[], o: { window: number }) =>
      pool ? perplexityOnPool(pool, model, tokenizer(), texts, o) : Promise.resolve(perplexity(model, tokenizer(), texts, o));
    try {
      const window = Math.min(p.window, model.config.ctx);
      const pick = (r: ReturnType<typeof perplexity>) => (p.procedure === 'paper' ? r.perplexity : r.tokenWeighted);
      const overall = await evaluate(
        docs.map((d) => d.text),
        { window },
      );
      ctx.progress({ step: 1, total: p.perCode ? 1 + dataset.labels.length : 1 });
      let perCode: Record<string, number> | undefined;
      if (p.perCode && dataset.labels.length > 0) {
        perCode = {};
        for (const [i, label] of dataset.labels.entries()) {
          const texts = docs.filter((d) => d.label === label).map((d) => d.text);
          if (texts.length > 0) perCode[label] = pick(await evaluate(texts, { window }));
          ctx.progress({ step: 2 + i, total: 1 + dataset.labels.length });
        }
      }
      const metrics: EvaluationMetrics = {
        split: p.split,
        procedure: p.procedure,
        perplexity: pick(overall),
        paper: overall.perplexity,
        tokenWeighted: overall.tokenWeighted,
        windows: overall.windows,
        tokens: overall.tokens,
        window,
        documents: docs.length,
        ...(perCode ? { perCode } : {}),
        params: meta.params,
        ...(meta.preset ? { preset: meta.preset } : {}),
        config: meta.config,
      };
      const file = await writeJsonOutput(ctx, 'metrics.json', metrics);
      return { outputs: { metrics: { file } }, metrics: { ...metrics }, provenance: { backend: backendName } };
    } finally {
      await pool?.dispose();
      model.dispose();
    }
  },
});
