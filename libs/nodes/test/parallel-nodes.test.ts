// The scheduler hands a node `threads` (never part of its key): Pretrain, DPFineTune (seeded noise),
// Evaluate, SoftLabel, HiddenAlign and Distill on 2 threads give the outputs of 1 thread (within float
// tolerance for trained models; the teacher outputs bit for bit), and DPFineTune the same privacy claims.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readDatasetFile } from '@dpkd/data';
import { initBackend } from '@dpkd/lm';
import {
  DatasetNode,
  DistillNode,
  DPFineTuneNode,
  EvaluateNode,
  HiddenAlignNode,
  PretrainNode,
  readHiddenStates,
  readSoftLabels,
  SoftLabelNode,
  writeCorpusFile,
} from '../src';
import { expectSameModel, onThreads, type Output, runNode } from './helpers';

let imdb: Output;
let pub: Output;
let student: Output;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

beforeAll(async () => {
  expect(await initBackend()).toBe('wasm');
  imdb = (await runNode(DatasetNode, { corpus: 'imdb', train: 24, validation: 4, test: 6, maxLength: 300 })).outputs.dataset!;
  pub = (await runNode(DatasetNode, { corpus: 'public-mix', train: 30, validation: 2, test: 2, maxLength: 400 })).outputs.dataset!;
}, 60_000);

describe('nodes on 2 threads', () => {
  test('Pretrain, DPFineTune (seeded) and Evaluate equal their 1-thread results', async () => {
    const pretrain = { model: 'tiny', steps: 2, batchSize: 5, seqLen: 32, evalEvery: 0 };
    const one = await runNode(PretrainNode, pretrain, { data: pub });
    const two = await runNode(onThreads(PretrainNode, 2), pretrain, { data: pub });
    expectSameModel(one.outputs.model!, two.outputs.model!);
    student = one.outputs.model!;

    // Seeded noise: the same Poisson batches and noise on both runs (the OS CSPRNG would differ on every run).
    const dp = { sigma: 1, batchSize: 8, epochs: 1, seqLen: 32, microBatch: 3, select: 'last', noise: 'seeded', controlCodes: false };
    const dpOne = await runNode(DPFineTuneNode, dp, { model: one.outputs.model!, data: imdb }, 7);
    const dpTwo = await runNode(onThreads(DPFineTuneNode, 2), dp, { model: one.outputs.model!, data: imdb }, 7);
    expectSameModel(dpOne.outputs.model!, dpTwo.outputs.model!);
    expect(dpTwo.privacy).toEqual(dpOne.privacy);

    const evalOne = (await runNode(EvaluateNode, { window: 32 }, { model: dpOne.outputs.model!, data: imdb })).metrics as {
      perplexity: number;
      windows: number;
    };
    const evalTwo = (await runNode(onThreads(EvaluateNode, 2), { window: 32 }, { model: dpOne.outputs.model!, data: imdb })).metrics as {
      perplexity: number;
      windows: number;
    };
    expect(evalTwo.windows).toBe(evalOne.windows);
    expect(evalTwo.perplexity).toBeCloseTo(evalOne.perplexity, 6);
  }, 120_000);

  test('SoftLabel and HiddenAlign store the same bytes, and Distill trains the same student', async () => {
    const teacher = (
      await runNode(
        PretrainNode,
        { model: { layers: 2, d: 48, heads: 2, mlp: 96, ctx: 64 }, steps: 1, batchSize: 4, seqLen: 32, evalEvery: 0 },
        { data: pub },
      )
    ).outputs.model!;
    const dir = mkdtempSync(join(tmpdir(), 'dpkd-parallel-corpus-'));
    dirs.push(dir);
    const d = readDatasetFile(imdb.file);
    // 34 texts: three batches of 16, 16 and 2 sequences, dealt unevenly across the two replicas.
    const records = [...d.splits.train, ...d.splits.validation, ...d.splits.test].map((r) => ({ text: r.text }));
    const corpus = { file: join(dir, 'corpus.jsonl'), meta: await writeCorpusFile(join(dir, 'corpus.jsonl'), records) };
    const softOne = (await runNode(SoftLabelNode, { topK: 5, seqLen: 32 }, { teacher, corpus })).outputs.soft!;
    const softTwo = (await runNode(onThreads(SoftLabelNode, 2), { topK: 5, seqLen: 32 }, { teacher, corpus })).outputs.soft!;
    expect(readFileSync(softTwo.file).equals(readFileSync(softOne.file))).toBe(true);
    expect(readSoftLabels(softOne.file).sequences).toBe(34);
    const hiddenOne = (await runNode(HiddenAlignNode, { layers: [-1, 1], seqLen: 32 }, { teacher, corpus })).outputs.hidden!;
    const hiddenTwo = (await runNode(onThreads(HiddenAlignNode, 2), { layers: [-1, 1], seqLen: 32 }, { teacher, corpus })).outputs.hidden!;
    expect(readFileSync(hiddenTwo.file).equals(readFileSync(hiddenOne.file))).toBe(true);
    expect(readHiddenStates(hiddenOne.file).layers).toEqual([2, 1]);
    const distill = { lambda: 0.4, alpha: 0.5, layerMap: [[-1, -1]], epochs: 1, batchSize: 5, seqLen: 32, holdout: 0.1, select: 'last' };
    const inputs = { init: student, corpus, soft: softOne, hidden: hiddenOne };
    // Seed 3, not 0: createProjection's tf.randomNormal treats seed 0 as "no seed" (Math.random).
    const a = await runNode(DistillNode, distill, inputs, 3);
    const b = await runNode(onThreads(DistillNode, 2), distill, inputs, 3);
    expect((b.metrics as { steps: number }).steps).toBe((a.metrics as { steps: number }).steps);
    expectSameModel(a.outputs.model!, b.outputs.model!);
  }, 120_000);
});
