// `dpkd zoo export --checkpoint`: a Pretrain still in progress is published from the training state it saved
// into the store. The export carries exactly the saved weights, says which step of how many, measures its
// validation perplexity, keeps the public-lineage check, and PublicModel loads it.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { checkpointDir, openStore } from '@dpkd/engine';
import type { NodeRunContext } from '@dpkd/graph';
import { decodeTrainState, initBackend, loadCheckpoint, type NamedArray, parameterShapes } from '@dpkd/lm';
import { type ModelCard, PretrainNode, PublicModelNode, TRAIN_STATE_FILE } from '@dpkd/nodes';
import { runCli, scratchDir, setupInProcess } from './run-cli';

const dir = scratchDir('dpkd-zoo-ckpt-');
const store = join(dir, 'store');
const models = join(dir, 'models');
const graph = join(dir, 'zoo-ckpt.json');

const pretrain = { model: 'tiny', steps: 12, batchSize: 2, seqLen: 32, evalEvery: 4, evalWindows: 8, warmup: 2, checkpointMinutes: 5 };
const graphJson = {
  name: 'zoo-ckpt',
  seed: 1,
  nodes: {
    public: { type: 'Dataset', params: { corpus: 'public-mix', train: 30, validation: 4, test: 2, maxLength: 400 } },
    imdb: { type: 'Dataset', params: { corpus: 'imdb', train: 20, validation: 2, test: 2, maxLength: 300 } },
    'pub-model': { type: 'Pretrain', inputs: { data: 'public' }, params: pretrain },
    'priv-model': { type: 'Pretrain', inputs: { data: 'imdb' }, params: pretrain },
  },
};

interface PlannedNode {
  id: string;
  key: string;
}
const card = (name: string) => JSON.parse(readFileSync(join(models, name, 'card.json'), 'utf8')) as ModelCard;
const exportCheckpoint = (node: string, name: string) =>
  runCli(['zoo', 'export', graph, node, name, '--checkpoint', '--dtype', 'f32', '--store', store, '--models', models]);

/**
 * Runs the graph's Pretrain `id` in this process as the engine would (same key, the store's checkpoint
 * directory for it) and interrupts it after 5 of its 12 steps: the state it saves is what a killed run leaves.
 */
async function interruptedPretrain(node: PlannedNode, datasetFile: string) {
  const controller = new AbortController();
  const ctx: NodeRunContext = {
    id: node.id,
    key: node.key,
    type: 'Pretrain',
    params: { ...pretrain, lr: 0.0003, weightDecay: 0.01, schedule: 'cosine', epochs: 1 }, // the schema's defaults
    seed: 1,
    inputs: { data: { kind: 'Artifact', path: datasetFile, meta: {}, lineage: {} } },
    scratchDir: scratchDir('dpkd-zoo-ckpt-scratch-'),
    checkpointDir: checkpointDir(await openStore(store), node.key),
    signal: controller.signal,
    progress: (p) => {
      if (p.step === 5) controller.abort();
    },
    log: () => undefined,
  };
  await expect(PretrainNode.run(ctx)).rejects.toThrow(/interrupted at step 5 of 12/);
  return decodeTrainState(new Uint8Array(readFileSync(join(ctx.checkpointDir!, TRAIN_STATE_FILE))));
}

let nodes: Map<string, PlannedNode>;
let saved: { params: Map<string, NamedArray>; step: number };
beforeAll(async () => {
  expect(await initBackend()).toBe('wasm');
  writeFileSync(graph, JSON.stringify(graphJson));
  // The Datasets run for real; the Pretrains are planned, not run.
  writeFileSync(
    join(dir, 'data-only.json'),
    JSON.stringify({ ...graphJson, nodes: { public: graphJson.nodes.public, imdb: graphJson.nodes.imdb } }),
  );
  // Setup in this process (the plan loads the corpora once for all the files); the exports below run the bundle.
  const r = await setupInProcess(['run', join(dir, 'data-only.json'), '--store', store, '--executor', 'in-process']);
  expect(r.code, r.stderr).toBe(0);
  const plan = JSON.parse((await setupInProcess(['plan', graph, '--store', store, '--json'])).stdout) as { nodes: PlannedNode[] };
  nodes = new Map(plan.nodes.map((n) => [n.id, n]));
  const s = await openStore(store);
  const datasetFile = async (id: string) =>
    s.objectPath((await s.getManifest<{ outputs: { dataset: { digest: string } } }>(nodes.get(id)!.key))!.outputs.dataset.digest);
  saved = await interruptedPretrain(nodes.get('pub-model')!, await datasetFile('public'));
  await interruptedPretrain(nodes.get('priv-model')!, await datasetFile('imdb'));
}, 180_000);

test('exports the saved weights exactly, and the card says which step of how many', async () => {
  const r = exportCheckpoint('pub-model', 'tiny-partial');
  expect(r.code, r.stderr).toBe(0);
  const c = card('tiny-partial');
  expect(saved.step).toBe(5);
  expect(c).toMatchObject({ steps: 5, tokensSeen: 5 * 2 * 32, lineage: {}, partial: { step: 5, of: 12 } });
  expect(c.madeBy.command).toContain('--checkpoint');
  expect(c.data).toEqual([expect.objectContaining({ corpus: 'public-mix', private: false })]);
  expect(c.validationPerplexity).toBeGreaterThan(1);
  expect(c.validationHistory!.map((h) => h.step)).toEqual([4, 5]); // the node's own point at 4, the export's at 5
  expect(c.validationHistory!.at(-1)!.perplexity).toBe(c.validationPerplexity);
  const { model } = await loadCheckpoint(join(models, 'tiny-partial', 'model.safetensors'));
  try {
    for (const [name] of parameterShapes(model.config))
      expect(Array.from(model.params.get(name)!.dataSync()), name).toEqual(Array.from(saved.params.get(name)!.data));
  } finally {
    model.dispose();
  }
});

test('PublicModel loads the partial export', async () => {
  const before = process.env.DPKD_MODELS;
  process.env.DPKD_MODELS = models;
  try {
    const result = await PublicModelNode.run({
      id: 'pm',
      key: 'k'.repeat(64),
      type: 'PublicModel',
      params: { name: 'tiny-partial', sha256: card('tiny-partial').sha256 },
      seed: 0,
      inputs: {},
      scratchDir: scratchDir('dpkd-zoo-ckpt-pm-'),
      signal: new AbortController().signal,
      progress: () => undefined,
      log: () => undefined,
    });
    expect(result.metrics).toMatchObject({ data: ['public-mix'] });
  } finally {
    if (before === undefined) delete process.env.DPKD_MODELS;
    else process.env.DPKD_MODELS = before;
  }
});

test('a partial model trained on private data is refused like a finished one', () => {
  const r = exportCheckpoint('priv-model', 'tiny-private');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(
    /refusing to publish priv-model as a public model: .*its lineage has DP or non-private mechanisms on the private unit 'imdb'/,
  );
});

test('a node with no saved state, and a state of another action, are errors that say what to do', async () => {
  // pub-model with another step count (another key), and its ancestry only: planning the private branch as well
  // would load the IMDb corpus in each command for nothing.
  const other = join(dir, 'other.json');
  writeFileSync(
    other,
    JSON.stringify({
      ...graphJson,
      nodes: { public: graphJson.nodes.public, 'pub-model': { ...graphJson.nodes['pub-model'], params: { ...pretrain, steps: 13 } } },
    }),
  );
  const none = runCli(['zoo', 'export', other, 'pub-model', 'x', '--checkpoint', '--store', store, '--models', models]);
  expect(none.code).not.toBe(0);
  expect(none.stderr).toMatch(/has no saved training state .* start it with `dpkd run`/);
  const otherKey = (
    JSON.parse((await setupInProcess(['plan', other, '--store', store, '--json'])).stdout) as { nodes: PlannedNode[] }
  ).nodes.find((n) => n.id === 'pub-model')!.key;
  const s = join(store, 'checkpoints');
  cpSync(join(s, nodes.get('pub-model')!.key), join(s, otherKey), { recursive: true });
  const foreign = runCli(['zoo', 'export', other, 'pub-model', 'x', '--checkpoint', '--store', store, '--models', models]);
  expect(foreign.code).not.toBe(0);
  expect(foreign.stderr).toContain(`is the training state of another action (${nodes.get('pub-model')!.key})`);
  const withoutFlag = runCli(['zoo', 'export', graph, 'pub-model', 'x', '--store', store, '--models', models]);
  expect(withoutFlag.code).not.toBe(0);
  expect(withoutFlag.stderr).toMatch(/has not run in .* or export its latest saved state with --checkpoint/);
}, 180_000);
