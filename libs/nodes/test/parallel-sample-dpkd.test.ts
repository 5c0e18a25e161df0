// Sample and the DPKD student (DPFineTune with a teacher) on 2 threads: Sample writes the 1-thread corpus byte
// for byte (each generated row draws from its own stream), and the DPKD student trains the same model (seeded
// noise, float tolerance) with the same privacy claims.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '@dpkd/lm';
import { DatasetNode, DPFineTuneNode, PretrainNode, SampleNode } from '../src';
import { expectSameModel, onThreads, type Output, runNode } from './helpers';

let imdb: Output;
let student: Output;
let teacher: Output;

beforeAll(async () => {
  expect(await initBackend()).toBe('wasm');
  imdb = (await runNode(DatasetNode, { corpus: 'imdb', train: 16, validation: 2, test: 2, maxLength: 300 })).outputs.dataset!;
  const pretrain = { steps: 1, batchSize: 4, seqLen: 32, evalEvery: 0 };
  student = (await runNode(PretrainNode, { ...pretrain, model: 'tiny' }, { data: imdb })).outputs.model!;
  teacher = (await runNode(PretrainNode, { ...pretrain, model: { layers: 2, d: 32, heads: 2, mlp: 64, ctx: 32 } }, { data: imdb }, 5))
    .outputs.model!;
}, 60_000);

describe('Sample and the DPKD student on 2 threads', () => {
  test('Sample writes the same corpus as on 1 thread', async () => {
    // 3 rounds per code of 3 prompts x 2 returns: 6 rows sharded 3 + 3 on 2 threads, sampled with top-k/top-p.
    const params = { codes: 'exact', count: 10, maxLength: 20, batchSize: 3, returnsPerPrompt: 2 };
    const one = await runNode(SampleNode, params, { model: student, codes: imdb }, 11);
    const two = await runNode(onThreads(SampleNode, 2), params, { model: student, codes: imdb }, 11);
    const corpus = readFileSync(one.outputs.corpus!.file, 'utf8');
    expect(corpus.trim().split('\n')).toHaveLength(10);
    expect(readFileSync(two.outputs.corpus!.file, 'utf8')).toBe(corpus);
    expect(two.metrics).toEqual(one.metrics);
  });

  test('DPFineTune with a teacher (the DPKD student) trains the same student, with the same privacy claims', async () => {
    const dp = {
      sigma: 1,
      batchSize: 6,
      epochs: 1,
      seqLen: 32,
      select: 'last',
      noise: 'seeded',
      controlCodes: false,
      kd: { lambda: 0.6, temperature: 2 },
    };
    const inputs = { model: student, teacher, data: imdb };
    const one = await runNode(DPFineTuneNode, dp, inputs, 7);
    const two = await runNode(onThreads(DPFineTuneNode, 2), dp, inputs, 7);
    expect((two.metrics as { steps: number }).steps).toBe((one.metrics as { steps: number }).steps);
    expect(two.privacy).toEqual(one.privacy);
    expectSameModel(one.outputs.model!, two.outputs.model!);
  });
});
