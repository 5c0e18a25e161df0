// A leader and N-1 replica workers (worker threads, each with its own tfjs + wasm instance: tfjs-backend-wasm
// is single-threaded in Node, so a second core needs a second instance). The leader keeps the optimiser,
// the data order and every random draw; per step it splits each micro-batch into one shard per replica
// (itself included), computes its own shard while the workers compute theirs, and sums the gradients.
// After the leader's optimiser step, the next request carries the new parameters, so replicas stay identical.
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { ClipMethod } from '../dp';
import { generate, type GenerateOptions } from '../generate';
import { windowNllSums } from '../perplexity';
import type { LanguageModel } from '../model';
import type { Batch } from '../train';
import type { ArrayMap, ExtraArray, FromWorker, ShardLossSpec, ShardTargets, ShardWork, ToWorker } from './protocol';
import { batchLosses, shardClippedSum, shardGradients, splitEvenly, toArrays, workOf } from './shard';
import { workerScript } from './worker-script';
import { hiddenBatch, softLabelBatch } from './teacher-outputs';

/** Request messages without their id (the pool numbers them). */
type Request = ToWorker extends infer M ? (M extends { id: number } ? Omit<M, 'id'> : never) : never;

export interface ReplicaPoolOptions {
  /** Replicas in all, the leader included (1: no workers, everything on this thread). */
  threads: number;
  model: LanguageModel;
  /** Trainables beside the model's parameters (e.g. distillation projections). */
  extras?: Map<string, tf.Variable>;
  loss: ShardLossSpec;
}

class Replica {
  private pending?: { resolve: (m: FromWorker) => void; reject: (e: Error) => void };
  private failure?: Error;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const p = this.pending;
      this.pending = undefined;
      if (m.type === 'error') p?.reject(new Error(`lm worker: ${m.message}`));
      else p?.resolve(m);
    });
    const fail = (error: Error) => {
      this.failure = error;
      this.pending?.reject(error);
      this.pending = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`lm worker exited (code ${code})`)));
  }

  request(message: ToWorker): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(message);
    });
  }
}

const sumInto = (total: Map<string, tf.Tensor>, arrays: ArrayMap, shapes: Map<string, number[]>) => {
  for (const [name, data] of Object.entries(arrays)) {
    const prev = total.get(name);
    const next = tf.tidy(() => (prev ? tf.add(prev, tf.tensor(data, shapes.get(name)!)) : tf.tensor(data, shapes.get(name)!)));
    prev?.dispose();
    total.set(name, next);
  }
};

export class ReplicaPool {
  private dirty = false;
  private nextId = 0;
  private readonly shapes: Map<string, number[]>;
  private readonly extras: Map<string, tf.Variable>;

  private constructor(readonly threads: number, private readonly replicas: Replica[], private readonly o: ReplicaPoolOptions) {
    this.extras = o.extras ?? new Map();
    this.shapes = new Map([...o.model.params, ...this.extras].map(([n, v]) => [n, v.shape]));
  }

  /** Starts threads − 1 workers, each initialised with the current parameters. */
  static async start(o: ReplicaPoolOptions): Promise<ReplicaPool> {
    const threads = Math.max(1, Math.floor(o.threads));
    const replicas: Replica[] = [];
    if (threads > 1) {
      const script = await workerScript();
      const params = toArrays(o.model.params as Map<string, tf.Tensor>);
      const extra: Record<string, ExtraArray> = {};
      for (const [name, v] of o.extras ?? []) extra[name] = { data: (v.dataSync() as Float32Array).slice(), shape: v.shape };
      const init: ToWorker = { type: 'init', backend: tf.getBackend(), config: o.model.config, params, extra, loss: o.loss };
      try {
        for (let i = 1; i < threads; i++) replicas.push(new Replica(new Worker(script)));
        await Promise.all(replicas.map((r) => r.request(init)));
      } catch (error) {
        await Promise.all(replicas.map((r) => r.worker.terminate()));
        throw error;
      }
    }
    return new ReplicaPool(threads, replicas, o);
  }

  /** The leader's parameters changed (an optimiser step, a restore): the next request carries them. */
  parametersChanged(): void {
    this.dirty = true;
  }

  /** Sends each worker its request (with the parameters when they changed) and returns the pending replies. */
  private dispatch(requests: Request[]): Array<Promise<FromWorker>> {
    let params: ArrayMap | undefined;
    if (this.dirty && this.replicas.length > 0) params = toArrays(new Map([...this.o.model.params, ...this.extras]) as Map<string, tf.Tensor>);
    this.dirty = false;
    return this.replicas.map((r, i) => r.request({ ...requests[i]!, id: this.nextId++, ...(params ? { params } : {}) } as ToWorker));
  }

  /**
   * What gradientStep computes, across the replicas: Σ over micro-batches of ∇loss / microBatches.length, and
   * the mean loss. `targetsFor` gives a shard's precomputed teacher outputs (precomputed-kd losses).
   */
  async gradients(microBatches: Batch[], targetsFor?: (shard: Batch) => ShardTargets): Promise<{ grads: Map<string, tf.Tensor>; loss: number }> {
    const perReplica: ShardWork[][] = Array.from({ length: this.threads }, () => []);
    for (const micro of microBatches) {
      splitEvenly(micro, this.threads).forEach((shard, r) => {
        if (shard.length > 0) perReplica[r]!.push({ ...workOf(shard, micro, this.o.loss), ...(targetsFor ? { targets: targetsFor(shard) } : {}) });
      });
    }
    const scale = 1 / microBatches.length;
    const replies = this.dispatch(perReplica.slice(1).map((work) => ({ type: 'grad', work, scale })));
    const own = shardGradients(this.o.loss, this.o.model, this.extras, perReplica[0]!, scale);
    let loss = own.loss;
    for (const reply of await Promise.all(replies)) {
      if (reply.type !== 'grad') throw new Error(`lm worker: expected gradients, got ${reply.type}`);
      sumInto(own.grads, reply.grads, this.shapes);
      loss += reply.loss;
    }
    return { grads: own.grads, loss };
  }

  /** Σ_i c_i g_i over a logical batch, per-example clipping on each replica's shard; norms in the batch's order. */
  async clippedSum(
    batch: Batch, o: { clip: number; pad: number; physicalBatch: number; method: ClipMethod },
  ): Promise<{ grads: Map<string, tf.Tensor>; norms: number[]; loss: number }> {
    const shards = splitEvenly(batch, this.threads);
    const replies = this.dispatch(shards.slice(1).map((shard) => ({ type: 'clip', shard, ...o })));
    const own = shardClippedSum(this.o.model, shards[0]!, o);
    const norms = [...own.norms];
    let loss = own.loss;
    for (const reply of await Promise.all(replies)) {
      if (reply.type !== 'clip') throw new Error(`lm worker: expected clipped sums, got ${reply.type}`);
      sumInto(own.grads, reply.grads, this.shapes);
      norms.push(...reply.norms);
      loss += reply.loss;
    }
    return { grads: own.grads, norms, loss };
  }

  /** The mean next-token CE of each batch (evaluation), the batches dealt across the replicas. */
  async batchLosses(batches: Batch[], pad: number): Promise<number[]> {
    const parts = splitEvenly(batches, this.threads);
    const replies = this.dispatch(parts.slice(1).map((part) => ({ type: 'nll', batches: part, pad })));
    const own = batchLosses(this.o.model, parts[0]!, pad);
    const rest = await Promise.all(replies);
    return [...own, ...rest.flatMap((r) => (r.type === 'nll' ? r.losses : []))];
  }

  /** softLabelBatch of each batch, the batches dealt across the replicas (results in the batches' order). */
  async softLabels(batches: number[][][], k: number): Promise<Array<{ values: Float32Array; indices?: Int32Array }>> {
    const parts = splitEvenly(batches, this.threads);
    const replies = this.dispatch(parts.slice(1).map((part) => ({ type: 'softLabels', batches: part, k })));
    const own = parts[0]!.map((b) => softLabelBatch(this.o.model, b, k));
    const rest = await Promise.all(replies);
    return [...own, ...rest.flatMap((r) => (r.type === 'softLabels' ? r.results : []))];
  }

  /** hiddenBatch of each batch, the batches dealt across the replicas (results in the batches' order). */
  async hidden(batches: number[][][], layers: number[]): Promise<Float32Array[][]> {
    const parts = splitEvenly(batches, this.threads);
    const replies = this.dispatch(parts.slice(1).map((part) => ({ type: 'hidden', batches: part, layers })));
    const own = parts[0]!.map((b) => hiddenBatch(this.o.model, b, layers));
    const rest = await Promise.all(replies);
    return [...own, ...rest.flatMap((r) => (r.type === 'hidden' ? r.results : []))];
  }

  /** Each window's summed NLL, per batch of windows (perplexityOnPool), the batches dealt across the replicas. */
  async windowNllSums(batches: number[][][]): Promise<number[][]> {
    const parts = splitEvenly(batches, this.threads);
    const replies = this.dispatch(parts.slice(1).map((part) => ({ type: 'windowNll', batches: part })));
    const own = parts[0]!.map((group) => windowNllSums(this.o.model, group));
    const rest = await Promise.all(replies);
    return [...own, ...rest.flatMap((r) => (r.type === 'windowNll' ? r.sums : []))];
  }

  /**
   * Continuations of the prompts, dealt across the replicas in contiguous shards; replica r samples with seed
   * `seed + r`. Deterministic for a given thread count, but the random streams differ from one thread's, so a
   * sampled corpus depends on the count (greedy decoding does not): the Sample node stays on one thread.
   */
  async generate(prompts: number[][], options: Omit<GenerateOptions, 'rng'>): Promise<number[][]> {
    const parts = splitEvenly(prompts, this.threads);
    const seed = options.seed ?? 0;
    const replies = this.dispatch(parts.slice(1).map((part, i) => ({ type: 'generate', prompts: part, options: { ...options, seed: seed + i + 1 } })));
    const own = generate(this.o.model, parts[0]!, { ...options, seed });
    const rest = await Promise.all(replies);
    return [...own, ...rest.flatMap((r) => (r.type === 'generate' ? r.continuations : []))];
  }

  async dispose(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}
