// A leader and N-1 replica workers (worker threads, each with its own tfjs + wasm instance: tfjs-backend-wasm
// is single-threaded in Node, so a second core needs a second instance). The leader keeps the data order and
// every random draw. A training step sends each replica one piece (its contiguous share of every micro-batch,
// or of the DP logical batch): one message each way per step, since every message and every extra
// forward/backward on a smaller piece costs more than the dealing saved. The parts are reduced in replica
// order, so a step does not depend on timing. With a replicated optimiser (replicateOptimizer), every replica
// runs the same AdamW on the same reduced gradient and only gradients cross threads; otherwise a worker's
// next request carries the leader's new parameters. Evaluation and teacher outputs deal whole batches: a
// worker gets its next batch when it returns one, so a replica that gets less CPU takes fewer.
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { ClipMethod } from '../dp';
import { generate, type GenerateOptions } from '../generate';
import { windowNllSums } from '../perplexity';
import type { LanguageModel } from '../model';
import { type AdamWOptions, type AdamWState, portableAdamWOptions } from '../optim';
import type { Batch } from '../train';
import {
  type ArrayMap,
  type ExtraArray,
  type FromWorker,
  PROTOCOL,
  type ShardLossSpec,
  type ShardTargets,
  type ShardWork,
  type ToWorker,
  type Update,
} from './protocol';
import { batchLosses, buffersOf, exampleLossOf, shardClippedSum, shardGradients, splitEvenly, sumParts, toArrays, workOf } from './shard';
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
  /** The live-kd loss's teacher: sent to every worker once at start, frozen (never trained, never re-sent). */
  teacher?: LanguageModel;
}

class Replica {
  private pending?: { resolve: (m: FromWorker) => void; reject: (e: Error) => void };
  private failure?: Error;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => {
      const p = this.pending;
      this.pending = undefined;
      if (m.type !== 'error') p?.resolve(m);
      else if (p) p.reject(new Error(`lm worker: ${m.message}`));
      // A posted message (no reply) failed: the replica may have diverged, so every later request fails.
      else this.failure = new Error(`lm worker: ${m.message}`);
    });
    const fail = (error: Error) => {
      this.failure = error;
      this.pending?.reject(error);
      this.pending = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`lm worker exited (code ${code})`)));
  }

  /** One request, one reply; `transfer` moves those buffers instead of cloning them (the caller gives them up). */
  request(message: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(message, transfer);
    });
  }

  /** A message without a reply (the worker handles messages in order; its error rejects the next request). */
  post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.failure) this.worker.postMessage(message, transfer);
  }
}

const copyArrays = (arrays: ArrayMap): ArrayMap => Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, a.slice()]));

/** A piece's result on the leader (tensors) or from a worker (arrays). */
type Part = Map<string, tf.Tensor> | ArrayMap;

export class ReplicaPool {
  private stale: boolean[];
  private paramsCache?: ArrayMap;
  /** Every worker runs a replica of the leader's optimiser (replicateOptimizer). */
  private replicated = false;
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
      const teacher = o.teacher ? { config: o.teacher.config, params: toArrays(o.teacher.params as Map<string, tf.Tensor>) } : undefined;
      const init: ToWorker = { type: 'init', backend: tf.getBackend(), config: o.model.config, params, extra, loss: o.loss, teacher };
      try {
        for (let i = 1; i < threads; i++) replicas.push(new Replica(new Worker(script)));
        for (const ready of await Promise.all(replicas.map((r) => r.request(init)))) {
          const protocol = ready.type === 'ready' ? (ready.protocol ?? 1) : undefined;
          if (protocol !== PROTOCOL)
            throw new Error(`lm worker ${script} speaks protocol ${protocol}, this leader ${PROTOCOL}: rebuild it (npm run build)`);
        }
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

  /**
   * Gives every worker a replica of the leader's AdamW (its options and current state, e.g. after a resume), so
   * that later steps send only gradients (`gradients(..., update)`, `applyEverywhere`) instead of parameters.
   * False (nothing changed) when the options hold a `decays` function, which cannot cross a thread.
   */
  async replicateOptimizer(options: AdamWOptions | undefined, state: AdamWState): Promise<boolean> {
    const portable = portableAdamWOptions(options);
    if (!portable) return false;
    await Promise.all(this.replicas.map((_, r) => this.send(r, { type: 'optimizer', options: portable, state })));
    this.replicated = true;
    return true;
  }

  /**
   * Runs `own` on the leader's piece while each worker computes its own piece (one request each), then
   * `meanwhile` (leader-only work that overlaps the workers' tails), and returns every result in replica order.
   */
  private async onePieceEach<R>(
    requests: Request[],
    own: () => R,
    unpack: (reply: FromWorker) => R,
    meanwhile?: () => void,
  ): Promise<{ own: R; workers: R[] }> {
    const replies = requests.map((request, r) => this.send(r, request));
    // A rejected reply must not go unhandled while the leader computes.
    for (const p of replies) p.catch(() => undefined);
    const mine = own();
    meanwhile?.();
    return { own: mine, workers: (await Promise.all(replies)).map(unpack) };
  }

  /**
   * What gradientStep computes, across the replicas: Σ over micro-batches of ∇loss / microBatches.length, and
   * the mean loss. Replica r takes the r-th of `threads` contiguous shares of every micro-batch (each share's
   * loss uses the whole micro-batch's normalisers, workOf). `targetsFor` gives a shard's precomputed teacher
   * outputs (precomputed-kd losses). With `update` and a replicated optimiser, every worker is sent the other
   * replicas' parts at once and applies applyGradient(sum, update) itself: the caller must apply the same
   * update to the returned sum on the leader (train.ts does), and need not call parametersChanged.
   */
  async gradients(
    microBatches: Batch[],
    targetsFor?: (shard: Batch) => ShardTargets,
    update?: { lr: number; clipNorm?: number },
  ): Promise<{ grads: Map<string, tf.Tensor>; loss: number }> {
    const shares = Array.from({ length: this.threads }, (): ShardWork[] => []);
    for (const micro of microBatches) {
      splitEvenly(micro, this.threads).forEach((shard, r) => {
        if (shard.length === 0) return;
        shares[r]!.push({ ...workOf(shard, micro, this.o.loss), ...(targetsFor ? { targets: targetsFor(shard) } : {}) });
      });
    }
    const scale = 1 / microBatches.length;
    const { own, workers } = await this.onePieceEach<{ grads: Part; loss: number }>(
      shares.slice(1).map((work) => ({ type: 'grad', work, scale })),
      () => shardGradients(this.o.loss, this.o.model, this.extras, shares[0]!, scale),
      (reply) => {
        if (reply.type !== 'grad') throw new Error(`lm worker: expected gradients, got ${reply.type}`);
        return reply;
      },
    );
    const parts = [own, ...workers];
    if (update && this.replicated) this.sendParts(parts.map((p) => p.grads) as [Map<string, tf.Tensor>, ...ArrayMap[]], update);
    return {
      grads: sumParts(
        parts.map((p) => p.grads),
        this.shapes,
      ),
      loss: parts.reduce((sum, p) => sum + p.loss, 0),
    };
  }

  /**
   * Sends each worker the parts it lacks for the update (its own is null: it kept it). The leader's part is
   * read once and transferred to the last worker (copies to the others); the workers' parts go as copies,
   * since the leader's own sum still reads them.
   */
  private sendParts(parts: [Map<string, tf.Tensor>, ...ArrayMap[]], update: Omit<Update, 'parts'>): void {
    const arrays: ArrayMap[] = [toArrays(parts[0]), ...(parts.slice(1) as ArrayMap[])];
    const workers = this.replicas.length;
    this.replicas.forEach((replica, w) => {
      const r = w + 1; // replica index: 0 is the leader
      const transferLeader = r === workers;
      const mine = arrays.map((a, i) => (i === r ? null : i === 0 && transferLeader ? a : copyArrays(a)));
      replica.post({ type: 'apply', update: { ...update, parts: mine } }, transferLeader ? buffersOf(arrays[0]!) : []);
    });
  }

  /** A DP step's final (noisy, normalised) gradient applied by every replicated optimiser at `lr`. */
  applyEverywhere(grads: Map<string, tf.Tensor>, lr: number): void {
    if (!this.replicated) throw new Error('ReplicaPool.applyEverywhere: call replicateOptimizer first');
    const arrays = toArrays(grads);
    this.replicas.forEach((replica, w) => {
      const mine = w === this.replicas.length - 1 ? arrays : copyArrays(arrays);
      replica.post({ type: 'apply', update: { parts: [mine], lr } }, mine === arrays ? buffersOf(arrays) : []);
    });
  }

  /**
   * Σ_i c_i g_i over a logical batch: replica r clips the examples of the r-th contiguous share locally (in
   * `physicalBatch` chunks), with the pool's per-example loss (exampleLossOf: CE, or live-kd through each
   * replica's teacher); norms in the batch's order. `meanwhile` runs on the leader after its own share,
   * while the workers finish theirs (the DP loop draws the step's noise there: the draws keep their order).
   */
  async clippedSum(
    batch: Batch,
    o: { clip: number; pad: number; physicalBatch: number; method: ClipMethod },
    meanwhile?: () => void,
  ): Promise<{ grads: Map<string, tf.Tensor>; norms: number[]; loss: number }> {
    const shares = splitEvenly(batch, this.threads);
    const { own, workers } = await this.onePieceEach<{ grads: Part; norms: number[]; loss: number }>(
      shares.slice(1).map((shard) => ({ type: 'clip', shard, ...o })),
      () => shardClippedSum(this.o.model, shares[0]!, o, exampleLossOf(this.o.loss, this.o.model, this.o.teacher)),
      (reply) => {
        if (reply.type !== 'clip') throw new Error(`lm worker: expected clipped sums, got ${reply.type}`);
        return reply;
      },
      meanwhile,
    );
    const parts = [own, ...workers];
    return {
      grads: sumParts(
        parts.map((p) => p.grads),
        this.shapes,
      ),
      norms: parts.flatMap((p) => p.norms),
      loss: parts.reduce((sum, p) => sum + p.loss, 0),
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
   * generate() of the prompts, in contiguous shards (replica r the r-th), returned in the prompts' order. Each
   * shard is given its global row offset (firstRow: every row samples from its own stream) and the whole
   * batch's prefill length (the same forward shapes), so the rows equal one thread's generate, token for token.
   */
  async generate(prompts: number[][], options: GenerateOptions = {}): Promise<number[][]> {
    const shards = splitEvenly(prompts, this.threads);
    // An empty prompt fails in its own shard's generate (at least 1 keeps the other shards valid meanwhile).
    const prefill = Math.max(1, Math.min(options.prefill ?? Infinity, ...prompts.map((p) => p.length)));
    let row = options.firstRow ?? 0;
    const shardOptions = shards.map((shard) => {
      const firstRow = row;
      row += shard.length;
      return { ...options, firstRow, prefill };
    });
    const { own, workers } = await this.onePieceEach<number[][]>(
      shards.slice(1).map((shard, w) => ({ type: 'generate', prompts: shard, options: shardOptions[w + 1]! })),
      () => generate(this.o.model, shards[0]!, shardOptions[0]!),
      (reply) => {
        if (reply.type !== 'generate') throw new Error(`lm worker: expected continuations, got ${reply.type}`);
        return reply.continuations;
      },
    );
    return [own, ...workers].flat();
  }

  /** A worker's parameters, for tests: a replicated optimiser must keep them bitwise equal to the leader's. */
  async workerParameters(r = 0): Promise<ArrayMap> {
    const reply = await this.replicas[r]!.request({ type: 'params', id: this.nextId++ });
    if (reply.type !== 'params') throw new Error(`lm worker: expected parameters, got ${reply.type}`);
    return reply.params;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
  }
}
