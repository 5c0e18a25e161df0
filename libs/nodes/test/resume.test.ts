// Resumable training at the node level: a Pretrain (and FineTune) interrupted by Ctrl-C (the abort signal)
// or killed (an exception after the last periodic save) and rerun on the same checkpoint directory ends
// with the same bytes as an uninterrupted run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { NodeImplementation, NodeProgress, NodeRunContext } from '@dpkd/graph';
import { initBackend } from '@dpkd/lm';
import { DatasetNode, DPFineTuneNode, FineTuneNode, PretrainNode } from '../src';
import { decodeTrainState } from '@dpkd/lm';
import { TRAIN_STATE_FILE } from '../src/resumable';
import { type Output, runNode, withDefaults } from './helpers';

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs a node as the engine does, with a checkpoint directory and hooks on progress and log lines. */
async function runWith(
  impl: NodeImplementation,
  params: Record<string, unknown>,
  inputs: Record<string, Output>,
  checkpointDir: string,
  hooks: { onProgress?: (p: NodeProgress, abort: () => void) => void } = {},
) {
  const controller = new AbortController();
  const logs: string[] = [];
  const ctx: NodeRunContext = {
    id: `test-${impl.type}`,
    key: 'k'.repeat(64),
    type: impl.type,
    params: withDefaults(impl.type, params),
    seed: 0,
    inputs: Object.fromEntries(
      Object.entries(inputs).map(([port, o]) => [port, { kind: 'Artifact', path: o.file, meta: o.meta, lineage: {} }]),
    ),
    scratchDir: tempDir('dpkd-resume-scratch-'),
    checkpointDir,
    signal: controller.signal,
    progress: (p) => hooks.onProgress?.(p, () => controller.abort()),
    log: (line) => void logs.push(line),
  };
  const result = await impl.run(ctx);
  return { result, logs };
}

let pub: Output;
beforeAll(async () => {
  expect(await initBackend()).toBe('wasm');
  pub = (await runNode(DatasetNode, { corpus: 'public-mix', train: 30, validation: 4, test: 2, maxLength: 400 })).outputs.dataset!;
}, 60_000);

const pretrain = { model: 'tiny', steps: 12, batchSize: 2, seqLen: 32, evalEvery: 4, evalWindows: 8, warmup: 2 };

describe('resumable Pretrain', () => {
  let reference: { bytes: Buffer; metrics: Record<string, unknown> };
  beforeAll(async () => {
    const { outputs, metrics } = await runNode(PretrainNode, pretrain, { data: pub });
    reference = { bytes: readFileSync(outputs.model!.file), metrics: metrics! };
  }, 60_000);

  test('reports tokens seen, tokens/s, ETA and validation perplexity; measures on the validation split', () => {
    const history = reference.metrics.validationHistory as Array<{ step: number; tokens: number; perplexity: number }>;
    expect(history.map((h) => h.step)).toEqual([4, 8, 12]);
    expect(history[0]!.tokens).toBe(4 * 2 * 32);
    expect(reference.metrics.validationPerplexity).toBe(history[2]!.perplexity);
    expect(history[2]!.perplexity).toBeLessThan(history[0]!.perplexity);
    expect(reference.metrics.tokens).toBe(12 * 64);
  });

  test('Ctrl-C (abort) after 5 steps saves the state; the rerun resumes and ends with the same bytes and metrics', async () => {
    const dir = tempDir('dpkd-resume-ckpt-');
    const messages: string[] = [];
    await expect(
      runWith(PretrainNode, pretrain, { data: pub }, dir, {
        onProgress: (p, abort) => {
          messages.push(p.message ?? '');
          if (p.step >= 5) abort();
        },
      }),
    ).rejects.toThrow(/interrupted at step 5 of 12; its state is saved/);
    expect(messages[0]).toMatch(/^320 tokens, \d+ tok\/s, ETA \S+, val ppl \d+\.\d\d$/);
    const { result, logs } = await runWith(PretrainNode, pretrain, { data: pub }, dir);
    expect(logs.join('\n')).toMatch(/resuming from step 5 of 12/);
    expect(readFileSync(result.outputs.model!.file).equals(reference.bytes)).toBe(true);
    expect(result.metrics!.validationHistory).toEqual(reference.metrics.validationHistory);
    expect(result.metrics!.resumedFrom).toBe(5);
  }, 60_000);

  test('a crash after a periodic save loses only the steps since: the rerun ends with the same bytes', async () => {
    const dir = tempDir('dpkd-resume-ckpt-');
    const params = { ...pretrain, checkpointMinutes: 1e-9 }; // a save after every step
    await expect(
      runWith(PretrainNode, params, { data: pub }, dir, {
        onProgress: (p) => {
          if (p.step >= 10) throw new Error('killed');
        },
      }),
    ).rejects.toThrow(/killed/);
    const { result, logs } = await runWith(PretrainNode, params, { data: pub }, dir);
    expect(logs.join('\n')).toMatch(/resuming from step 9 of 12/); // the step-10 report threw before its save
    const again = await runNode(PretrainNode, params, { data: pub });
    expect(readFileSync(result.outputs.model!.file).equals(readFileSync(again.outputs.model!.file))).toBe(true);
  }, 60_000);

  test('a saved state of another training (other identity) is set aside, not resumed', async () => {
    const dir = tempDir('dpkd-resume-ckpt-');
    await expect(
      runWith(PretrainNode, { ...pretrain, steps: 10 }, { data: pub }, dir, { onProgress: (p, abort) => p.step >= 5 && abort() }),
    ).rejects.toThrow(/interrupted/);
    expect(readFileSync(join(dir, TRAIN_STATE_FILE)).length).toBeGreaterThan(0);
    const { result, logs } = await runWith(PretrainNode, pretrain, { data: pub }, dir);
    expect(logs.join('\n')).toMatch(/is for another training.*starting afresh/);
    expect(readFileSync(result.outputs.model!.file).equals(reference.bytes)).toBe(true);
  }, 60_000);
});

describe('resumable FineTune with best-validation selection', () => {
  test('interrupted between selection points, it resumes with the best-so-far and selects as the uninterrupted run', async () => {
    const base = (await runNode(PretrainNode, { model: 'tiny', steps: 2, batchSize: 2, seqLen: 32 }, { data: pub })).outputs.model!;
    const params = { seqLen: 32, batchSize: 2, epochs: 3, lr: 0.01, select: 'best-validation' };
    const full = await runNode(FineTuneNode, params, { model: base, data: pub });
    const dir = tempDir('dpkd-resume-ckpt-');
    await expect(
      runWith(FineTuneNode, params, { model: base, data: pub }, dir, { onProgress: (p, abort) => p.step >= 20 && abort() }),
    ).rejects.toThrow(/interrupted/);
    const { result, logs } = await runWith(FineTuneNode, params, { model: base, data: pub }, dir);
    expect(logs.join('\n')).toMatch(/resuming from step 20 of 45/);
    expect(result.metrics!.selection).toEqual(full.metrics!.selection);
    expect(readFileSync(result.outputs.model!.file).equals(readFileSync(full.outputs.model!.file))).toBe(true);
  }, 120_000);
});

describe('resumable DPFineTune (DP-SGD)', () => {
  let imdb: Output;
  let base: Output;
  beforeAll(async () => {
    imdb = (await runNode(DatasetNode, { corpus: 'imdb', train: 24, validation: 4, test: 2, maxLength: 300 })).outputs.dataset!;
    base = (await runNode(PretrainNode, { model: 'tiny', steps: 2, batchSize: 2, seqLen: 32 }, { data: pub })).outputs.model!;
  }, 60_000);
  // q = 4/24, 2 epochs: 12 steps; selection at 4, 8 and 12.
  const dp = { sigma: 1, batchSize: 4, epochs: 2, seqLen: 32, lr: 0.01, select: 'best-validation', controlCodes: false };

  test('seeded noise: Ctrl-C at step 6, the rerun resumes and ends with the same bytes, selection and claim', async () => {
    const params = { ...dp, noise: 'seeded' };
    const full = await runWith(DPFineTuneNode, params, { model: base, data: imdb }, tempDir('dpkd-resume-ckpt-'));
    const dir = tempDir('dpkd-resume-ckpt-');
    await expect(
      runWith(DPFineTuneNode, params, { model: base, data: imdb }, dir, { onProgress: (p, abort) => p.step >= 6 && abort() }),
    ).rejects.toThrow(/interrupted at step 6 of 12; its state is saved/);
    const saved = decodeTrainState(new Uint8Array(readFileSync(join(dir, TRAIN_STATE_FILE))));
    expect(saved.step).toBe(6);
    expect(saved.losses).toEqual([]); // no private batch statistic on disk
    const { result, logs } = await runWith(DPFineTuneNode, params, { model: base, data: imdb }, dir);
    expect(logs.join('\n')).toMatch(/resuming from step 6 of 12/);
    // The progress line `dpkd status` shows: pace and ε spent, never a private batch's loss.
    expect(logs.filter((l) => l.startsWith('step '))).toContainEqual(
      expect.stringMatching(/^step 12\/12 [\d.]+ s\/step, ETA \S+, ε \d\.\d{3} spent so far$/),
    );
    expect(result.metrics!.resumedFrom).toBe(6);
    expect(result.metrics!.steps).toBe(12);
    expect(result.metrics!.selection).toEqual(full.result.metrics!.selection);
    expect(result.privacy).toEqual(full.result.privacy);
    expect(readFileSync(result.outputs.model!.file).equals(readFileSync(full.result.outputs.model!.file))).toBe(true);
  }, 120_000);

  test('CSPRNG noise: the rerun resumes and claims the whole trajectory; the saved state holds no sampler order', async () => {
    const params = { ...dp, noise: 'crypto', sampling: 'shuffle' };
    const dir = tempDir('dpkd-resume-ckpt-');
    await expect(
      runWith(DPFineTuneNode, params, { model: base, data: imdb }, dir, { onProgress: (p, abort) => p.step >= 4 && abort() }),
    ).rejects.toThrow(/interrupted at step 4 of 12/);
    expect(decodeTrainState(new Uint8Array(readFileSync(join(dir, TRAIN_STATE_FILE)))).order).toEqual([]);
    const { result } = await runWith(DPFineTuneNode, params, { model: base, data: imdb }, dir);
    expect(result.metrics!.resumedFrom).toBe(4);
    expect(result.metrics!.steps).toBe(12);
    const claims = result.privacy as Array<{ event: { count: number } }>;
    expect(claims[0]!.event.count).toBe(12);
  }, 120_000);
});
