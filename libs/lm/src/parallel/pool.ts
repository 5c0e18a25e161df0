// A leader and N-1 replica workers (worker threads, each with its own tfjs + wasm instance: tfjs-backend-wasm
// is single-threaded in Node, so a second core needs a second instance). The leader keeps the optimiser,
// the data order and every random draw; per step it cuts each micro-batch into pieces (two per replica) and
// deals them: a worker gets its next piece when it returns one, the leader computes pieces itself in between.
// A replica that gets less CPU (a shared machine) thus takes fewer pieces instead of holding the step up. The
// results are combined in piece order, so a step does not depend on who computed what. After the leader's
// optimiser step, a worker's next request carries the new parameters, so replicas stay identical.
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { ClipMethod } from '../dp';
import { generate, type GenerateOptions } from '../generate';
import { windowNllSums } from '../perplexity';
import type { LanguageModel } from '../model';
import type { Batch } from '../train';
import type { ArrayMap, ExtraArray, FromWorker, ShardLossSpec, ShardTargets, ShardWork, ToWorker } from './protocol';
import { batchLosses, shardClippedSum, shardGradients, splitEvenly, toArrays, workOf } from './shard';
import { chunk } from '../train';
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
  private stale: boolean[];
  private paramsCache?: ArrayMap;
  private nextId = 0;
  private readonly shapes: Map<string, number[]>;
  private readonly extras: Map<string, tf.Variable>;

  private constructor(
    readonly threads: number,
    private readonly replicas: Replica[],
    private readonly o: ReplicaPoolOptions,
  ) {
    this.extras = o.extras ?? new Map();
    this.shapes = new Map([...o.model.params, ...this.extras].map(([n, v]) => [n, v.shape]));
    this.stale = replicas.map(() => false);
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

  /** The leader's parameters changed (an optimiser step, a restore): each worker's next request carries them. */
  parametersChanged(): void {
    this.stale = this.replicas.map(() => true);
    this.paramsCache = undefined;
  }

  /** Sends replica `r` a request, with the parameters if they changed since its last one. */
  private send(r: number, request: Request): Promise<FromWorker> {
    let params: ArrayMap | undefined;
    if (this.stale[r]) {
      params = this.paramsCache ??= toArrays(new Map([...this.o.model.params, ...this.extras]) as Map<string, tf.Tensor>);
      this.stale[r] = false;
    }
    return this.replicas[r]!.request({ ...request, id: this.nextId++, ...(params ? { params } : {}) } as ToWorker);
  }

  /**
   * Results of every piece, in piece order: each worker is sent its next piece when it returns one, and the
   * leader computes a piece itself whenever none of the workers' replies is waiting.
   */
  private async deal<P, R>(
    pieces: P[],
    own: (piece: P) => R,
    request: (piece: P) => Request,
    unpack: (reply: FromWorker) => R,
  ): Promise<R[]> {
    const results = new Array<R>(pieces.length);
    let next = 0;
    let failure: unknown;
    const feed = (r: number): Promise<void> | undefined => {
      if (next >= pieces.length || failure !== undefined) return undefined;
      const index = next++;
      return this.send(r, request(pieces[index]!)).then((reply) => {
        results[index] = unpack(reply);
        return feed(r);
      });
    };
    const workers = this.replicas.map((_, r) => (feed(r) ?? Promise.resolve()).catch((e: unknown) => void (failure ??= e)));
    while (next < pieces.length && failure === undefined) {
      const index = next++;
      results[index] = own(pieces[index]!);
      await new Promise<void>((resolve) => setImmediate(resolve)); // let replies in, so the workers get their next piece
    }
    await Promise.all(workers);
    if (failure !== undefined) throw failure;
    return results;
  }

  /** Pieces of each micro-batch: two per replica (or one per example when smaller), contiguous. */
  private piecesOf(batch: Batch): Batch[] {
    return splitEvenly(batch, Math.min(batch.length, 2 * this.threads)).filter((piece) => piece.length > 0);
  }

  /** Σ of per-piece gradients in piece order (the arrays of workers' pieces become tensors here). */
  private sumInOrder(parts: Array<Map<string, tf.Tensor> | ArrayMap>): Map<string, tf.Tensor> {
    const total = new Map<string, tf.Tensor>();
    for (const part of parts) {
      if (part instanceof Map) {
        for (const [name, g] of part) {
          const prev = total.get(name);
          total.set(name, prev ? tf.add(prev, g) : g);
          if (prev) tf.dispose([prev, g]);
        }
      } else sumInto(total, part, this.shapes);
    }
    return total;
  }

  /**
   * What gradientStep computes, across the replicas: Σ over micro-batches of ∇loss / microBatches.length, and
   * the mean loss. `targetsFor` gives a piece's precomputed teacher outputs (precomputed-kd losses).
   */
  async gradients(
    microBatches: Batch[],
    targetsFor?: (shard: Batch) => ShardTargets,
  ): Promise<{ grads: Map<string, tf.Tensor>; loss: number }> {
    const pieces: ShardWork[] = microBatches.flatMap((micro) =>
      this.piecesOf(micro).map((shard) => ({
        ...workOf(shard, micro, this.o.loss),
        ...(targetsFor ? { targets: targetsFor(shard) } : {}),
      })),
    );
    const scale = 1 / microBatches.length;
    const results = await this.deal<ShardWork, { grads: Map<string, tf.Tensor> | ArrayMap; loss: number }>(
      pieces,
      (w) => shardGradients(this.o.loss, this.o.model, this.extras, [w], scale),
      (w) => ({ type: 'grad', work: [w], scale }),
      (reply) => {
        if (reply.type !== 'grad') throw new Error(`lm worker: expected gradients, got ${reply.type}`);
        return reply;
      },
    );
    return { grads: this.sumInOrder(results.map((r) => r.grads)), loss: results.reduce((sum, r) => sum + r.loss, 0) };
  }

  /** Σ_i c_i g_i over a logical batch, per-example clipping on each piece; norms in the batch's order. */
  async clippedSum(
    batch: Batch,
    o: { clip: number; pad: number; physicalBatch: number; method: ClipMethod },
  ): Promise<{ grads: Map<string, tf.Tensor>; norms: number[]; loss: number }> {
    // Pieces no larger than physicalBatch (the memory bound), at least two per replica.
    const pieces = this.piecesOf(batch).flatMap((piece) => chunk(piece, Math.max(1, o.physicalBatch)));
    const results = await this.deal<Batch, { grads: Map<string, tf.Tensor> | ArrayMap; norms: number[]; loss: number }>(
      pieces,
      (shard) => shardClippedSum(this.o.model, shard, o),
      (shard) => ({ type: 'clip', shard, ...o }),
      (reply) => {
        if (reply.type !== 'clip') throw new Error(`lm worker: expected clipped sums, got ${reply.type}`);
        return reply;
      },
    );
    return {
      grads: this.sumInOrder(results.map((r) => r.grads)),
      norms: results.flatMap((r) => r.norms),
      loss: results.reduce((sum, r) => sum + r.loss, 0),
    };
  }

  /** The mean next-token CE of each batch (evaluation), the batches dealt across the replicas. */
  batchLosses(batches: Batch[], pad: number): Promise<number[]> {
    return this.deal(
      batches,
      (b) => batchLosses(this.o.model, [b], pad)[0]!,
      (b) => ({ type: 'nll', batches: [b], pad }),
      (r) => (r.type === 'nll' ? r.losses[0]! : Number.NaN),
    );
  }

  /** Each window's summed NLL, per batch of windows (perplexityOnPool), the batches dealt across the replicas. */
  windowNllSums(batches: number[][][]): Promise<number[][]> {
    return this.deal(
      batches,
      (b) => windowNllSums(this.o.model, b),
      (b) => ({ type: 'windowNll', batches: [b] }),
      (r) => (r.type === 'windowNll' ? r.sums[0]! : []),
    );
  }

  /** softLabelBatch of each batch, the batches dealt across the replicas (results in the batches' order). */
  softLabels(batches: number[][][], k: number): Promise<Array<{ values: Float32Array; indices?: Int32Array }>> {
    return this.deal(
      batches,
      (b) => softLabelBatch(this.o.model, b, k),
      (b) => ({ type: 'softLabels', batches: [b], k }),
      (r) => (r.type === 'softLabels' ? r.results[0]! : { values: new Float32Array(0) }),
    );
  }

  /** hiddenBatch of each batch, the batches dealt across the replicas (results in the batches' order). */
  hidden(batches: number[][][], layers: number[]): Promise<Float32Array[][]> {
    return this.deal(
      batches,
      (b) => hiddenBatch(this.o.model, b, layers),
      (b) => ({ type: 'hidden', batches: [b], layers }),
      (r) => (r.type === 'hidden' ? r.results[0]! : []),
    );
  }

  /**
   * Continuations of the prompts, dealt across the replicas in contiguous shards; replica r samples with seed
   * `seed + r`. Deterministic for a given thread count, but the random streams differ from one thread's, so a
   * sampled corpus depends on the count (greedy decoding does not): the Sample node stays on one thread.
   */
  async generate(prompts: number[][], options: Omit<GenerateOptions, 'rng'>): Promise<number[][]> {
    const parts = splitEvenly(prompts, this.threads);
    const seed = options.seed ?? 0;
    const replies = parts
      .slice(1)
      .map((part, i) => this.send(i, { type: 'generate', prompts: part, options: { ...options, seed: seed + i + 1 } }));
    const own = generate(this.o.model, parts[0]!, { ...options, seed });
    const rest = await Promise.all(replies);
    return [...own, ...rest.flatMap((r) => (r.type === 'generate' ? r.continuations : []))];
  }

  async dispose(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}
