// GPT-2 style decoder: pre-LayerNorm blocks, learned positions, output head tied to the token embedding.
import * as tf from '@tensorflow/tfjs';
import { type ModelConfig, parameterShapes, validateConfig } from './config';
import { addPositions, embed, gelu, layerNorm, linear, splitAttention, type Tape, tiedHead } from './ops';
import { createRng } from './rng';

type T2 = tf.Tensor2D;

export interface LanguageModel {
  readonly config: ModelConfig;
  /** Trainable parameters by name, in the canonical order of parameterShapes(). */
  readonly params: Map<string, tf.Variable>;
  dispose(): void;
}

let modelCounter = 0;

/** Variable names are global in tfjs, so each model gets its own prefix. */
const variable = (value: tf.Tensor, name: string, id: number) => tf.variable(value, true, `lm${id}/${name}`);

/** A model with GPT-2's initialisation (N(0, 0.02), residual projections scaled by 1/sqrt(2 layers)), seeded. */
export const createModel = (config: ModelConfig, options: { seed?: number } = {}): LanguageModel => {
  validateConfig(config);
  const rng = createRng(options.seed ?? 0);
  const id = ++modelCounter;
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (/\.g$/.test(name)) data.fill(1);
    else if (!/\.b$/.test(name)) {
      const std = name === 'wpe' ? 0.01 : /proj\.w$/.test(name) ? 0.02 / Math.sqrt(2 * config.layers) : 0.02;
      for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
    }
    params.set(
      name,
      tf.tidy(() => variable(tf.tensor(data, shape), name, id)),
    );
  }
  return fromParams(config, params);
};

/** Wraps existing tensors (e.g. from a checkpoint) as a model; takes ownership of them. */
export const modelFromTensors = (config: ModelConfig, tensors: Map<string, tf.Tensor>): LanguageModel => {
  validateConfig(config);
  const id = ++modelCounter;
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const t = tensors.get(name);
    if (!t) throw new Error(`checkpoint is missing parameter '${name}'`);
    if (t.shape.join(',') !== shape.join(',')) throw new Error(`parameter '${name}' has shape [${t.shape}], the config needs [${shape}]`);
    params.set(name, variable(t, name, id));
    t.dispose();
  }
  return fromParams(config, params);
};

const fromParams = (config: ModelConfig, params: Map<string, tf.Variable>): LanguageModel => ({
  config,
  params,
  dispose: () => params.forEach((v) => v.dispose()),
});

/** Keys and values of earlier positions, per layer, [B*H, length, dh]; owned by the caller (disposeKvCache). */
export interface KvCache {
  length: number;
  k: tf.Tensor3D[];
  v: tf.Tensor3D[];
}
export const createKvCache = (): KvCache => ({ length: 0, k: [], v: [] });
export const disposeKvCache = (cache: KvCache): void => {
  tf.dispose([...cache.k, ...cache.v]);
  cache.k = [];
  cache.v = [];
  cache.length = 0;
};

export interface ForwardOptions {
  /** Capture per-layer A and G for per-example gradients (parameter gradients then come out as zeros). */
  tape?: Tape;
  /** Also return the hidden states (HF order: embeddings, after each block but the last, ln_f output). */
  hidden?: boolean;
  /** Attend to (and extend) these cached keys/values; ids are then the next positions. */
  cache?: KvCache;
  /**
   * 'split': one 2-D matmul per (example, head) (XNNPACK on wasm); 'batched': rank-3 matmuls (fewer ops,
   * but wasm's scalar fallback). Default 'auto': split from SPLIT_ATTENTION_MIN_QUERIES query positions up.
   */
  attention?: 'auto' | 'split' | 'batched';
}

/** With fewer query rows (KV-cache decoding, tiny test models) the per-op overhead of 'split' outweighs its faster matmuls. */
export const SPLIT_ATTENTION_MIN_QUERIES = 32;

export interface ForwardResult {
  /** [B*T, vocab] */
  logits: T2;
  /** Each [B*T, d]; layers + 1 entries. */
  hidden?: T2[];
}

const causalMask = (queries: number, keys: number, start: number): T2 => {
  const mask = new Float32Array(queries * keys);
  for (let i = 0; i < queries; i++) for (let j = start + i + 1; j < keys; j++) mask[i * keys + j] = -1e9;
  return tf.tensor2d(mask, [queries, keys]);
};

/** ids: int32 [B, T]. Call inside tf.tidy (or dispose the result). */
export const forward = (model: LanguageModel, ids: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult => {
  const { final, hidden } = forwardHidden(model, ids, options);
  const logits = tiedHead(final, model.params.get('wte')! as tf.Tensor as T2, options.tape);
  return hidden ? { logits, hidden } : { logits };
};

/**
 * Everything but the output head: `final` is the ln_f output [B*T, d] (loss functions fuse the tied head
 * with the cross-entropy, see tiedHeadNll). Call inside tf.tidy.
 */
export const forwardHidden = (model: LanguageModel, ids: tf.Tensor2D, options: ForwardOptions = {}): { final: T2; hidden?: T2[] } => {
  const { config: c, params } = model;
  const p = (name: string) => params.get(name)! as tf.Tensor as T2;
  const p1 = (name: string) => params.get(name)! as tf.Tensor as tf.Tensor1D;
  const [B, T] = ids.shape;
  const { tape, cache } = options;
  const start = cache?.length ?? 0;
  const H = c.heads;
  const dh = c.d / H;
  const keys = start + T;
  const mask = causalMask(T, keys, start);
  const scale = 1 / Math.sqrt(dh);
  const mode = options.attention ?? 'auto';
  const split = mode === 'split' || (mode === 'auto' && T >= SPLIT_ATTENTION_MIN_QUERIES);

  let x = embed(p('wte'), tf.reshape(ids, [B * T]) as tf.Tensor1D, tape);
  x = addPositions(x, p('wpe'), B, T, start, tape);
  const hidden: T2[] = [];
  const toHeads = (t: tf.Tensor, len: number) =>
    tf.reshape(tf.transpose(tf.reshape(t, [B, len, H, dh]), [0, 2, 1, 3]), [B * H, len, dh]) as tf.Tensor3D;

  for (let l = 0; l < c.layers; l++) {
    if (options.hidden) hidden.push(x);
    const n = `h${l}.`;
    const a = layerNorm(x, p1(`${n}ln1.g`), p1(`${n}ln1.b`), `${n}ln1`, tape);
    const qkv = linear(a, p(`${n}attn.qkv.w`), p1(`${n}attn.qkv.b`), `${n}attn.qkv`, tape);
    const [q, k, v] = tf.split(qkv, 3, 1);
    let kh = toHeads(k!, T);
    let vh = toHeads(v!, T);
    if (cache) {
      if (cache.k[l]) {
        kh = tf.concat([cache.k[l]!, kh], 1);
        vh = tf.concat([cache.v[l]!, vh], 1);
        cache.k[l]!.dispose();
        cache.v[l]!.dispose();
      }
      cache.k[l] = tf.keep(kh);
      cache.v[l] = tf.keep(vh);
    }
    const context = split
      ? splitAttention(toHeads(q!, T), kh, vh, mask, scale)
      : tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(toHeads(q!, T), kh, false, true), scale), mask)), vh);
    const merged = tf.reshape(tf.transpose(tf.reshape(context, [B, H, T, dh]), [0, 2, 1, 3]), [B * T, c.d]) as T2;
    x = tf.add(x, linear(merged, p(`${n}attn.proj.w`), p1(`${n}attn.proj.b`), `${n}attn.proj`, tape));
    const m = layerNorm(x, p1(`${n}ln2.g`), p1(`${n}ln2.b`), `${n}ln2`, tape);
    const fc = gelu(linear(m, p(`${n}mlp.fc.w`), p1(`${n}mlp.fc.b`), `${n}mlp.fc`, tape), c.gelu) as T2;
    x = tf.add(x, linear(fc, p(`${n}mlp.proj.w`), p1(`${n}mlp.proj.b`), `${n}mlp.proj`, tape));
  }
  const final = layerNorm(x, p1('lnf.g'), p1('lnf.b'), 'lnf', tape);
  if (options.hidden) hidden.push(final);
  if (cache) cache.length += T;
  return options.hidden ? { final, hidden } : { final };
};
