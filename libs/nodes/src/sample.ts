// Sample: a synthetic corpus from a (DP) model prompted with control codes, allocated by a noisy,
// exact or uniform code histogram; the paper's generation settings (Yue et al. 2023). The histogram's
// noise is a rounded Gaussian from the OS CSPRNG (noise: "crypto", the default); generation is
// seeded (it reads only the DP model, so it is post-processing). Each generated row draws from its own
// stream (the call's seed and the row's index), so on ctx.threads > 1 the rows are sharded across a replica
// pool and the corpus is the one thread's, byte for byte.
import { join } from 'node:path';
import type { PrivacyClaim } from '@dpkd/graph';
import { controlCodePrompt, readDatasetFile } from '@dpkd/data';
import {
  createRng,
  cryptoSource,
  generateText,
  generateTextOnPool,
  type GenerateOptions,
  type NoiseSource,
  type RandomSource,
  ReplicaPool,
  type Rng,
  roundedGaussian,
  seededSource,
  shuffledIndices,
} from '@dpkd/lm';
import { SEEDED_NOISE_GAP } from '@dpkd/privacy';
import type { SampleParams, SamplePorts } from '@dpkd/schema';
import { abortIfStopped, backend, inputOf, loadModelInput, NodeInputError, tokenizer } from './common';
import { type CorpusRecord, writeCorpusFile } from './corpus-file';
import type { DatasetMeta } from './dataset';
import { defineNode } from './define-node';

type Params = Required<Omit<SampleParams, 'seed'>>;

/** Largest-remainder apportionment of `total` over non-negative weights (all equal if they sum to 0). */
export function apportion(total: number, weights: number[]): number[] {
  const w = weights.map((x) => Math.max(0, x));
  const sum = w.reduce((a, b) => a + b, 0);
  const shares = sum > 0 ? w.map((x) => (total * x) / sum) : w.map(() => total / w.length);
  const out = shares.map(Math.floor);
  const order = shares.map((s, i) => [s - Math.floor(s), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let i = 0, left = total - out.reduce((a, b) => a + b, 0); left > 0; i++, left--) out[order[i % order.length]![1]]!++;
  return out;
}

/**
 * Per-label counts of the train split plus round(σ·z) each: exactly round(count + σ·z), post-processing of
 * the Gaussian mechanism with L2 sensitivity 1 under add/remove one example, so it costs Gaussian(σ).
 */
export function noisyHistogram(counts: number[], sigma: number, source: RandomSource): number[] {
  return counts.map((c) => c + roundedGaussian(source, sigma));
}

/** The histogram's noise source: the OS CSPRNG unless 'seeded' (then from the node's seed). */
export const histogramSource = (noise: NoiseSource, seed: number): RandomSource =>
  noise === 'seeded' ? seededSource(createRng(seed ^ 0x5a4d)) : cryptoSource();

/** `items` in a uniformly random order (the same draws, hence the same order, as an in-place Fisher–Yates). */
const shuffled = <X>(items: X[], rng: Rng): X[] => shuffledIndices(items.length, rng).map((i) => items[i]!);

export const SampleNode = defineNode<Params, SamplePorts>({
  type: 'Sample',
  parallel: true,
  privacy(p, inputs): PrivacyClaim[] {
    const dataset = inputs.codes?.dataset;
    if (!dataset?.private) return [];
    switch (p.codes) {
      case 'noisy':
        return [
          {
            dataset,
            split: 'train',
            event: { type: 'Gaussian', sigma: p.histogramSigma },
            note: 'noisy control-code histogram (rounded Gaussian)',
            ...(p.noise === 'seeded' ? { gaps: [SEEDED_NOISE_GAP] } : {}),
          },
        ];
      case 'exact':
        return [
          {
            dataset,
            split: 'train',
            event: { type: 'NonPrivate', reason: 'exact control-code histogram' },
            note: 'exact control-code histogram (as the paper)',
          },
        ];
      default:
        // Uniform codes read only the corpus's public label set: a claim without cost, so the engine does not charge NonPrivate.
        return [{ dataset, split: 'train', event: { type: 'NoOp' }, note: 'uniform control codes: only the public label set is read' }];
    }
  },
  async run(ctx) {
    const p = ctx.params;
    const backendName = await backend();
    const codesInput = inputOf(ctx, 'codes');
    const rng = createRng(ctx.seed ^ 0x5a4d); // public randomness: subsampling and shuffling the generated texts
    let labels: string[];
    let allocation: number[];
    let histogram: Record<string, number> | undefined;
    if (p.codes === 'uniform') {
      labels = [...((codesInput.meta as DatasetMeta | undefined)?.labels ?? [])];
      allocation = apportion(
        p.count,
        labels.map(() => 1),
      );
    } else {
      const dataset = readDatasetFile(codesInput.path);
      labels = dataset.labels;
      const counts = labels.map((l) => dataset.splits.train.filter((d) => d.label === l).length);
      const weights = p.codes === 'noisy' ? noisyHistogram(counts, p.histogramSigma, histogramSource(p.noise, ctx.seed)) : counts;
      // The noisy counts are the DP release; the exact ones never leave this function.
      if (p.codes === 'noisy') histogram = Object.fromEntries(labels.map((l, i) => [l, weights[i]!]));
      allocation = apportion(p.count, weights);
    }
    const unlabelled = labels.length === 0;
    if (unlabelled) {
      labels = [''];
      allocation = [p.count];
    }
    const { model } = await loadModelInput(ctx, 'model');
    const tok = tokenizer();
    const records: CorpusRecord[] = [];
    let generated = 0;
    let round = 0;
    let replicas: ReplicaPool | undefined;
    try {
      // The rows of each call sharded across the cores the scheduler gave the run: the same texts as one thread.
      const threads = ctx.threads ?? 1;
      if (threads > 1) replicas = await ReplicaPool.start({ threads, model, loss: { kind: 'ce', pad: tok.pad } });
      const generateTexts = (prompts: string[], o: GenerateOptions) =>
        replicas ? generateTextOnPool(replicas, tok, prompts, o) : Promise.resolve(generateText(model, tok, prompts, o));
      const total = allocation.reduce((a, b) => a + b, 0);
      for (let c = 0; c < labels.length; c++) {
        const want = allocation[c]!;
        if (want === 0) continue;
        const prompt = unlabelled ? '' : controlCodePrompt([labels[c]!]);
        const pool: string[] = [];
        // Over-generate (returnsPerPrompt sequences per prompt), drop empties, then subsample to the allocation.
        while (pool.length < want) {
          abortIfStopped(ctx);
          const prompts = Math.min(p.batchSize, Math.ceil((want - pool.length) / p.returnsPerPrompt) + 1);
          const texts = await generateTexts(new Array<string>(prompts * p.returnsPerPrompt).fill(prompt), {
            maxLength: p.maxLength,
            topK: p.topK,
            topP: p.topP,
            temperature: p.temperature,
            noRepeatNgram: p.noRepeatNgram,
            seed: (ctx.seed * 1_000_003 + ++round) >>> 0,
          });
          generated += texts.length;
          for (const t of texts) {
            const clean = t.replace(/\s+/g, ' ').trim();
            if (clean.length > 0) pool.push(clean);
          }
          if (round > 50 + (10 * total) / p.batchSize && pool.length === 0) {
            throw new NodeInputError(
              `Sample node ${ctx.id}: the model generates only empty texts for code ${JSON.stringify(labels[c])}; is it trained?`,
            );
          }
          ctx.progress({ step: records.length + Math.min(pool.length, want), total, message: `code ${labels[c] || '(none)'}` });
        }
        for (const text of shuffled(pool, rng).slice(0, want)) records.push(unlabelled ? { text } : { text, label: labels[c]! });
      }
    } finally {
      await replicas?.dispose();
      model.dispose();
    }
    const file = join(ctx.scratchDir, 'corpus.jsonl');
    const meta = await writeCorpusFile(file, shuffled(records, rng));
    return {
      outputs: { corpus: { file, meta } },
      metrics: { ...meta, generated, codes: p.codes, ...(histogram ? { noisyHistogram: histogram } : {}) },
      provenance: { backend: backendName },
    };
  },
});
