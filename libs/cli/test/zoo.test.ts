// `dpkd zoo export` and the PublicModel node: export from a store -> load -> the same logits; f16 close;
// a changed file fails with both digests; a model with private data in its lineage is refused.
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { type ActionManifest, openStore } from '@dpkd/engine';
import type { NodeRunContext } from '@dpkd/graph';
import { forward, initBackend, loadCheckpoint, tf } from '@dpkd/lm';
import { type ModelCard, PublicModelNode } from '@dpkd/nodes';
import { runCli, scratchDir, setupInProcess } from './run-cli';

const dir = scratchDir('dpkd-zoo-');
const store = join(dir, 'store');
const models = join(dir, 'models');
const graph = join(dir, 'zoo-test.json');

const graphJson = (extra: Record<string, unknown> = {}) => ({
  name: 'zoo-test',
  seed: 1,
  nodes: {
    public: { type: 'Dataset', params: { corpus: 'public-mix', train: 30, validation: 4, test: 2, maxLength: 400 } },
    imdb: { type: 'Dataset', params: { corpus: 'imdb', train: 20, validation: 2, test: 2, maxLength: 300 } },
    'pub-model': { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny', steps: 3, batchSize: 2, seqLen: 32 } },
    'priv-model': { type: 'Pretrain', inputs: { data: 'imdb' }, params: { model: 'tiny', steps: 2, batchSize: 2, seqLen: 32 } },
    ...extra,
  },
});

/** Runs PublicModel in this process, as the engine would, with models/ at `root`. */
async function loadPublic(params: { name: string; sha256: string }, root = models) {
  const before = process.env.DPKD_MODELS;
  process.env.DPKD_MODELS = root;
  try {
    const ctx = {
      id: 'pm',
      key: 'k'.repeat(64),
      type: 'PublicModel',
      params,
      seed: 0,
      inputs: {},
      scratchDir: scratchDir('dpkd-zoo-scratch-'),
      signal: new AbortController().signal,
      progress: () => undefined,
      log: () => undefined,
    } satisfies NodeRunContext;
    return await PublicModelNode.run(ctx);
  } finally {
    if (before === undefined) delete process.env.DPKD_MODELS;
    else process.env.DPKD_MODELS = before;
  }
}

const logitsOf = async (file: string) => {
  const { model } = await loadCheckpoint(file);
  const ids = tf.tensor2d([[5, 17, 300, 4000, 12, 9, 1, 2]], undefined, 'int32');
  const out = Array.from(tf.tidy(() => forward(model, ids).logits.dataSync()));
  ids.dispose();
  model.dispose();
  return out;
};

const card = (name: string) => JSON.parse(readFileSync(join(models, name, 'card.json'), 'utf8')) as ModelCard;

beforeAll(async () => {
  expect(await initBackend()).toBe('wasm');
  writeFileSync(graph, JSON.stringify(graphJson()));
  // The store to export from, trained in this process: what this file checks is `dpkd zoo export` (the bundle) and
  // PublicModel. Real nodes in `dpkd exec` workers: the PublicModel graph below, and quickstart.test.ts.
  const r = await setupInProcess(['run', graph, '--store', store, '--executor', 'in-process']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

test('each Pretrain saved its state in <store>/checkpoints/<key>/ and the engine removed it after the commit', () => {
  expect(readdirSync(join(store, 'checkpoints'))).toEqual([]); // the directory exists: the final saves made it
});

describe('dpkd zoo export', () => {
  let trained: string;
  beforeAll(async () => {
    for (const [dtype, name] of [
      ['f32', 'tiny-pub'],
      ['f16', 'tiny-pub-f16'],
    ]) {
      const r = runCli(['zoo', 'export', graph, 'pub-model', name!, '--store', store, '--models', models, '--dtype', dtype!]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`{ "type": "PublicModel", "params": { "name": "${name}", "sha256": "${card(name!).sha256}" } }`);
    }
    const manifest = await (await openStore(store)).getManifest<ActionManifest>(card('tiny-pub').madeBy.actionKey);
    trained = (await openStore(store)).objectPath(manifest!.outputs.model!.digest);
  }, 120_000);

  test('the card records architecture, parameters, tokenizer, public data, tokens, validation perplexity, maker and machine', () => {
    const c = card('tiny-pub');
    expect(c).toMatchObject({
      cardFormat: 1,
      name: 'tiny-pub',
      dtype: 'F32',
      parameters: 145952,
      lineage: {},
      tokensSeen: 3 * 2 * 32,
      steps: 3,
    });
    expect(c.architecture).toMatchObject({ layers: 1, d: 32, vocab: 4098 });
    expect(c.tokenizer.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(c.data).toEqual([expect.objectContaining({ corpus: 'public-mix', private: false })]);
    expect(c.validationPerplexity).toBeGreaterThan(1);
    expect(c.madeBy).toMatchObject({ graphName: 'zoo-test', node: 'pub-model' });
    expect(c.machine.backend).toBe('wasm');
    expect(c.machine.cores).toBeGreaterThan(0);
    expect(c.wallTime.trainSeconds).toBeGreaterThan(0);
    expect(card('tiny-pub-f16').bytes).toBeLessThan(0.6 * c.bytes);
  });

  test('PublicModel loads the export: the same logits as the trained model (f32 exactly, f16 closely)', async () => {
    const reference = await logitsOf(trained);
    const f32 = await loadPublic({ name: 'tiny-pub', sha256: card('tiny-pub').sha256 });
    expect(await logitsOf(f32.outputs.model!.file)).toEqual(reference);
    expect(f32.metrics).toMatchObject({ params: 145952, data: ['public-mix'] });
    const f16 = await loadPublic({ name: 'tiny-pub-f16', sha256: card('tiny-pub-f16').sha256 });
    const half = await logitsOf(f16.outputs.model!.file);
    expect(Math.max(...half.map((v, i) => Math.abs(v - reference[i]!)))).toBeLessThan(2e-2);
  });

  test('a changed checkpoint fails with both digests; a wrong pin names the card digest', async () => {
    const tampered = join(dir, 'tampered');
    cpSync(join(models, 'tiny-pub'), join(tampered, 'tiny-pub'), { recursive: true });
    const file = join(tampered, 'tiny-pub', 'model.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0x40; // one bit of one weight
    writeFileSync(file, bytes);
    const pinned = card('tiny-pub').sha256;
    await expect(loadPublic({ name: 'tiny-pub', sha256: pinned }, tampered)).rejects.toThrow(
      new RegExp(`has sha256 (?!${pinned})[0-9a-f]{64}, but the pinned digest \\(graph and card\\) is ${pinned}`),
    );
    await expect(loadPublic({ name: 'tiny-pub', sha256: 'a'.repeat(64) })).rejects.toThrow(
      new RegExp(`pins sha256 a{64} but .*card.json records ${pinned}`),
    );
    await expect(loadPublic({ name: 'no-such-model', sha256: pinned })).rejects.toThrow(/dpkd zoo export/);
  });

  test('a checkpoint whose recorded lineage is private is refused at load, even with a matching pin', async () => {
    // Forge a private claim inside the pinned bytes: the digest matches, the lineage check must still refuse.
    const forged = join(dir, 'forged');
    cpSync(join(models, 'tiny-pub'), join(forged, 'tiny-pub'), { recursive: true });
    const file = join(forged, 'tiny-pub', 'model.safetensors');
    const text = readFileSync(file).toString('latin1').replace('"corpus\\":\\"public-mix\\"', '"corpus\\":\\"imdb\\"      '); // same length: JSON whitespace
    expect(text).toContain('"corpus\\":\\"imdb\\"');
    writeFileSync(file, Buffer.from(text, 'latin1'));
    const { sha256Hex } = await import('@dpkd/store');
    const digest = sha256Hex(readFileSync(file));
    const c = { ...card('tiny-pub'), sha256: digest };
    writeFileSync(join(forged, 'tiny-pub', 'card.json'), JSON.stringify(c));
    await expect(loadPublic({ name: 'tiny-pub', sha256: digest }, forged)).rejects.toThrow(
      /not a public-only model: it was trained on 'imdb', a corpus of private records/,
    );
  });

  test('export refuses a model trained on private data, an unknown node, a bad name and an existing target', () => {
    let r = runCli(['zoo', 'export', graph, 'priv-model', 'tiny-priv', '--store', store, '--models', models]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /refusing to publish priv-model as a public model: its lineage has .* 'imdb'; it was trained on the private dataset of 'imdb'/,
    );
    r = runCli(['zoo', 'export', graph, 'nope', 'x', '--store', store, '--models', models]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no Pretrain node `nope`; its Pretrain nodes: pub-model, priv-model/);
    r = runCli(['zoo', 'export', graph, 'pub-model', 'Bad Name', '--store', store, '--models', models]);
    expect(r.code).toBe(2);
    r = runCli(['zoo', 'export', graph, 'pub-model', 'tiny-pub', '--store', store, '--models', models]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exists: choose another name, or --force/);
  });

  test('a graph that starts from PublicModel runs and reads no private data', () => {
    const g2 = join(dir, 'from-zoo.json');
    const pin = card('tiny-pub').sha256;
    writeFileSync(
      g2,
      JSON.stringify({
        name: 'from-zoo',
        seed: 1,
        nodes: {
          public: { type: 'Dataset', params: { corpus: 'public-mix', train: 30, validation: 4, test: 2, maxLength: 400 } },
          base: { type: 'PublicModel', params: { name: 'tiny-pub', sha256: pin } },
          ft: { type: 'FineTune', inputs: { model: 'base', data: 'public' }, params: { seqLen: 32, batchSize: 2, epochs: 1 } },
        },
      }),
    );
    const r = runCli(['run', g2, '--store', store], { env: { DPKD_MODELS: models } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ran\s+base/);
  }, 120_000);
  test('a Pretrain continued from a published model (init) is published with the chain: data, tokens and where it started', async () => {
    const g3 = join(dir, 'continued.json');
    const pin = card('tiny-pub').sha256;
    const tiny = { model: 'tiny', batchSize: 2, seqLen: 32 };
    const nodes = {
      ...graphJson().nodes,
      base: { type: 'PublicModel', params: { name: 'tiny-pub', sha256: pin } },
      more: { type: 'Pretrain', inputs: { data: 'public', init: 'base' }, params: { ...tiny, steps: 2 } },
      // A chain inside one store: Pretrain -> Pretrain (the first is pub-model, cached from beforeAll).
      chained: { type: 'Pretrain', inputs: { data: 'public', init: 'pub-model' }, params: { ...tiny, steps: 2 } },
      // Public text on top of a model that saw private data: never publishable.
      laundered: { type: 'Pretrain', inputs: { data: 'public', init: 'priv-model' }, params: { ...tiny, steps: 2 } },
    };
    writeFileSync(g3, JSON.stringify({ name: 'continued', seed: 1, nodes }));
    const run = await setupInProcess(['run', g3, '--store', store, '--executor', 'in-process'], { DPKD_MODELS: models });
    expect(run.code, run.stderr).toBe(0);
    const exported = (node: string, name: string) => runCli(['zoo', 'export', g3, node, name, '--store', store, '--models', models]);

    expect(exported('more', 'tiny-more').code).toBe(0);
    const more = card('tiny-more');
    expect(more).toMatchObject({ steps: 2, tokensSeen: (3 + 2) * 2 * 32, lineage: {} });
    expect(more.initializedFrom).toMatchObject({ name: 'tiny-pub', sha256: pin, steps: 3, tokensSeen: 3 * 2 * 32 });
    expect(more.data).toEqual([expect.objectContaining({ corpus: 'public-mix', private: false })]);

    expect(exported('chained', 'tiny-chained').code).toBe(0);
    expect(card('tiny-chained')).toMatchObject({ tokensSeen: (3 + 2) * 2 * 32, initializedFrom: { steps: 3, tokensSeen: 3 * 2 * 32 } });

    const refused = exported('laundered', 'tiny-laundered');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to publish laundered as a public model: .*'imdb'/);
  }, 120_000);

  test("a Pretrain whose params.model is not its init model's architecture fails, naming the fix", () => {
    const g4 = join(dir, 'continued-wrong.json');
    const pin = card('tiny-pub').sha256;
    const nodes = {
      public: graphJson().nodes.public,
      base: { type: 'PublicModel', params: { name: 'tiny-pub', sha256: pin } },
      wider: {
        type: 'Pretrain',
        inputs: { data: 'public', init: 'base' },
        params: { model: { layers: 1, d: 64, heads: 2, mlp: 128, ctx: 64 }, steps: 1, batchSize: 2, seqLen: 32 },
      },
    };
    writeFileSync(g4, JSON.stringify({ name: 'continued-wrong', seed: 1, nodes }));
    const r = runCli(['run', g4, '--store', store], { env: { DPKD_MODELS: models } });
    expect(r.code).toBe(2); // invalid input, as at plan time, with the param's JSON pointer
    expect(r.stderr).toMatch(/\/nodes\/wider\/params\/model: Pretrain node wider: params.model/);
    expect(r.stderr).toMatch(
      /params.model \(layers 1, d 64, .*\) is not the architecture of its `init` model \(layers 1, d 32, .*\): set params.model/,
    );
  }, 120_000);
});
