// `dpkd zoo export <graph> <node> <name>`: publishes a Pretrain node's model from the store as a pinned
// public checkpoint under models/<name>/ (model.safetensors + card.json), for the PublicModel node.
// Refuses a model with any private data or DP mechanism in its lineage: a public model costs no privacy.
// Registered by commands/zoo.ts, loaded when it runs.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { readDatasetFile } from '@dpkd/data';
import {
  type ActionManifest,
  checkpointDir,
  DPKD_VERSION,
  type EngineGraph,
  type EngineNode,
  openStore,
  planGraph,
  resolveStoreDir,
} from '@dpkd/engine';
import { formatDiagnostic } from '@dpkd/graph';
import {
  CHECKPOINT_FORMAT,
  decodeSafetensors,
  decodeTrainState,
  encodeSafetensors,
  initBackend,
  modelFromTensors,
  type ModelConfig,
  type NamedArray,
  parameterCount,
  parameterShapes,
  type StorageDtype,
  tf,
} from '@dpkd/lm';
import {
  CARD_FILE,
  DATA_METADATA,
  LINEAGE_METADATA,
  MODEL_FILE,
  type ModelCard,
  modelConfigOf,
  modelsDir,
  pretrainValidationWindows,
  publicLineageProblems,
  TRAIN_STATE_FILE,
  tokenizerInfo,
  type TrainingData,
  validationPerplexity,
  type ValidationPoint,
} from '@dpkd/nodes';
import type { PretrainParams } from '@dpkd/schema';
import { sha256Hex, type Store, writeFileAtomic } from '@dpkd/store';
import { CliError, ExitCode } from '../cli-error';
import { loadGraph, nodeRegistry } from '../registry';

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * The training data in the ancestry of the actions `keys` (through the manifests' inputs): each Dataset, and
 * what a published model it continues from was trained on (the record pinned in its safetensors metadata).
 * Fails if an ancestor's manifest is gone.
 */
async function trainingData(store: Store, keys: string[]): Promise<TrainingData[]> {
  const data = new Map<string, TrainingData>();
  const seen = new Set<string>();
  const queue = [...keys];
  while (queue.length > 0) {
    const key = queue.shift()!;
    if (seen.has(key)) continue;
    seen.add(key);
    const upstream = await ancestorManifest(store, key);
    if (upstream.type === 'Dataset') {
      const meta = upstream.outputs.dataset?.meta as { corpus?: string; private?: boolean; sizes?: TrainingData['sizes'] } | undefined;
      data.set(key, {
        corpus: String(meta?.corpus ?? '(unknown)'),
        private: meta?.private !== false,
        datasetKey: key,
        ...(meta?.sizes ? { sizes: meta.sizes } : {}),
      });
    }
    if (upstream.type === 'PublicModel') {
      const { metadata } = decodeSafetensors(new Uint8Array(await readFile(store.objectPath(upstream.outputs.model!.digest))));
      for (const d of JSON.parse(metadata[DATA_METADATA] ?? '[]') as TrainingData[]) data.set(d.datasetKey, d);
    }
    queue.push(...Object.values(upstream.inputs).map((i) => i.key));
  }
  return [...data.values()];
}

async function ancestorManifest(store: Store, key: string): Promise<ActionManifest> {
  const manifest = await store.getManifest<ActionManifest>(key);
  if (!manifest)
    throw new CliError(
      `the model's ancestor action ${key.slice(0, 12)} has no manifest in ${store.root} (removed by gc?): its lineage cannot be checked`,
      ExitCode.failed,
    );
  return manifest;
}

/**
 * The model a Pretrain continued from (its `init` input), for the card: a published one (PublicModel) by
 * name and pin, or a Pretrain of the same store by action key; its tokens include its own ancestors'.
 */
async function continuedFrom(store: Store, initKey: string | undefined): Promise<ModelCard['initializedFrom']> {
  if (!initKey) return undefined;
  const init = await ancestorManifest(store, initKey);
  if (init.type === 'PublicModel') {
    const meta = init.outputs.model?.meta as { publicModel?: { name: string; sha256: string } } | undefined;
    const m = init.metrics as { steps?: number; tokensSeen?: number; validationPerplexity?: number };
    return {
      actionKey: initKey,
      name: meta?.publicModel?.name,
      sha256: meta?.publicModel?.sha256,
      steps: Number(m.steps ?? 0),
      tokensSeen: Number(m.tokensSeen ?? 0),
      ...(typeof m.validationPerplexity === 'number' ? { validationPerplexity: m.validationPerplexity } : {}),
    };
  }
  if (init.type === 'Pretrain') {
    const m = init.metrics as { steps?: number; tokens?: number; validationPerplexity?: number };
    const earlier = await continuedFrom(store, init.inputs.init?.key);
    return {
      actionKey: initKey,
      steps: Number(m.steps ?? 0),
      tokensSeen: Number(m.tokens ?? 0) + (earlier?.tokensSeen ?? 0),
      ...(typeof m.validationPerplexity === 'number' ? { validationPerplexity: m.validationPerplexity } : {}),
    };
  }
  // Another node's model (FineTune, Distill, ...): its lineage decides whether it may be published; the card
  // cannot count its tokens, so it says so instead of under-counting silently.
  return { actionKey: initKey, node: init.type, steps: 0, tokensSeen: 0 };
}

/** What a card and the published file are made of: the finished action's manifest, or a training state. */
interface ExportSource {
  tensors: Iterable<[string, NamedArray]>;
  metadata: Record<string, string>;
  config: ModelConfig;
  lineage: Record<string, unknown>;
  data: TrainingData[];
  steps: number;
  /** Tokens of this node's own training (the card adds the init model's). */
  tokensSeen: number;
  initializedFrom?: ModelCard['initializedFrom'];
  validation?: Pick<ModelCard, 'validationPerplexity' | 'validationWindows' | 'validationHistory'>;
  trainSeconds?: number;
  partial?: ModelCard['partial'];
  provenance: { host?: string; backend?: string; lastSessionSeconds?: number; startedAt?: string; dpkdVersion?: string };
}

/** The model a finished Pretrain committed to the store, with its manifest's facts. */
async function finishedSource(store: Store, manifest: ActionManifest, nodeId: string): Promise<ExportSource> {
  const source = manifest.outputs.model;
  if (!source) throw new CliError(`${nodeId}'s manifest has no model output`, ExitCode.failed);
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(await readFile(store.objectPath(source.digest))));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Pretrain manifest's metrics, written by pretrain.ts
  const m = manifest.metrics as Record<string, any>;
  const p = manifest.provenance;
  return {
    tensors,
    metadata,
    config: JSON.parse(metadata.config ?? 'null') as ModelConfig,
    lineage: manifest.lineage,
    data: await trainingData(
      store,
      Object.values(manifest.inputs).map((i) => i.key),
    ),
    steps: Number(m.steps ?? 0),
    tokensSeen: Number(m.tokens ?? 0),
    initializedFrom: await continuedFrom(store, manifest.inputs.init?.key),
    ...(typeof m.validationPerplexity === 'number'
      ? {
          validation: {
            validationPerplexity: m.validationPerplexity,
            validationWindows: m.validationWindows,
            validationHistory: m.validationHistory,
          },
        }
      : {}),
    trainSeconds: typeof m.trainSeconds === 'number' ? m.trainSeconds : undefined,
    provenance: {
      host: p.host,
      backend: typeof p.backend === 'string' ? p.backend : undefined,
      lastSessionSeconds: p.seconds,
      startedAt: p.startedAt,
      dpkdVersion: p.dpkdVersion,
    },
  };
}

/**
 * The weights of a Pretrain still in progress, from the training state it saved into the store (the state a
 * rerun resumes from). Its lineage is the plan's (what the engine will record when the node commits), and its
 * validation perplexity is measured now, on the same windows the node measures on.
 */
async function checkpointSource(
  store: Store,
  graph: EngineGraph,
  node: EngineNode,
  lineage: Record<string, unknown>,
): Promise<ExportSource> {
  const file = join(checkpointDir(store, node.key), TRAIN_STATE_FILE);
  if (!existsSync(file))
    throw new CliError(
      `${node.id} (key ${node.key.slice(0, 12)}) has no saved training state in ${store.root}: start it with \`dpkd run\` (same store) and wait for its first save`,
      ExitCode.failed,
    );
  const state = decodeTrainState(new Uint8Array(await readFile(file)));
  const identity = JSON.parse(String(state.extra.identity ?? '{}')) as { key?: string };
  if (identity.key !== node.key)
    throw new CliError(`${file} is the training state of another action (${String(identity.key)})`, ExitCode.failed);
  const { config, preset } = modelConfigOf(node.params.model as PretrainParams['model']);
  const tensors = parameterShapes(config).map(([name]): [string, NamedArray] => {
    const array = state.params.get(name);
    if (!array) throw new CliError(`${file} has no parameter '${name}'`, ExitCode.failed);
    return [name, array];
  });
  const info = tokenizerInfo();
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    config: JSON.stringify(config),
    tokenizerName: info.name,
    tokenizerFingerprint: info.fingerprint,
    ...(preset ? { preset } : {}),
  };
  const keyOf = new Map(graph.nodes.map((n) => [n.id, n.key]));
  const data = await trainingData(
    store,
    node.deps.map((id) => keyOf.get(id)!),
  );
  const params = node.params as { seqLen: number; evalWindows: number; batchSize: number };
  const dataset = await store.getManifest<ActionManifest>(keyOf.get(node.inputs.data!.node)!);
  const backend = await initBackend();
  const model = modelFromTensors(config, new Map(tensors.map(([name, a]) => [name, tf.tensor(a.data, a.shape)])));
  let perplexity: number;
  let windows: number;
  try {
    const texts = readDatasetFile(store.objectPath(dataset!.outputs.dataset!.digest)).splits.validation.map((d) => d.text);
    const validation = pretrainValidationWindows(texts, params);
    windows = validation.length;
    perplexity = validationPerplexity(model, validation);
  } finally {
    model.dispose();
  }
  const tokensPerStep = params.batchSize * params.seqLen;
  const history = ((state.extra.history as ValidationPoint[] | undefined) ?? []).filter((h) => h.step < state.step);
  history.push({ step: state.step, tokens: state.step * tokensPerStep, perplexity });
  return {
    tensors,
    metadata,
    config,
    lineage,
    data,
    steps: state.step,
    tokensSeen: state.step * tokensPerStep,
    initializedFrom: await continuedFrom(store, node.inputs.init ? keyOf.get(node.inputs.init.node) : undefined),
    validation: { validationPerplexity: perplexity, validationWindows: windows, validationHistory: history },
    trainSeconds: typeof state.extra.trainSeconds === 'number' ? state.extra.trainSeconds : undefined,
    partial: {
      step: state.step,
      of: state.total,
      note: `the weights after step ${state.step} of ${state.total}, from the saved state of a training still in progress: its learning-rate schedule had not finished`,
    },
    provenance: { host: hostname(), backend, dpkdVersion: DPKD_VERSION },
  };
}

export interface ExportOptions {
  dtype: 'f16' | 'f32';
  models?: string;
  force?: boolean;
  store?: string;
  checkpoint?: boolean;
}

export async function zooExportCommand(graphFile: string, nodeId: string, name: string, opts: ExportOptions): Promise<void> {
  if (!NAME.test(name))
    throw new CliError(`model name '${name}' is not allowed: use lower-case letters, digits, '.', '_' and '-' (e.g. zoo-teacher)`);
  if (!existsSync(graphFile)) throw new CliError(`no graph file ${graphFile}`);
  const loaded = await loadGraph(graphFile);
  if (!loaded.graph) throw new CliError(loaded.diagnostics.map(formatDiagnostic).join('\n'), ExitCode.invalidInput);
  const node = loaded.graph.nodes.find((n) => n.id === nodeId);
  const pretrains = loaded.graph.nodes.filter((n) => n.type === 'Pretrain').map((n) => n.id);
  if (!node || node.type !== 'Pretrain') {
    throw new CliError(
      `${graphFile} has no Pretrain node \`${nodeId}\`${pretrains.length ? `; its Pretrain nodes: ${pretrains.join(', ')}` : ''}`,
    );
  }
  const store = await openStore(resolveStoreDir(opts.store));
  const manifest = await store.getManifest<ActionManifest>(node.key);
  let source: ExportSource;
  if (opts.checkpoint) {
    if (manifest) throw new CliError(`${nodeId} has finished (key ${node.key.slice(0, 12)}): export its final model without --checkpoint`);
    const plan = await planGraph(loaded.graph, { store, registry: nodeRegistry() });
    source = await checkpointSource(store, loaded.graph, node, plan.privacy.lineage[node.id] ?? {});
  } else {
    if (!manifest)
      throw new CliError(
        `${nodeId} (key ${node.key.slice(0, 12)}) has not run in ${store.root}: run \`dpkd run ${graphFile}\` first (same store), or export its latest saved state with --checkpoint`,
        ExitCode.failed,
      );
    source = await finishedSource(store, manifest, nodeId);
  }
  const problems = publicLineageProblems(source.data, source.lineage);
  if (problems.length > 0) throw new CliError(`refusing to publish ${nodeId} as a public model: ${problems.join('; ')}`);

  const target = join(modelsDir(opts.models), name);
  if (existsSync(target) && !opts.force) throw new CliError(`${target} exists: choose another name, or --force to replace it`);
  const dtype: StorageDtype = opts.dtype === 'f32' ? 'F32' : 'F16';
  const bytes = encodeSafetensors(
    source.tensors,
    {
      ...source.metadata,
      [LINEAGE_METADATA]: JSON.stringify(source.lineage),
      [DATA_METADATA]: JSON.stringify(source.data),
      modelName: name,
    },
    dtype,
  );
  const sha256 = sha256Hex(bytes);
  const p = source.provenance;
  const card: ModelCard = {
    cardFormat: 1,
    name,
    file: MODEL_FILE,
    sha256,
    bytes: bytes.byteLength,
    dtype,
    architecture: source.config,
    parameters: parameterCount(source.config),
    tokenizer: { name: source.metadata.tokenizerName ?? 'unknown', fingerprint: source.metadata.tokenizerFingerprint ?? 'unknown' },
    data: source.data,
    lineage: source.lineage,
    tokensSeen: source.tokensSeen + (source.initializedFrom?.tokensSeen ?? 0),
    steps: source.steps,
    ...(source.initializedFrom ? { initializedFrom: source.initializedFrom } : {}),
    ...(source.partial ? { partial: source.partial } : {}),
    ...source.validation,
    madeBy: {
      graph: graphFile,
      graphName: loaded.graph.name,
      node: nodeId,
      actionKey: node.key,
      params: node.params,
      command: `dpkd run ${graphFile}; dpkd zoo export ${graphFile} ${nodeId} ${name} --dtype ${opts.dtype}${opts.checkpoint ? ' --checkpoint' : ''}`,
      dpkdVersion: p.dpkdVersion,
    },
    wallTime: { trainSeconds: source.trainSeconds, lastSessionSeconds: p.lastSessionSeconds, startedAt: p.startedAt },
    machine: {
      host: p.host,
      backend: p.backend,
      // The exporting machine's CPU: export runs where the store is, normally the training machine.
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      node: process.version,
    },
    exportedAt: new Date().toISOString(),
  };
  await mkdir(target, { recursive: true });
  await writeFileAtomic(join(target, MODEL_FILE), bytes);
  await writeFileAtomic(join(target, CARD_FILE), `${JSON.stringify(card, null, 2)}\n`);
  const ppl = card.validationPerplexity !== undefined ? `, validation perplexity ${card.validationPerplexity.toFixed(2)}` : '';
  process.stdout.write(
    `wrote ${join(target, MODEL_FILE)} (${(bytes.byteLength / 1e6).toFixed(1)} MB, ${dtype}, ${card.parameters} parameters, ${card.tokensSeen} tokens seen${ppl}) and ${CARD_FILE}\n` +
      `use it in a graph as:\n  { "type": "PublicModel", "params": { "name": "${name}", "sha256": "${sha256}" } }\n`,
  );
}
