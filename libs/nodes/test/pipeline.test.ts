// Each node's run() on tiny real data (a few IMDb reviews, the `tiny` preset, 1-3 steps), chained the
// way the quickstart chains them, plus the errors a user can hit.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { readDatasetFile } from '@dpkd/data';
import { decodeCheckpoint, encodeCheckpoint, initBackend, loadCheckpoint, parameterCount, presetConfig } from '@dpkd/lm';
import { dpSgdEvent, epsilonOf } from '@dpkd/privacy';
import type { Table } from '@dpkd/report';
import {
  DatasetNode,
  DistillNode,
  DPFineTuneNode,
  EvaluateNode,
  FineTuneNode,
  HiddenAlignNode,
  PretrainNode,
  ReportNode,
  SampleNode,
  SoftLabelNode,
  readCorpusFile,
  readHiddenStates,
  readSoftLabels,
  type DatasetMeta,
} from '../src';
import { type Output, runNode } from './helpers';

let imdb: Output;
let pub: Output;
let student: Output;
let teacher: Output;
let dpTeacher: Output;
let corpus: Output;
let soft: Output;
let hidden: Output;

const teacherModel = { layers: 2, d: 48, heads: 2, mlp: 96, ctx: 64 };

beforeAll(async () => {
  expect(await initBackend()).toBe('wasm');
  imdb = (await runNode(DatasetNode, { corpus: 'imdb', train: 24, validation: 4, test: 6, maxLength: 300 })).outputs.dataset!;
  pub = (await runNode(DatasetNode, { corpus: 'public-mix', train: 30, validation: 2, test: 2, maxLength: 400 })).outputs.dataset!;
  student = (await runNode(PretrainNode, { model: 'tiny', steps: 2, batchSize: 4, seqLen: 32 }, { data: pub })).outputs.model!;
  teacher = (await runNode(PretrainNode, { model: teacherModel, steps: 2, batchSize: 4, seqLen: 32 }, { data: pub })).outputs.model!;
}, 60_000);

describe('Dataset and Pretrain', () => {
  test("Dataset writes the data lib's file with meta {unit, private, n, labels, corpus}", () => {
    const meta = imdb.meta as DatasetMeta;
    expect(meta).toMatchObject({ unit: 'imdb', private: true, n: 24, labels: ['negative', 'positive'], corpus: 'imdb' });
    const d = readDatasetFile(imdb.file);
    expect(d.splits.train).toHaveLength(24);
    expect(Math.max(...d.splits.train.map((x) => x.text.length))).toBeLessThanOrEqual(300);
  });

  test('Pretrain saves a checkpoint whose meta has config, parameter count, tokenizer and preset', async () => {
    const meta = student.meta as { params: number; preset: string; tokenizer: { name: string }; config: { vocab: number } };
    expect(meta.preset).toBe('tiny');
    expect(meta.params).toBe(parameterCount(presetConfig('tiny', 4098)));
    expect(meta.tokenizer.name).toBe('gpt2-bpe-4096');
    const { model, metadata } = await loadCheckpoint(student.file);
    expect(model.config.vocab).toBe(4098);
    expect(metadata.tokenizerFingerprint).toMatch(/^[0-9a-f]{64}$/);
    model.dispose();
  });

  test('Pretrain with an init model starts from its weights, not from a fresh initialisation', async () => {
    const continued = (
      await runNode(PretrainNode, { model: teacherModel, steps: 1, batchSize: 4, seqLen: 32, lr: 1e-9 }, { data: pub, init: teacher })
    ).outputs.model!;
    const fresh = (await runNode(PretrainNode, { model: teacherModel, steps: 1, batchSize: 4, seqLen: 32, lr: 1e-9 }, { data: pub }, 7))
      .outputs.model!;
    const weights = async (file: string) => {
      const { model } = await loadCheckpoint(file);
      const w = Array.from(model.params.get('wte')!.dataSync());
      model.dispose();
      return w;
    };
    const [init, after, other] = await Promise.all([weights(teacher.file), weights(continued.file), weights(fresh.file)]);
    const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    expect(maxDiff(after, init)).toBeLessThan(1e-6); // one step at lr 1e-9 (AdamW moves each weight by about lr)
    expect(maxDiff(other, init)).toBeGreaterThan(1e-3);
  });

  test('Pretrain refuses seqLen beyond the model context', async () => {
    await expect(runNode(PretrainNode, { model: 'tiny', steps: 1, seqLen: 128 }, { data: pub })).rejects.toThrow(
      /seqLen 128 exceeds the model context 64/,
    );
  });
});

describe('fine-tuning', () => {
  test("DPFineTune returns the claims with the steps actually taken at the unit's δ, selects on validation when asked, publishes no private loss", async () => {
    const r = await runNode(
      DPFineTuneNode,
      { epsilon: 4, batchSize: 8, epochs: 1, seqLen: 32, microBatch: 4, select: 'best-validation' },
      { model: teacher, data: imdb },
      3,
    );
    const unitDelta = (imdb.meta as DatasetMeta).delta!;
    expect(unitDelta).toBeLessThan(1 / (imdb.meta as DatasetMeta).corpusSize);
    expect(r.metrics).not.toHaveProperty('finalLoss');
    expect(r.progress.every((p) => p.loss === undefined)).toBe(true);
    expect((r.metrics as { delta: number }).delta).toBe(unitDelta);
    dpTeacher = r.outputs.model!;
    const m = r.metrics as { steps: number; q: number; sigma: number; selection: { history: unknown[] } };
    expect(m.steps).toBe(3);
    expect(m.q).toBeCloseTo(8 / 24, 12);
    expect(r.privacy![0]!.event).toEqual(dpSgdEvent({ q: m.q, sigma: m.sigma, steps: 3 }));
    expect(epsilonOf(r.privacy![0]!.event!, unitDelta).epsilon).toBeLessThanOrEqual(4);
    expect(m.selection.history.length).toBeGreaterThanOrEqual(1);
    expect(r.provenance).toEqual({ backend: 'wasm' });
    // Progress carries the ε spent so far, ending at the executed claim's ε.
    const spent = r.progress.map((p) => p.epsilon!);
    expect(spent.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < spent.length; i++) expect(spent[i]!).toBeGreaterThan(spent[i - 1]!);
    expect(spent.at(-1)).toBeCloseTo(epsilonOf(r.privacy![0]!.event!, unitDelta).epsilon, 10);
  });

  test('DPFineTune with a teacher (DPKD student) trains with the KD loss', async () => {
    const r = await runNode(
      DPFineTuneNode,
      { sigma: 1, batchSize: 8, epochs: 0.5, seqLen: 32, controlCodes: false, select: 'last', kd: { lambda: 0.4 } },
      { model: student, data: imdb, teacher: dpTeacher },
    );
    expect((r.metrics as { teacher: boolean; steps: number }).teacher).toBe(true);
    const meta = imdb.meta as DatasetMeta;
    expect(r.privacy).toEqual([
      {
        dataset: { unit: 'imdb', private: true, n: 24, corpusSize: meta.corpusSize, delta: meta.delta },
        split: 'train',
        event: dpSgdEvent({ q: 8 / 24, sigma: 1, steps: 2 }),
        note: 'DP-SGD',
      },
    ]);
  });

  test('a diverged DPFineTune fails as a node failure naming the step and the fix, not as invalid input', async () => {
    const run = runNode(
      DPFineTuneNode,
      { sigma: 1, batchSize: 8, epochs: 1, seqLen: 32, controlCodes: false, select: 'last', lr: 1e30 },
      { model: student, data: imdb },
    );
    const error = await run.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/training diverged \(non-finite loss at step \d+\); lower the learning rate/);
    expect(error?.name).not.toBe('NodeInputError');
  });

  test('FineTune marks its output non-private', async () => {
    const r = await runNode(FineTuneNode, { epochs: 0.3, batchSize: 8, seqLen: 32, select: 'last' }, { model: student, data: imdb });
    expect((r.metrics as { private: boolean }).private).toBe(false);
  });

  test('a model for another tokenizer is refused', async () => {
    const { model, metadata } = decodeCheckpoint(new Uint8Array(readFileSync(student.file)));
    const foreign = join(dirname(student.file), 'foreign.safetensors');
    writeFileSync(foreign, encodeCheckpoint(model, { ...metadata, tokenizerName: 'byte-256', tokenizerFingerprint: 'f'.repeat(64) }));
    model.dispose();
    await expect(runNode(EvaluateNode, {}, { model: { file: foreign }, data: imdb })).rejects.toThrow(
      /model for another tokenizer \(byte-256.*retrain it with a Pretrain node/,
    );
  });
});

describe('synthetic data and distillation', () => {
  test('Sample: prompts by control code, allocation by the noisy histogram, prompt stripped, whitespace collapsed', async () => {
    const r = await runNode(
      SampleNode,
      { count: 10, histogramSigma: 1, maxLength: 20, batchSize: 8, returnsPerPrompt: 2 },
      { model: dpTeacher, codes: imdb },
      5,
    );
    corpus = r.outputs.corpus!;
    const records = readCorpusFile(corpus.file);
    expect(records).toHaveLength(10);
    expect(corpus.meta).toEqual({ count: 10, perLabel: expect.any(Object) });
    for (const rec of records) {
      expect(['negative', 'positive']).toContain(rec.label);
      expect(rec.text).toBe(rec.text.replace(/\s+/g, ' ').trim());
      expect(rec.text.length).toBeGreaterThan(0);
    }
    const histogram = (r.metrics as { noisyHistogram: Record<string, number> }).noisyHistogram;
    expect(Object.keys(histogram).sort()).toEqual(['negative', 'positive']);
  });

  test('Sample with uniform codes reads only the label names (a dataset file is not even needed)', async () => {
    const r = await runNode(
      SampleNode,
      { count: 4, codes: 'uniform', maxLength: 12, batchSize: 4, returnsPerPrompt: 1 },
      { model: dpTeacher, codes: { file: '/nonexistent', meta: imdb.meta } },
    );
    expect(r.outputs.corpus!.meta).toEqual({ count: 4, perLabel: { negative: 2, positive: 2 } });
  });

  test('SoftLabel stores top-k with tail mass (bytes per token stated); HiddenAlign stores chosen layers', async () => {
    const softRun = await runNode(SoftLabelNode, { topK: 5, seqLen: 32 }, { teacher: dpTeacher, corpus });
    expect(softRun.provenance).toEqual({ backend: 'wasm' });
    soft = softRun.outputs.soft!;
    expect(soft.meta).toMatchObject({ topK: 5, seqLen: 32, sequences: 10, bytesPerToken: 2 + 6 * 5 + 4 });
    const s = readSoftLabels(soft.file);
    for (let row = 0; row < 10 * 32; row += 37) {
      const top = Array.from(s.probs.subarray(row * 5, row * 5 + 5));
      expect([...top].sort((a, b) => b - a)).toEqual(top);
      expect(top.reduce((a, b) => a + b, 0) + s.tail![row]!).toBeCloseTo(1, 5);
    }
    const full = (await runNode(SoftLabelNode, { topK: 0, seqLen: 8 }, { teacher: dpTeacher, corpus })).outputs.soft!;
    expect((full.meta as { bytesPerToken: number }).bytesPerToken).toBe(2 + 4 * 4098);
    const hiddenRun = await runNode(HiddenAlignNode, { layers: [-1, 1], seqLen: 32 }, { teacher: dpTeacher, corpus });
    expect(hiddenRun.provenance).toEqual({ backend: 'wasm' });
    hidden = hiddenRun.outputs.hidden!;
    const h = readHiddenStates(hidden.file);
    expect(h.layers).toEqual([2, 1]);
    expect(h.states[0]).toHaveLength(10 * 32 * 48);
  });

  test('Distill with soft labels and hidden alignment (projection, widths 32 -> 48)', async () => {
    const r = await runNode(
      DistillNode,
      { lambda: 0.4, alpha: 0.5, layerMap: [[-1, -1]], epochs: 1, batchSize: 3, seqLen: 32, holdout: 0.1 },
      { init: student, corpus, soft, hidden },
    );
    const m = r.metrics as { steps: number; holdout: number; trainSequences: number };
    expect(m.holdout).toBe(1);
    expect(m.trainSequences).toBe(9);
    expect(m.steps).toBe(3);
  });

  test('Distill refuses mismatched seqLen, missing soft labels and an unkept teacher layer', async () => {
    await expect(runNode(DistillNode, { seqLen: 16 }, { init: student, corpus, soft })).rejects.toThrow(
      /seqLen 16 differs from the soft labels' seqLen 32/,
    );
    await expect(runNode(DistillNode, { lambda: 0.4, seqLen: 32 }, { init: student, corpus })).rejects.toThrow(
      /lambda 0.4 needs the soft input/,
    );
    await expect(
      runNode(DistillNode, { lambda: 0, alpha: 1, layerMap: [[-1, 0]], seqLen: 32 }, { init: student, corpus, hidden }),
    ).rejects.toThrow(/teacher layer 0 was not kept/);
  });
});

describe('Evaluate and Report', () => {
  test('Evaluate: perplexity overall and per code, the parameter count; Report: ε from lineage, never from params', async () => {
    const evalStudent = (await runNode(EvaluateNode, { window: 32 }, { model: student, data: imdb })).outputs.metrics!;
    const evalTeacher = (await runNode(EvaluateNode, { window: 64 }, { model: dpTeacher, data: imdb })).outputs.metrics!;
    const m = JSON.parse(readFileSync(evalStudent.file, 'utf8'));
    expect(m.params).toBe(parameterCount(presetConfig('tiny', 4098)));
    expect(m.perplexity).toBeGreaterThan(1);
    expect(Object.keys(m.perCode).sort()).toEqual(['negative', 'positive']);
    const event = dpSgdEvent({ q: 1 / 3, sigma: 1.1, steps: 3 });
    const lineage = {
      imdb: {
        k1: { key: 'k1', node: 'teacher', event, n: 24, delta: 1e-6 },
        k3: {
          key: 'k3',
          node: 'eval',
          event: { type: 'NoOp' as const },
          n: 24,
          delta: 1e-6,
          gaps: ['evaluation on the private test split (not noised)'],
        },
      },
    };
    const r = await runNode(
      ReportNode,
      {
        title: 't',
        rows: [
          { label: 'student', metrics: 's', reference: 't' },
          { label: 'DP teacher', metrics: 't', reference: 't' },
          { label: 'non-private', metrics: 'np' },
        ],
      },
      {
        s: { ...evalStudent, lineage: {} },
        t: { ...evalTeacher, lineage },
        np: { ...evalStudent, lineage: { imdb: { k2: { key: 'k2', node: 'ft', event: { type: 'NonPrivate' }, n: 24, delta: 1e-6 } } } },
      },
    );
    const table = JSON.parse(readFileSync(r.outputs.table!.file, 'utf8')) as Table;
    expect(table.columns.map((c) => c.key)).toEqual(['method', 'params', 'compressionRatio', 'epsilon', 'delta', 'perplexity']);
    const [s, t, np] = table.rows;
    expect(s).toMatchObject({ method: 'student', epsilon: 0, delta: 0 });
    expect(s!.compressionRatio).toBeCloseTo(
      parameterCount(presetConfig('tiny', 4098)) / parameterCount({ ...teacherModel, vocab: 4098 }),
      12,
    );
    expect(t!.epsilon).toBe(epsilonOf(event, 1e-6, { accountant: 'pld' }).epsilon);
    expect(t!.delta).toBe(1e-6);
    // The teacher's row carries its lineage's gap as a footnote; the others none.
    expect(table.rowNotes).toEqual([[], ['not covered by ε: imdb: evaluation on the private test split (not noised)'], []]);
    expect(np!.epsilon).toBe('Infinity'); // JSON has no ∞
    expect(table.notes!.join(' ')).toMatch(/pld accountant/);
    expect(table.columns.at(-1)!.label).toBe('test perplexity');
    expect(table.notes!.join(' ')).toContain("Perplexity: the test split's texts joined");
    await expect(runNode(ReportNode, { rows: [{ label: 'x', metrics: 'missing' }] }, { s: evalStudent })).rejects.toThrow(/missing/);
  });

  test('Report labels the perplexity column with the split its rows were evaluated on (validation runs never read as test)', async () => {
    const onValidation = (await runNode(EvaluateNode, { window: 32, split: 'validation' }, { model: student, data: imdb })).outputs
      .metrics!;
    const onTest = (await runNode(EvaluateNode, { window: 32 }, { model: student, data: imdb })).outputs.metrics!;
    const label = async (inputs: Record<string, Output>) => {
      const r = await runNode(ReportNode, {}, inputs);
      const table = JSON.parse(readFileSync(r.outputs.table!.file, 'utf8')) as Table;
      return table.columns.find((c) => c.key === 'perplexity')!.label;
    };
    expect(await label({ v: onValidation })).toBe('validation perplexity');
    expect(await label({ v: onValidation, t: onTest })).toBe('test/validation (mixed) perplexity');
  });
});
