// Entry of a replica worker thread: its own tfjs and backend instance, a replica of the model (and of the
// extra trainables, and for a live-kd loss a frozen teacher), and the shard computations of shard.ts. Bundled to dist/lm-worker.js (tools/build.mjs);
// from TypeScript sources, worker-script.ts bundles it on first use.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { generate } from '../generate';
import { windowNllSums } from '../perplexity';
import { type ModelConfig, parameterShapes } from '../config';
import { type LanguageModel, modelFromTensors } from '../model';
import { AdamW, applyGradient } from '../optim';
import { type ArrayMap, type FromWorker, PROTOCOL, type ShardLossSpec, type ToWorker, type Update } from './protocol';
import { hiddenBatch, softLabelBatch } from './teacher-outputs';
import { assignArrays, batchLosses, buffersOf, exampleLossOf, shardClippedSum, shardGradients, sumParts, toArrays } from './shard';

const port = parentPort;
if (!port) throw new Error('lm-worker: start me as a worker_threads Worker');

let model: LanguageModel | undefined;
/** The live-kd loss's teacher: set once at init, never updated (no request carries its parameters). */
let teacher: LanguageModel | undefined;
let extras = new Map<string, tf.Variable>();
let loss: ShardLossSpec | undefined;
/** A replica of the leader's optimiser (replicateOptimizer), and this replica's part of the last step's gradient. */
let optimizer: AdamW | undefined;
let ownPart: Map<string, tf.Tensor> | undefined;

/** A model from the leader's flat arrays (shapes from the config). */
const replicaOf = (config: ModelConfig, params: ArrayMap): LanguageModel => {
  const tensors = new Map(Object.entries(params).map(([k, data]) => [k, tf.tensor(data)]));
  for (const [k, shape] of parameterShapes(config)) tensors.set(k, tf.reshape(tensors.get(k)!, shape));
  const replica = modelFromTensors(config, tensors);
  tf.dispose([...tensors.values()]);
  return replica;
};

const trainables = () => new Map([...model!.params, ...extras]);

const reply = (message: FromWorker) => {
  port.postMessage(message, 'grads' in message ? buffersOf(message.grads) : []);
};

/** Keeps this step's part for the coming update when the optimiser is replicated; frees it otherwise. */
const keepPart = (grads: Map<string, tf.Tensor>) => {
  if (ownPart) tf.dispose([...ownPart.values()]);
  ownPart = optimizer ? grads : undefined;
  if (!optimizer) tf.dispose([...grads.values()]);
};

/** The leader's update: the same parts summed in the same order, then the same clipping and AdamW step. */
const apply = (update: Update) => {
  if (!optimizer) throw new Error('lm-worker: an update without a replicated optimiser');
  const shapes = new Map([...trainables()].map(([name, v]) => [name, v.shape]));
  const parts = update.parts.map((part) => part ?? ownPart ?? new Map<string, tf.Tensor>());
  ownPart = undefined; // consumed by sumParts
  const grads = sumParts(parts, shapes);
  applyGradient(trainables(), optimizer, grads, update);
  tf.dispose([...grads.values()]);
};

const handle = async (m: ToWorker): Promise<void> => {
  if (m.type === 'init') {
    const name = await initBackend(m.backend);
    if (name !== m.backend) throw new Error(`lm-worker: backend ${name}, the leader runs ${m.backend}`);
    model = replicaOf(m.config, m.params);
    teacher = m.teacher ? replicaOf(m.teacher.config, m.teacher.params) : undefined;
    extras = new Map(Object.entries(m.extra).map(([k, { data, shape }]) => [k, tf.variable(tf.tensor(data, shape), true, `replica/${k}`)]));
    loss = m.loss;
    reply({ type: 'ready', protocol: PROTOCOL });
    return;
  }
  if (!model || !loss) throw new Error('lm-worker: not initialised');
  if (m.type === 'apply') return apply(m.update);
  if (m.type === 'optimizer') {
    optimizer?.dispose();
    optimizer = new AdamW(m.options);
    optimizer.importState(m.state);
    reply({ type: 'optimizer', id: m.id });
    return;
  }
  if (m.type === 'params') return reply({ type: 'params', id: m.id, params: toArrays(trainables() as Map<string, tf.Tensor>) });
  if (m.params) assignArrays(trainables(), m.params);
  if (m.type === 'grad') {
    const { grads, loss: value } = shardGradients(loss, model, extras, m.work, m.scale);
    const arrays = toArrays(grads);
    keepPart(grads);
    reply({ type: 'grad', id: m.id, grads: arrays, loss: value });
  } else if (m.type === 'clip') {
    const { grads, norms, loss: value } = shardClippedSum(model, m.shard, m, exampleLossOf(loss, model, teacher));
    const arrays = toArrays(grads);
    tf.dispose([...grads.values()]);
    reply({ type: 'clip', id: m.id, grads: arrays, norms, loss: value });
  } else if (m.type === 'nll') {
    reply({ type: 'nll', id: m.id, losses: batchLosses(model, m.batches, m.pad) });
  } else if (m.type === 'softLabels') {
    reply({ type: 'softLabels', id: m.id, results: m.batches.map((b) => softLabelBatch(model!, b, m.k)) });
  } else if (m.type === 'hidden') {
    reply({ type: 'hidden', id: m.id, results: m.batches.map((b) => hiddenBatch(model!, b, m.layers)) });
  } else if (m.type === 'windowNll') {
    reply({ type: 'windowNll', id: m.id, sums: m.batches.map((group) => windowNllSums(model!, group)) });
  } else if (m.type === 'generate') {
    reply({ type: 'generate', id: m.id, continuations: generate(model, m.prompts, m.options) });
  } else {
    // A leader newer than this bundle (a stale dist/lm-worker.js): fail the request instead of never replying.
    throw new Error(`lm-worker: unknown message '${(m as { type: string }).type}': rebuild the worker (npm run build)`);
  }
};

// One message at a time, in order (the leader sends the next only after this one's reply).
let queue = Promise.resolve();
port.on('message', (m: ToWorker) => {
  queue = queue
    .then(() => handle(m))
    .catch((error: Error) => reply({ type: 'error', id: 'id' in m ? m.id : undefined, message: error.stack ?? error.message }));
});
