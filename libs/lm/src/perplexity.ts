import * as tf from '@tensorflow/tfjs';
import type { TextCodec } from './generate';
import { forward, type LanguageModel } from './model';

/** Per-row negative log-likelihood of targets (no gradient). logits [N, V], targets length N. */
export const rowNll = (logits: tf.Tensor2D, targets: Int32Array): Float32Array => {
  const nll = tf.tidy(() => {
    const [n, v] = logits.shape;
    const flat = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), tf.tensor1d(targets, 'int32'));
    return tf.sub(tf.logSumExp(logits, -1), tf.gather(tf.reshape(logits, [n * v]), flat));
  });
  const out = nll.dataSync() as Float32Array;
  nll.dispose();
  return out;
};

export interface PerplexityResult {
  /** The paper's: exp(mean over windows of each window's mean NLL). */
  perplexity: number;
  /** exp(total NLL / total predicted tokens). */
  tokenWeighted: number;
  windows: number;
  tokens: number;
}

/** Non-overlapping windows of at least 2 tokens, in batches of equal-length windows. */
export const windowBatches = (ids: number[], window: number, batchSize = 16): number[][][] => {
  const windows: number[][] = [];
  for (let i = 0; i < ids.length; i += window) {
    const w = ids.slice(i, i + window);
    if (w.length >= 2) windows.push(w);
  }
  if (windows.length === 0) throw new Error('perplexity: need at least 2 tokens of text');
  const batches: number[][][] = [];
  for (let i = 0; i < windows.length;) {
    const len = windows[i]!.length;
    const group: number[][] = [];
    while (i < windows.length && group.length < batchSize && windows[i]!.length === len) group.push(windows[i++]!);
    batches.push(group);
  }
  return batches;
};

/** Each window's summed next-token NLL (positions 1..len-1), for a batch of equal-length windows. */
export const windowNllSums = (model: LanguageModel, group: number[][]): number[] => {
  const len = group[0]!.length;
  const targets = new Int32Array(group.length * len);
  group.forEach((w, b) => w.forEach((_, t) => (targets[b * len + t] = t + 1 < len ? w[t + 1]! : 0)));
  const logits = tf.tidy(() => forward(model, tf.tensor2d(group, [group.length, len], 'int32')).logits);
  const nll = rowNll(logits, targets);
  logits.dispose();
  return group.map((_, b) => {
    let sum = 0;
    for (let t = 0; t + 1 < len; t++) sum += nll[b * len + t]!;
    return sum;
  });
};

/** The perplexities from each window's NLL sum (windows in stream order). */
export const perplexityOf = (batches: number[][][], sums: number[][]): PerplexityResult => {
  const windowMeans: number[] = [];
  let totalNll = 0;
  let tokens = 0;
  batches.forEach((group, g) =>
    group.forEach((w, b) => {
      const sum = sums[g]![b]!;
      windowMeans.push(sum / (w.length - 1));
      totalNll += sum;
      tokens += w.length - 1;
    }),
  );
  const meanOfMeans = windowMeans.reduce((a, b) => a + b, 0) / windowMeans.length;
  return { perplexity: Math.exp(meanOfMeans), tokenWeighted: Math.exp(totalNll / tokens), windows: windowMeans.length, tokens };
};

/** Perplexity of a token stream in non-overlapping windows (each window predicts its tokens 1..len-1). */
export const streamPerplexity = (
  model: LanguageModel,
  ids: number[],
  o: { window?: number; batchSize?: number } = {},
): PerplexityResult => {
  const batches = windowBatches(ids, Math.min(o.window ?? 128, model.config.ctx), o.batchSize);
  return perplexityOf(
    batches,
    batches.map((group) => windowNllSums(model, group)),
  );
};

/** The paper's procedure: texts joined by a blank line ("\n\n"), no EOS, 128-token windows. */
export const perplexity = (
  model: LanguageModel,
  tokenizer: Pick<TextCodec, 'encode'>,
  texts: string[],
  o: { window?: number; batchSize?: number } = {},
): PerplexityResult => streamPerplexity(model, tokenizer.encode(texts.join('\n\n')), o);

/**
 * perplexity() with the window batches dealt across a replica pool (parallel/pool.ts): the same windows,
 * the same per-window sums and the same reduction order, so the result equals one thread's.
 */
export const perplexityOnPool = async (
  pool: { windowNllSums(batches: number[][][]): Promise<number[][]> },
  model: LanguageModel,
  tokenizer: Pick<TextCodec, 'encode'>,
  texts: string[],
  o: { window?: number; batchSize?: number } = {},
): Promise<PerplexityResult> => {
  const batches = windowBatches(tokenizer.encode(texts.join('\n\n')), Math.min(o.window ?? 128, model.config.ctx), o.batchSize);
  return perplexityOf(batches, await pool.windowNllSums(batches));
};
