// DP-SGD: per-example clipping (vectorised book-keeping, and the naive loop as the oracle),
// Gaussian noise on the clipped sum, normalised by the expected batch size, Poisson sampling. The sampling
// and the noise draw from a noise.ts source: the OS CSPRNG by default, a seeded one only when asked.
import * as tf from '@tensorflow/tfjs';
import { nextTokenTargets } from './losses';
import { forwardHidden, type LanguageModel } from './model';
import { createTape, disposeTape, slices2d, sumPerExample, type Tape, tiedHeadNll } from './ops';
import { AdamW, type AdamWOptions, learningRate, type Schedule } from './optim';
import { cryptoSource, gaussianNoise, type NoiseSource, type RandomSource, seededSource, uniform53 } from './noise';
import { createRng, restoreRng, type RngState, type SeededRng, shuffledIndices } from './rng';
import { arraysOf, type Batch, chunk, restoreParams, type StepReport, type TrainCheckpointing } from './train';

type T2 = tf.Tensor2D;

export interface ClippedSum {
  /** Σ_i c_i g_i per parameter name, c_i = min(1, C / (‖g_i‖ + 1e-6)). */
  sum: Map<string, tf.Tensor>;
  /** ‖g_i‖ before clipping. */
  norms: number[];
  /** Σ_i of each example's mean loss. */
  loss: number;
}

export type ClipMethod = 'vectorised' | 'naive';

const clipFactors = (norms: number[], clip: number): number[] => norms.map((n) => Math.min(1, clip / (n + 1e-6)));

const varNames = (model: LanguageModel) => {
  const names = [...model.params.keys()];
  const vars = names.map((n) => model.params.get(n)!);
  return { names, vars, nameOf: new Map(vars.map((v, i) => [v.name, names[i]!])) };
};

/** Rows of a [B*T, k] tensor as B tensors [T, k]: one read, no tf.slice (which copies the whole input on wasm). */
const splitRows = (t: T2, parts: number): T2[] => slices2d(t, t.shape[0] / parts, t.shape[1]);

/** Per-example mean next-token CE summed over the batch (its gradient for example i is g_i), the head fused in. */
const perExampleLoss = (model: LanguageModel, batch: Batch, pad: number, tape?: Tape): tf.Scalar => {
  const { targets, weights } = nextTokenTargets(batch, pad, 'per-example-sum');
  const { final } = forwardHidden(model, tf.tensor2d(batch, undefined, 'int32'), { tape });
  const wte = model.params.get('wte')! as tf.Tensor as T2;
  return tiedHeadNll(final, wte, tf.tensor1d(targets, 'int32'), tf.tensor1d(weights), tape);
};

/** One example's loss; its gradient is the g_i that DP-SGD clips. */
export type ExampleLoss = (example: number[]) => tf.Scalar;

/**
 * Reference: one backward pass per example. Works for any model and any per-example loss (default: the
 * example's mean next-token CE); the test oracle, and the method for losses other than CE (the DPKD
 * student's KD loss).
 */
export const naiveClippedSum = (
  model: LanguageModel,
  batch: Batch,
  clip: number,
  pad: number,
  exampleLoss: ExampleLoss = (example) => perExampleLoss(model, [example], pad),
): ClippedSum => {
  const { vars, nameOf } = varNames(model);
  const sum = new Map<string, tf.Tensor>();
  const norms: number[] = [];
  let loss = 0;
  for (const example of batch) {
    const { value, grads } = tf.variableGrads(() => exampleLoss(example), vars);
    loss += value.dataSync()[0]!;
    value.dispose();
    const squared = tf.tidy(() => tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
    const norm = Math.sqrt(squared.dataSync()[0]!);
    squared.dispose();
    norms.push(norm);
    const c = clipFactors([norm], clip)[0]!;
    for (const [varName, g] of Object.entries(grads)) {
      const name = nameOf.get(varName)!;
      const next = tf.tidy(() => (sum.has(name) ? tf.add(sum.get(name)!, tf.mul(g, c)) : tf.mul(g, c)));
      sum.get(name)?.dispose();
      sum.set(name, next);
      g.dispose();
    }
  }
  return { sum, norms, loss };
};

/**
 * Vectorised book-keeping: one forward/backward pass captures each layer's input A and output
 * gradient G; per-example squared norms are exact per parameter (‖A_iᵀG_i‖² with one 2-D matmul per
 * example: batched 3-D matmuls fall off XNNPACK on wasm); the clipped sum is then one matmul
 * per layer with G rows scaled by c_i.
 */
export const vectorisedClippedSum = (model: LanguageModel, batch: Batch, clip: number, pad: number): ClippedSum => {
  const { config } = model;
  const B = batch.length;
  const T = batch[0]!.length;
  const { vars } = varNames(model);
  const tape = createTape(B, T);
  const perExample = new Map<string, T2[]>();
  try {
    const { value, grads } = tf.variableGrads(() => perExampleLoss(model, batch, pad, tape), vars);
    const loss = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    const norms = perExampleNorms(tape, B, T, perExample);
    const c = clipFactors(norms, clip);
    let sum = new Map<string, tf.Tensor>();
    tf.tidy(() => {
      sum = clippedSums(tape, perExample, c, T, config.vocab, config.ctx); // its results are tf.keep()-ed
    });
    return { sum, norms, loss };
  } finally {
    disposeTape(tape);
    perExample.forEach((list) => tf.dispose(list));
  }
};

/** x [B*T, k] as B slices xᵢᵀ [k, T]: one rank-3 transpose (fast on wasm) instead of B 2-D ones. */
const transposedRows = (x: T2, B: number): T2[] => {
  const [rows, k] = x.shape;
  return slices2d(tf.transpose(tf.reshape(x, [B, rows / B, k]), [0, 2, 1]), k, rows / B);
};

/**
 * Per-example gradient norms. The per-example weight gradients A_iᵀG_i (and the head's H_iᵀL_i) are
 * materialised anyway for their norms, so they are kept in `perExample` (tf.keep; the caller disposes)
 * and clippedSums reuses them as Σ c_i (A_iᵀG_i) instead of a second full-batch matmul.
 */
const perExampleNorms = (tape: Tape, B: number, T: number, perExample: Map<string, T2[]>): number[] => {
  const squared = tf.tidy(() => {
    const rowsq = (t: tf.Tensor) => tf.sum(tf.square(t), 1); // [B, k] -> [B]
    const terms: tf.Tensor[] = [];
    const perExampleSq: tf.Tensor[][] = Array.from({ length: B }, () => []);
    const keepGradient = (name: string, i: number, g: T2) => {
      if (i === 0) perExample.set(name, []);
      perExample.get(name)!.push(tf.keep(g));
      perExampleSq[i]!.push(tf.sum(tf.square(g)));
    };
    for (const [name, { A, G }] of tape.linear) {
      terms.push(rowsq(sumPerExample(G, B)));
      const Ats = transposedRows(A, B);
      const Gs = splitRows(G, B);
      for (let i = 0; i < B; i++) keepGradient(name, i, tf.matMul(Ats[i]!, Gs[i]!));
    }
    for (const { dg, db } of tape.affine.values()) terms.push(rowsq(dg), rowsq(db));
    terms.push(rowsq(tape.pos!));
    // Tied wte: g_i = P_iᵀ + S_i with P_i = H_iᵀ L_i [d, V] (head) and S_i = scatter(ids_i, E_i) [V, d].
    // ‖S_i‖² = Σ_{s,t: ids equal} E_s·E_t and <P_iᵀ, S_i> = Σ_{s,t} (H_s·E_t) L[s, ids_t] reduce to [T, T] products.
    const ids = tape.emb!.ids.dataSync() as Int32Array;
    const V = tape.head!.G.shape[1];
    const Hts = transposedRows(tape.head!.A, B);
    const Hs = splitRows(tape.head!.A, B);
    // One read of the [B*T, V] logits gradient serves the per-example slices and the gathered L[s, ids_t]
    // (a flat tf.gather of B*T*T values costs ~300 ns each on wasm).
    const L = tape.head!.G.dataSync() as Float32Array;
    const Ls = Array.from({ length: B }, (_, i) => tf.tensor2d(L.subarray(i * T * V, (i + 1) * T * V), [T, V]));
    const Ets = transposedRows(tape.emb!.G, B);
    const Es = splitRows(tape.emb!.G, B);
    const { picks, same } = sameExamplePairs(L, ids, B, T, V);
    const HE: T2[] = [];
    const EE: T2[] = [];
    for (let i = 0; i < B; i++) {
      keepGradient('wte', i, tf.matMul(Hts[i]!, Ls[i]!));
      HE.push(tf.matMul(Hs[i]!, Ets[i]!));
      EE.push(tf.matMul(Es[i]!, Ets[i]!));
    }
    const rowsOf = (list: T2[]) => tf.reshape(tf.stack(list), [B, T * T]);
    const embSq = tf.sum(tf.mul(rowsOf(EE), tf.tensor2d(same, [B, T * T])), 1);
    const cross = tf.mul(tf.sum(tf.mul(rowsOf(HE), tf.tensor2d(picks, [B, T * T])), 1), 2);
    terms.push(embSq, cross);
    return tf.add(tf.addN(terms), tf.stack(perExampleSq.map((list) => tf.addN(list))));
  });
  const values = Array.from(squared.dataSync(), (v) => Math.sqrt(Math.max(0, v)));
  squared.dispose();
  return values;
};

/**
 * For s, t in the same example, as [B, T*T] rows: L[s, ids_t] (L the [B*T, V] logits gradient) and
 * [ids_s == ids_t]. A small hot function of its own so that V8 optimises the loop (inlined in the large
 * norms closure it ran several times slower).
 */
const sameExamplePairs = (L: Float32Array, ids: Int32Array, B: number, T: number, V: number) => {
  const picks = new Float32Array(B * T * T);
  const same = new Float32Array(B * T * T);
  for (let i = 0; i < B; i++) {
    const first = i * T;
    for (let s = 0; s < T; s++) {
      const row = (first + s) * T;
      const lRow = (first + s) * V;
      const idS = ids[first + s]!;
      for (let t = 0; t < T; t++) {
        const idT = ids[first + t]!;
        picks[row + t] = L[lRow + idT]!;
        same[row + t] = idS === idT ? 1 : 0;
      }
    }
  }
  return { picks, same };
};

const weightedSum = (list: T2[], c: number[]): T2 => tf.addN(list.map((g, i) => tf.mul(g, c[i]!))) as T2;

const clippedSums = (
  tape: Tape,
  perExample: Map<string, T2[]>,
  c: number[],
  T: number,
  vocab: number,
  ctx: number,
): Map<string, tf.Tensor> => {
  const B = c.length;
  const cRow = tf.tensor2d(c, [1, B]);
  const cTokens = tf.tensor2d(
    c.flatMap((ci) => new Array<number>(T).fill(ci)),
    [B * T, 1],
  );
  const sum = new Map<string, tf.Tensor>();
  for (const [name, { G }] of tape.linear) {
    sum.set(`${name}.w`, weightedSum(perExample.get(name)!, c));
    sum.set(`${name}.b`, tf.reshape(tf.matMul(cRow, sumPerExample(G, B)), [-1]));
  }
  for (const [name, { dg, db }] of tape.affine) {
    sum.set(`${name}.g`, tf.reshape(tf.matMul(cRow, dg), [-1]));
    sum.set(`${name}.b`, tf.reshape(tf.matMul(cRow, db), [-1]));
  }
  const d = tape.head!.A.shape[1];
  const pos = tf.reshape(tf.matMul(cRow, tape.pos!), [T, d]);
  sum.set(
    'wpe',
    tf.pad(pos, [
      [0, ctx - T],
      [0, 0],
    ]),
  );
  const emb = tf.scatterND(tf.reshape(tape.emb!.ids, [-1, 1]), tf.mul(tape.emb!.G, cTokens), [vocab, d]);
  sum.set('wte', tf.add(emb, tf.transpose(weightedSum(perExample.get('wte')!, c))));
  for (const t of sum.values()) tf.keep(t);
  return sum;
};

/** Per-example clipped sum; a custom `exampleLoss` always takes the naive loop (the book-keeping is CE's). */
export const clippedSum = (
  model: LanguageModel,
  batch: Batch,
  clip: number,
  pad: number,
  method: ClipMethod = 'vectorised',
  exampleLoss?: ExampleLoss,
): ClippedSum =>
  method === 'naive' || exampleLoss ? naiveClippedSum(model, batch, clip, pad, exampleLoss) : vectorisedClippedSum(model, batch, clip, pad);

export interface DpStepOptions {
  clip: number;
  sigma: number;
  /** Denominator of the noisy sum: q·N for Poisson sampling (not the realised batch size). */
  expectedBatch: number;
  /** Micro-batch size for the per-example work (memory bound); the noise is added once per logical batch. */
  physicalBatch?: number;
  /** Where the Gaussian noise comes from (noise.ts). */
  noise: RandomSource;
  lr: number;
  pad: number;
  method?: ClipMethod;
  /** A per-example loss other than CE (clipped by the naive loop). */
  exampleLoss?: ExampleLoss;
}

/** Noisy, clipped, normalised gradient (Σ c_i g_i + N(0, σ²C²)) / expectedBatch, per parameter. */
export const dpGradient = (
  model: LanguageModel,
  logicalBatch: Batch,
  o: DpStepOptions,
): { grads: Map<string, tf.Tensor>; loss: number; norms: number[] } => {
  const total = new Map<string, tf.Tensor>();
  const norms: number[] = [];
  let loss = 0;
  for (const micro of chunk(logicalBatch, o.physicalBatch ?? (logicalBatch.length || 1))) {
    const part = clippedSum(model, micro, o.clip, o.pad, o.method, o.exampleLoss);
    norms.push(...part.norms);
    loss += part.loss;
    for (const [name, g] of part.sum) {
      const prev = total.get(name);
      total.set(name, prev ? tf.add(prev, g) : g);
      if (prev) {
        prev.dispose();
        g.dispose();
      }
    }
  }
  // The loss of a private batch is un-noised: callers must not publish it (DPFineTune does not).
  return { grads: noisyMean(model, total, o), loss: logicalBatch.length > 0 ? loss / logicalBatch.length : Number.NaN, norms };
};

/** One DP step's Gaussian noise as float32 arrays by parameter name. */
export type StepNoise = Map<string, Float32Array>;

/**
 * The Gaussian noise of one DP step, N(0, σ²C²) per coordinate, drawn parameter by parameter in the model's
 * order (the order of the draws from the source); empty when σC is 0 or not finite.
 */
export const drawNoise = (model: LanguageModel, o: Pick<DpStepOptions, 'sigma' | 'clip' | 'noise'>): StepNoise => {
  const noiseStd = o.sigma * o.clip;
  const noise: StepNoise = new Map();
  if (!(noiseStd > 0 && Number.isFinite(noiseStd))) return noise;
  for (const [name, p] of model.params) noise.set(name, gaussianNoise(o.noise, p.size, noiseStd));
  return noise;
};

/**
 * (Σ c_i g_i + N(0, σ²C²)) / expectedBatch per parameter, in the model's parameter order. Disposes the sums.
 * The noise is drawn here unless given (drawNoise: the data-parallel loop draws it on the leader while the
 * workers finish, once per step, from the same source in the same order).
 */
export const noisyMean = (
  model: LanguageModel,
  total: Map<string, tf.Tensor>,
  o: Pick<DpStepOptions, 'sigma' | 'clip' | 'noise' | 'expectedBatch'>,
  drawn: StepNoise = drawNoise(model, o),
): Map<string, tf.Tensor> => {
  const grads = new Map<string, tf.Tensor>();
  for (const [name, p] of model.params) {
    const sum = total.get(name);
    const values = drawn.get(name);
    const noise = values ? tf.tensor(values, p.shape) : undefined;
    grads.set(
      name,
      tf.tidy(() => tf.div(tf.add(sum ?? tf.zerosLike(p), noise ?? 0), o.expectedBatch)),
    );
    tf.dispose([sum, noise].filter((t): t is tf.Tensor => t !== undefined));
  }
  return grads;
};

/** One DP-SGD step with AdamW on the privatised gradient. */
export const dpStep = (
  model: LanguageModel,
  optimizer: AdamW,
  logicalBatch: Batch,
  o: DpStepOptions,
): { loss: number; norms: number[] } => {
  const { grads, loss, norms } = dpGradient(model, logicalBatch, o);
  optimizer.step(model.params, grads, o.lr);
  grads.forEach((g) => g.dispose());
  return { loss, norms };
};

/** Poisson subsampling: each index independently with probability q (variable batch size), 53-bit uniforms. */
export const poissonSample = (n: number, q: number, source: RandomSource): number[] => {
  const picked: number[] = [];
  for (let i = 0; i < n; i++) if (uniform53(source) < q) picked.push(i);
  return picked;
};

/**
 * The randomness of a DP loop's sampling and noise: the OS CSPRNG unless 'seeded' is asked for. A seeded one
 * also hands out its generator (continued from `resume` when given), whose state a checkpoint saves; the
 * CSPRNG has no state.
 */
export const dpRandomness = (
  noise: NoiseSource | undefined,
  seed: number,
  resume?: RngState,
): { source: RandomSource; seeded?: SeededRng } => {
  if (noise !== 'seeded') return { source: cryptoSource() };
  const seeded = resume ? restoreRng(resume) : createRng(seed);
  return { source: seededSource(seeded), seeded };
};

/** What every DP-SGD loop shares: the data, the sampling, the step count, the noise and the optimiser. */
export interface DpLoopOptions {
  sequences: Batch;
  pad: number;
  /** Sampling rate q, or expectedBatch (q = expectedBatch / N). */
  q?: number;
  expectedBatch?: number;
  sigma: number;
  clip: number;
  steps?: number;
  epochs?: number;
  /** 'poisson' (what the accountant assumes) or 'shuffle' (fixed-size shuffled batches, as in the paper's code). */
  sampling?: 'poisson' | 'shuffle';
  lr?: number;
  schedule?: Schedule;
  optimizer?: AdamWOptions;
  /** Seed of the sampling and noise when noise is 'seeded' (default 0). */
  seed?: number;
  /**
   * Randomness of the Poisson sampling and the Gaussian noise: 'crypto' (default: the OS CSPRNG, what the DP
   * guarantee assumes; not reproducible) or 'seeded' (reproducible from `seed`, predictable from it).
   */
  noise?: NoiseSource;
  /** An explicit source (tests: two loops on the same seeded stream). */
  source?: RandomSource;
  /**
   * Saves the loop's whole state (weights, AdamW, step, the shuffle's remaining order, a seeded source's
   * state) every `everyMs` and on a stop, and resumes from `resume`. Only the awaiting loop
   * (runDpStepsAsync) saves. With CSPRNG noise a resumed run draws fresh randomness: the same mechanism, not
   * the same numbers; with seeded noise it takes exactly the uninterrupted run's steps.
   */
  checkpoint?: TrainCheckpointing;
  shouldStop?: () => boolean;
  onStep?: (report: StepReport & { batchSize: number }) => void;
}

export interface DpTrainOptions extends DpLoopOptions {
  model: LanguageModel;
  physicalBatch?: number;
  method?: ClipMethod;
  /** A per-example loss other than CE (e.g. the DPKD student's KD loss); clipped by the naive loop. */
  exampleLoss?: ExampleLoss;
}

export interface DpTrainResult {
  /** Noisy steps actually taken, a resumed run's earlier ones included (fewer than planned when stopped): what the accountant must be given. */
  steps: number;
  q: number;
  sigma: number;
  losses: number[];
}

/** What a DP loop derives from its options: q, the step count, the random source and the batch sampler. */
export const dpLoopPlan = (o: DpLoopOptions, caller: string) => {
  const N = o.sequences.length;
  if (N === 0) throw new Error(`${caller}: no training sequences`);
  const q = o.q ?? (o.expectedBatch !== undefined ? o.expectedBatch / N : Number.NaN);
  if (!(q > 0 && q <= 1)) throw new Error(`${caller}: sampling rate q must be in (0, 1]; give q or expectedBatch <= ${N}`);
  if (!(o.clip > 0)) throw new Error(`${caller}: clip must be > 0`);
  if (!(o.sigma >= 0)) throw new Error(`${caller}: sigma must be >= 0`);
  const expectedBatch = q * N;
  const total = o.steps ?? Math.ceil((o.epochs ?? 1) / q);
  const resume = o.checkpoint?.resume;
  if (resume && resume.total !== total)
    throw new Error(`${caller}: the saved training state is for ${resume.total} steps, this run has ${total}`);
  if (resume && resume.order.some((i) => i >= N))
    throw new Error(`${caller}: the saved training state indexes more sequences than this run has`);
  if (o.checkpoint && o.source)
    throw new Error(`${caller}: an explicit random source cannot be checkpointed; use noise 'seeded' or 'crypto'`);
  const { source, seeded } = o.source ? { source: o.source, seeded: undefined } : dpRandomness(o.noise, o.seed ?? 0, resume?.rng);
  // Shuffled batches are DP sampling too: the permutation comes from the same source.
  const shuffleRng = { next: () => uniform53(source), normal: () => Number.NaN };
  let order: number[] = resume ? [...resume.order] : [];
  const nextBatch = (): Batch => {
    let indices: number[];
    if (o.sampling === 'shuffle') {
      const size = Math.max(1, Math.round(expectedBatch));
      while (order.length < size) order = order.concat(shuffledIndices(N, shuffleRng));
      indices = order.splice(0, size);
    } else indices = poissonSample(N, q, source);
    return indices.map((i) => o.sequences[i]!);
  };
  // What a checkpoint keeps of the sampler. Seeded: the shuffle's remaining order and the generator, so a resumed
  // run takes exactly the uninterrupted run's batches (that randomness is predictable from the seed anyway).
  // CSPRNG: nothing. The order says which examples the next batches hold, and DP's amplification by sampling
  // needs that secret, so it never goes to disk: a resumed run shuffles afresh (an epoch in progress may then
  // repeat or skip examples). The generator slot then holds an unused stand-in.
  const samplerState = () => (seeded ? { order: [...order], rng: seeded.state() } : { order: [], rng: createRng(0).state() });
  return { q, expectedBatch, total, source, nextBatch, samplerState };
};

/** What the DP loop hands the injected step: the batch, its learning rate and what the step needs to privatise it. */
export interface DpStepInput {
  batch: Batch;
  lr: number;
  optimizer: AdamW;
  source: RandomSource;
  expectedBatch: number;
}

/**
 * The one DP-SGD loop (dpTrainLm, dpDistillLm, dpTrainLmParallel): stop check, batch sampling, learning rate,
 * losses and reports. It yields each step's inputs and takes back the step's mean loss, so the caller injects
 * how the noisy gradient is computed and applied (on this thread, or across replicas) and whether it awaits.
 */
export function* dpSteps(o: DpLoopOptions, plan: DpLoopPlan, optimizer: AdamW): Generator<DpStepInput, DpTrainResult, number> {
  const losses: number[] = [];
  let step = o.checkpoint?.resume?.step ?? 0;
  for (; step < plan.total; step++) {
    if (o.shouldStop?.()) break;
    const batch = plan.nextBatch();
    const lr = learningRate(o.lr ?? 1e-4, o.schedule ?? { kind: 'constant' }, step);
    const loss = yield { batch, lr, optimizer, source: plan.source, expectedBatch: plan.expectedBatch };
    losses.push(loss);
    o.onStep?.({ step: step + 1, total: plan.total, loss, batchSize: batch.length });
  }
  return { steps: step, q: plan.q, sigma: o.sigma, losses };
}

export type DpLoopPlan = ReturnType<typeof dpLoopPlan>;

/** Runs dpSteps with a synchronous step; the optimiser is disposed at the end. */
export const runDpSteps = (o: DpLoopOptions, plan: DpLoopPlan, step: (input: DpStepInput) => number): DpTrainResult => {
  if (o.checkpoint) throw new Error('runDpSteps: checkpointing needs the awaiting loop (runDpStepsAsync)');
  const optimizer = new AdamW(o.optimizer);
  const loop = dpSteps(o, plan, optimizer);
  try {
    for (let next = loop.next(); ; next = loop.next(step(next.value))) if (next.done) return next.value;
  } finally {
    optimizer.dispose();
  }
};

/** Lets timers and signal handlers run between steps (so Ctrl-C can stop training and save its state). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * runDpSteps with a step that awaits (the data-parallel one, or a one-thread step that checkpoints): `ready`
 * prepares the replicas once the optimiser exists (after a resume has restored the weights and AdamW). With
 * `o.checkpoint` the whole state is saved every `everyMs`, on a stop, and never after the last step (the
 * caller commits the result then).
 */
export const runDpStepsAsync = async (
  o: DpLoopOptions & { model: LanguageModel },
  plan: DpLoopPlan,
  step: (input: DpStepInput) => Promise<number>,
  ready: (optimizer: AdamW) => Promise<void> = async () => undefined,
): Promise<DpTrainResult> => {
  const optimizer = new AdamW(o.optimizer);
  const checkpoint = o.checkpoint;
  let savedAt = Date.now();
  let done = checkpoint?.resume?.step ?? 0;
  const save = async () => {
    const caller = checkpoint!.extra?.() ?? {};
    await checkpoint!.save({
      step: done,
      total: plan.total,
      ...plan.samplerState(),
      optimizer: optimizer.exportState(),
      params: arraysOf(o.model.params),
      // Never the losses: they are un-noised statistics of private batches, and the store is not a DP release.
      losses: [],
      extra: caller.extra ?? {},
      arrays: caller.arrays ?? new Map(),
    });
    savedAt = Date.now();
  };
  const loop = dpSteps(o, plan, optimizer);
  try {
    if (checkpoint?.resume) {
      restoreParams(o.model.params, checkpoint.resume.params);
      optimizer.importState(checkpoint.resume.optimizer);
    }
    await ready(optimizer);
    for (let next = loop.next(); ;) {
      if (next.done) {
        if (checkpoint && next.value.steps < plan.total) await save(); // stopped early: resumable
        return next.value;
      }
      const loss = await step(next.value);
      done += 1;
      if (checkpoint && done < plan.total && Date.now() - savedAt >= checkpoint.everyMs) await save();
      await yieldToEventLoop();
      next = loop.next(loss);
    }
  } finally {
    optimizer.dispose();
  }
};

/** One DP step of dpTrainLm on this thread: clip, noise, AdamW; the batch's mean (un-noised) loss. */
export const oneThreadDpStep =
  (o: DpTrainOptions) =>
  ({ batch, lr, optimizer, source, expectedBatch }: DpStepInput): number =>
    dpStep(o.model, optimizer, batch, {
      clip: o.clip,
      sigma: o.sigma,
      expectedBatch,
      physicalBatch: o.physicalBatch,
      noise: source,
      lr,
      pad: o.pad,
      method: o.method,
      exampleLoss: o.exampleLoss,
    }).loss;

/** DP-SGD training of `model`: Poisson (or shuffled) batches, per-example clipping, Gaussian noise, AdamW. */
export const dpTrainLm = (o: DpTrainOptions, caller = 'dpTrainLm'): DpTrainResult =>
  runDpSteps(o, dpLoopPlan(o, caller), oneThreadDpStep(o));

/** dpTrainLm through the awaiting loop: the same steps, and it can checkpoint and be stopped between steps. */
export const dpTrainLmAsync = (o: DpTrainOptions, caller = 'dpTrainLm'): Promise<DpTrainResult> => {
  const step = oneThreadDpStep(o);
  return runDpStepsAsync(o, dpLoopPlan(o, caller), async (input) => step(input));
};
