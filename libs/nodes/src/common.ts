// Shared helpers of the node implementations: backend, tokenizer, model artifacts, text encoding,
// JSON artifacts, progress and checkpoint selection.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeInputError } from '@dpkd/graph';
import type { NodeContext } from './define-node';
import {
  chunk,
  initBackend,
  type LanguageModel,
  loadCheckpoint,
  type NamedArray,
  parameterCount,
  saveCheckpoint,
  tf,
  type ModelConfig,
} from '@dpkd/lm';
import { createTokenizer, type Tokenizer } from '@dpkd/tokenizer';

/** The one tokenizer of every node (GPT-2 BPE truncated to 4096 + EOS + PAD). */
let sharedTokenizer: Tokenizer | undefined;
export const tokenizer = (): Tokenizer => (sharedTokenizer ??= createTokenizer());
export const tokenizerInfo = () => ({ name: tokenizer().name, fingerprint: tokenizer().fingerprint });

/** initBackend once per process; returns the backend name for `provenance`. */
export const backend = async (): Promise<string> => {
  await initBackend();
  return tf.getBackend();
};

/** What the engine stores with a Model artifact. */
export interface ModelMeta {
  config: ModelConfig;
  params: number;
  tokenizer: { name: string; fingerprint: string };
  preset?: string;
}

/** Errors a user can fix by editing the graph (the contract's class: the engine attributes it to the node). */
export { NodeInputError };

const describeInput = (ctx: NodeContext, port: string) => `${ctx.type} node ${ctx.id}: input \`${port}\``;

export function inputOf(ctx: NodeContext, port: string) {
  const input = ctx.inputs[port];
  if (!input) throw new NodeInputError(`${ctx.type} node ${ctx.id} needs an input \`${port}\``);
  return input;
}

/** Loads a Model input and refuses one made for another tokenizer (its ids would mean other strings). */
export async function loadModelInput(ctx: NodeContext, port: string): Promise<{ model: LanguageModel; meta: ModelMeta }> {
  const input = inputOf(ctx, port);
  const { model, metadata } = await loadCheckpoint(input.path);
  const expected = tokenizerInfo();
  const recorded = metadata.tokenizerFingerprint ?? (input.meta as Partial<ModelMeta> | undefined)?.tokenizer?.fingerprint;
  if (recorded !== expected.fingerprint || model.config.vocab !== tokenizer().vocabSize) {
    model.dispose();
    throw new NodeInputError(
      `${describeInput(ctx, port)} is a model for another tokenizer (${metadata.tokenizerName ?? 'unknown'}, fingerprint ${String(recorded).slice(0, 12)}, vocab ${model.config.vocab}); ` +
        `dpkd uses ${expected.name} (${expected.fingerprint.slice(0, 12)}, vocab ${tokenizer().vocabSize}): retrain it with a Pretrain node`,
    );
  }
  const meta = (input.meta as ModelMeta | undefined) ?? { config: model.config, params: parameterCount(model.config), tokenizer: expected };
  return { model, meta: { ...meta, config: model.config, params: parameterCount(model.config), tokenizer: expected } };
}

/** Saves a model into the scratch dir as the output `port`, with its meta. */
export async function saveModelOutput(ctx: NodeContext, model: LanguageModel, preset?: string): Promise<{ file: string; meta: ModelMeta }> {
  const file = join(ctx.scratchDir, 'model.safetensors');
  const info = tokenizerInfo();
  await saveCheckpoint(model, file, { tokenizerName: info.name, tokenizerFingerprint: info.fingerprint, ...(preset ? { preset } : {}) });
  return { file, meta: { config: model.config, params: parameterCount(model.config), tokenizer: info, ...(preset ? { preset } : {}) } };
}

export async function writeJsonOutput(ctx: NodeContext, name: string, value: unknown): Promise<string> {
  const file = join(ctx.scratchDir, name);
  await writeFile(
    file,
    JSON.stringify(value, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2),
  );
  return file;
}

export const requireSeqLen = (ctx: NodeContext, seqLen: number, model: LanguageModel, port: string): void => {
  if (seqLen > model.config.ctx) {
    throw new NodeInputError(
      `${ctx.type} node ${ctx.id}: seqLen ${seqLen} exceeds the context (${model.config.ctx}) of the model on input \`${port}\`; set seqLen <= ${model.config.ctx}`,
    );
  }
};

/** Token ids of each text, with EOS appended when asked, padded with PAD or truncated to seqLen. */
export function encodeFixed(texts: string[], seqLen: number, options: { eos?: boolean } = {}): number[][] {
  const tok = tokenizer();
  return texts.map((text) => {
    const ids = tok.encode(text);
    if (options.eos) ids.push(tok.eos);
    const row = ids.slice(0, seqLen);
    while (row.length < seqLen) row.push(tok.pad);
    return row;
  });
}

/** Documents joined by EOS into one stream, cut into non-overlapping seqLen windows (the last partial one dropped). */
export function encodeStream(texts: string[], seqLen: number): number[][] {
  const tok = tokenizer();
  const stream: number[] = [];
  for (const text of texts) stream.push(...tok.encode(text), tok.eos);
  const windows: number[][] = [];
  for (let i = 0; i + seqLen <= stream.length; i += seqLen) windows.push(stream.slice(i, i + seqLen));
  return windows;
}

/**
 * Steps after which the validation loss is measured: the end of each epoch, or, with at most one
 * epoch, three evenly spaced points (a third, two thirds, the end).
 */
export function evaluationSteps(totalSteps: number, epochs: number): Set<number> {
  const points = epochs > 1 ? Math.ceil(epochs) : 3;
  const steps = new Set<number>();
  for (let i = 1; i <= points; i++) steps.add(Math.max(1, Math.min(totalSteps, Math.round((i * totalSteps) / points))));
  steps.add(totalSteps);
  return steps;
}

/** Keeps a copy of the parameters with the lowest validation loss seen so far. */
export class BestCheckpoint {
  private best: Map<string, tf.Tensor> | undefined;
  bestLoss = Infinity;
  bestStep = 0;
  readonly history: Array<{ step: number; loss: number }> = [];

  constructor(private readonly params: Map<string, tf.Variable>) {}

  offer(step: number, loss: number): void {
    this.history.push({ step, loss });
    if (!(loss < this.bestLoss)) return;
    this.bestLoss = loss;
    this.bestStep = step;
    this.best?.forEach((t) => t.dispose());
    this.best = new Map([...this.params].map(([name, v]) => [name, tf.clone(v)]));
  }

  /** Its state for a resumable training checkpoint (see resumable.ts). */
  snapshot(): { extra: Record<string, unknown>; arrays: Map<string, NamedArray> } {
    const arrays = new Map<string, NamedArray>();
    this.best?.forEach((t, name) => arrays.set(`best/${name}`, { data: (t.dataSync() as Float32Array).slice(), shape: t.shape }));
    return { extra: { best: { loss: this.bestLoss, step: this.bestStep, history: this.history } }, arrays };
  }

  /** Continues from a snapshot() saved by an interrupted run. */
  resumeFrom(extra: Record<string, unknown>, arrays: Map<string, NamedArray>): void {
    const saved = extra.best as { loss: number | null; step: number; history: Array<{ step: number; loss: number }> } | undefined;
    if (!saved) return;
    this.bestLoss = saved.loss ?? Infinity; // JSON has no Infinity: null before any offer
    this.bestStep = saved.step;
    this.history.splice(0, this.history.length, ...saved.history);
    this.dispose();
    const best = [...arrays].filter(([key]) => key.startsWith('best/'));
    if (best.length > 0) this.best = new Map(best.map(([key, { data, shape }]) => [key.slice('best/'.length), tf.tensor(data, shape)]));
  }

  /** Puts the best parameters back into the model (no-op if nothing was offered). */
  restore(): void {
    if (!this.best) return;
    for (const [name, value] of this.best) this.params.get(name)!.assign(value);
    this.dispose();
  }

  dispose(): void {
    this.best?.forEach((t) => t.dispose());
    this.best = undefined;
  }
}

/** Mean next-token CE (PAD masked) of a model on fixed-length sequences, in batches; no gradient. */
export function meanLoss(lossOf: (batch: number[][]) => tf.Scalar, sequences: number[][], batchSize = 16): number {
  let total = 0;
  let count = 0;
  for (const batch of chunk(sequences, batchSize)) {
    total += tf.tidy(() => lossOf(batch).dataSync()[0]!) * batch.length;
    count += batch.length;
  }
  return count > 0 ? total / count : Number.NaN;
}

/** Progress every few steps (and the last), and a stop flag for the abort signal. */
/**
 * Progress for a training loop: a report every `every` steps (at most ~50 per run) and at the end; with
 * `epsilonAt`, each report carries the ε spent so far (DP nodes), computed only when reported.
 */
export const reporter = (ctx: NodeContext, every = 5, epsilonAt?: (step: number) => number) => ({
  shouldStop: () => ctx.signal.aborted,
  onStep: (r: { step: number; total: number; loss: number }) => {
    const interval = Math.max(every, Math.ceil(r.total / 50));
    if (r.step % interval !== 0 && r.step !== r.total) return;
    ctx.progress({ step: r.step, total: r.total, loss: r.loss, ...(epsilonAt ? { epsilon: epsilonAt(r.step) } : {}) });
  },
});

export const abortIfStopped = (ctx: NodeContext): void => {
  if (ctx.signal.aborted) throw new Error(`${ctx.type} node ${ctx.id} was interrupted`);
};
