import * as tf from '@tensorflow/tfjs';
import { createKvCache, disposeKvCache, forward, type LanguageModel } from './model';
import { createRng, restoreRng, type Rng } from './rng';

export interface GenerateOptions {
  /** Total length including the prompt (the paper: 128), capped at the model context. */
  maxLength?: number;
  temperature?: number;
  /** 0 = off. */
  topK?: number;
  /** 1 = off. */
  topP?: number;
  /** Ban any n-gram of this size from appearing twice (prompt included); 0 = off. */
  noRepeatNgram?: number;
  /** Stop a sequence at this token (not included in the output). */
  eos?: number;
  /** Argmax instead of sampling (after the n-gram ban). */
  greedy?: boolean;
  /** With the row's global index, picks the row's own random stream (rowRng). */
  seed?: number;
  /**
   * Global index of the first prompt (default 0): a shard of a larger batch that starts at row 40 samples
   * exactly what rows 40.. of the whole batch would (ReplicaPool.generate deals shards with their offsets).
   */
  firstRow?: number;
  /**
   * At most this many prompt tokens go through the first forward (default: the shortest prompt's length; the
   * rest of longer prompts is fed a token per step). A shard is given the whole batch's shortest length, so
   * that each row's logits come from the same sequence of forward shapes as in the whole batch.
   */
  prefill?: number;
  /** Use the KV cache (default true); false recomputes the whole prefix at each step (reference). */
  kvCache?: boolean;
}

/** Which next tokens would repeat an n-gram already in `seq` (HF's no_repeat_ngram_size). */
const bannedTokens = (seq: number[], n: number): Set<number> => {
  const banned = new Set<number>();
  if (n <= 0 || seq.length < n - 1) return banned;
  const prefixStart = seq.length - (n - 1);
  for (let j = 0; j + n - 1 < seq.length; j++) {
    let match = true;
    for (let k = 0; k < n - 1 && match; k++) match = seq[j + k] === seq[prefixStart + k];
    if (match) banned.add(seq[j + n - 1]!);
  }
  return banned;
};

/** HF's processor order: n-gram ban, temperature, top-k, top-p; then sample (or argmax). */
export const sampleToken = (logits: Float32Array, seq: number[], o: GenerateOptions, rng: Rng): number => {
  const scores = Array.from(logits);
  for (const t of bannedTokens(seq, o.noRepeatNgram ?? 0)) scores[t] = -Infinity;
  if (o.greedy) {
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
    return best;
  }
  const temperature = o.temperature ?? 1;
  // With top-k, only scores >= the k-th largest can survive: a native numeric sort of a typed copy finds
  // that threshold (a comparator sort of all V indices per token was ~40 % of KV-cache generation time).
  // Candidates are collected in index order and sorted stably, so the order (ties included) is unchanged.
  const k = o.topK ?? 0;
  const threshold = k > 0 && k < scores.length ? Float32Array.from(scores).sort()[scores.length - k]! : -Infinity;
  let order: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! > -Infinity && scores[i]! >= threshold) order.push(i);
  order.sort((a, b) => scores[b]! - scores[a]!);
  if (o.topK && o.topK > 0) order = order.slice(0, o.topK);
  const top = scores[order[0]!]! / temperature;
  let probs = order.map((i) => Math.exp(scores[i]! / temperature - top));
  let z = probs.reduce((a, b) => a + b, 0);
  const topP = o.topP ?? 1;
  if (topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probs.length && cumulative < topP) cumulative += probs[keep++]! / z;
    order = order.slice(0, Math.max(1, keep));
    probs = probs.slice(0, Math.max(1, keep));
    z = probs.reduce((a, b) => a + b, 0);
  }
  let u = rng.next() * z;
  for (let i = 0; i < order.length; i++) {
    u -= probs[i]!;
    if (u < 0) return order[i]!;
  }
  return order[order.length - 1]!;
};

/**
 * The random stream of row `row` of a call seeded `seed`: sfc32 from the seed's generator state XOR four draws
 * of a generator seeded by the row index. Each row draws only from its own stream, so what a row samples does
 * not depend on how the rows are batched or sharded across threads. The state is 128 bits of the pair (not a
 * 32-bit seed per row, which would repeat, by the birthday bound, somewhere in a corpus of 10^5 rows).
 */
export const rowRng = (seed: number, row: number): Rng => {
  const rowWords = createRng(row);
  const sfc32 = createRng(seed)
    .state()
    .sfc32.map((word) => (word ^ (rowWords.next() * 2 ** 32)) | 0) as [number, number, number, number];
  return restoreRng({ sfc32 });
};

/**
 * Batched generation. Prompts of different lengths share each step: the cache is filled with the
 * shortest prompt, then a sequence still inside its prompt is fed its next prompt token instead of a
 * sample (no padding, no per-row positions). Row b samples from rowRng(seed, firstRow + b): on wasm a row's
 * logits are bitwise the same in any batch (same forward shapes, see `prefill`), so the tokens are too.
 * Returns the continuations (prompt and EOS excluded).
 */
export const generate = (model: LanguageModel, prompts: number[][], o: GenerateOptions = {}): number[][] => {
  if (prompts.length === 0) return [];
  if (prompts.some((p) => p.length === 0)) throw new Error('generate: every prompt needs at least one token (use [eos] as a start token)');
  const maxLength = Math.min(o.maxLength ?? model.config.ctx, model.config.ctx);
  const B = prompts.length;
  const rngs = prompts.map((_, b) => rowRng(o.seed ?? 0, (o.firstRow ?? 0) + b));
  const V = model.config.vocab;
  const seqs = prompts.map((p) => p.slice(0, maxLength));
  const done = seqs.map(() => false);
  const start = Math.max(1, Math.min(o.prefill ?? Infinity, ...seqs.map((s) => s.length)));
  const useCache = o.kvCache ?? true;
  const cache = useCache ? createKvCache() : undefined;
  const lastLogits = (pos: number, fresh: number): Float32Array => {
    const out = tf.tidy(() => {
      const ids = useCache ? seqs.map((s) => s.slice(pos - fresh, pos)) : seqs.map((s) => s.slice(0, pos));
      const T = ids[0]!.length;
      const { logits } = forward(model, tf.tensor2d(ids, [B, T], 'int32'), { cache });
      return tf.reshape(tf.slice(tf.reshape(logits, [B, T, V]), [0, T - 1, 0], [B, 1, V]), [B, V]);
    });
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  };
  try {
    let logits = lastLogits(start, start);
    for (let pos = start; pos < maxLength; pos++) {
      for (let b = 0; b < B; b++) {
        const s = seqs[b]!;
        if (s.length > pos) continue; // still inside its prompt: the token is given
        if (done[b]) {
          s.push(o.eos ?? 0); // filler so every row has a token at pos; cut from the output
          continue;
        }
        const token = sampleToken(logits.subarray(b * V, (b + 1) * V), s, o, rngs[b]!);
        s.push(token);
        if (token === o.eos) done[b] = true;
      }
      if (done.every(Boolean)) break; // done implies every prompt is consumed
      if (pos + 1 < maxLength) logits = lastLogits(pos + 1, 1);
    }
  } finally {
    if (cache) disposeKvCache(cache);
  }
  return seqs.map((s, b) => {
    const continuation = s.slice(Math.min(prompts[b]!.length, maxLength));
    const end = o.eos === undefined ? -1 : continuation.indexOf(o.eos);
    return end >= 0 ? continuation.slice(0, end) : continuation;
  });
};

/** Minimal tokenizer shape (structural, so lm needs no dependency on @dpkd/tokenizer). */
export interface TextCodec {
  encode(text: string): number[];
  decode(ids: number[]): string;
  eos: number;
}

/** Prompt strings as token ids; an empty prompt starts from EOS (generate needs one token). */
const encodePrompts = (tokenizer: TextCodec, prompts: string[]): number[][] =>
  prompts.map((p) => {
    const ids = tokenizer.encode(p);
    return ids.length > 0 ? ids : [tokenizer.eos];
  });

/** Generates from control-code prompt strings; returns the decoded continuations. */
export const generateText = (model: LanguageModel, tokenizer: TextCodec, prompts: string[], o: GenerateOptions = {}): string[] =>
  generate(model, encodePrompts(tokenizer, prompts), { eos: tokenizer.eos, ...o }).map((ids) => tokenizer.decode(ids));

/** generateText with the rows sharded across a replica pool (ReplicaPool.generate): the same texts as one thread. */
export const generateTextOnPool = async (
  pool: { generate(prompts: number[][], o: GenerateOptions): Promise<number[][]> },
  tokenizer: TextCodec,
  prompts: string[],
  o: GenerateOptions = {},
): Promise<string[]> =>
  (await pool.generate(encodePrompts(tokenizer, prompts), { eos: tokenizer.eos, ...o })).map((ids) => tokenizer.decode(ids));
