// The privacy signatures are correctness: each is checked against the accountant and the contract.
import { describe, expect, test } from 'vitest';
import type { DatasetDescription } from '@dpkd/graph';
import { calibrateSigma, dpSgdEvent, SEEDED_NOISE_GAP, SHUFFLE_GAP } from '@dpkd/privacy';
import {
  DatasetNode,
  DistillNode,
  DPFineTuneNode,
  EvaluateNode,
  FineTuneNode,
  HiddenAlignNode,
  nodeImplementations,
  PretrainNode,
  ReportNode,
  SampleNode,
  SELECTION_GAP,
  SoftLabelNode,
} from '../src';
import { withDefaults } from './helpers';

const IMDB_DOCUMENTS = 49_580;
const imdb: DatasetDescription = { unit: 'imdb', private: true, n: 2000, corpusSize: IMDB_DOCUMENTS, delta: 1e-6 };
const publicMix: DatasetDescription = { unit: 'public-mix', private: false, n: 3000, corpusSize: 5000 };
const data = (dataset: DatasetDescription) => ({ data: { kind: 'Dataset', dataset }, model: { kind: 'Model' } });

describe('Dataset.describeDataset', () => {
  test('unit = corpus, private by default, n = train documents, N = the whole corpus, δ = 1/(10·N) by default', async () => {
    const d = await DatasetNode.describeDataset!(withDefaults('Dataset', { corpus: 'imdb', train: 120, validation: 10, test: 10 }));
    expect(d).toEqual({ unit: 'imdb', private: true, n: 120, corpusSize: IMDB_DOCUMENTS, delta: 1 / (10 * IMDB_DOCUMENTS) });
    const rest = await DatasetNode.describeDataset!(withDefaults('Dataset', { corpus: 'imdb', validation: 100, test: 100 }));
    expect(rest.n).toBe(IMDB_DOCUMENTS - 200); // every document not held out
    // A 2-document split does not move δ: it belongs to the corpus.
    const tiny = await DatasetNode.describeDataset!(withDefaults('Dataset', { corpus: 'imdb', train: 2, validation: 0, test: 0 }));
    expect(tiny.delta).toBe(d.delta);
    const pub = await DatasetNode.describeDataset!(withDefaults('Dataset', { corpus: 'public-mix', train: 50, validation: 5, test: 5 }));
    expect(pub).toMatchObject({ unit: 'public-mix', private: false, n: 50 });
    expect(pub.delta).toBeUndefined();
  });

  test("a budget's δ reaches the Dataset as params.unitDelta (the graph lib puts it there, so it is in the key)", async () => {
    const d = await DatasetNode.describeDataset!({
      ...withDefaults('Dataset', { corpus: 'imdb', train: 120, validation: 10, test: 10 }),
      unitDelta: 1e-7,
    });
    expect(d.delta).toBe(1e-7);
  });
});

describe('DPFineTune.privacy', () => {
  const params = (extra: Record<string, unknown>) => withDefaults('DPFineTune', { epsilon: 2, batchSize: 100, epochs: 2, ...extra });

  test("q = batchSize/n, steps = ceil(epochs·n/batchSize), σ = calibrateSigma at the unit's δ; default: last step, crypto noise, no gap", () => {
    const claims = DPFineTuneNode.privacy!(params({}), data(imdb));
    const sigma = calibrateSigma({ epsilon: 2, delta: 1e-6, q: 0.05, steps: 40, accountant: 'pld' }).sigma;
    expect(claims).toEqual([{ dataset: imdb, split: 'train', event: dpSgdEvent({ q: 0.05, sigma, steps: 40 }), note: 'DP-SGD' }]);
  });

  test('selection on validation is a declared gap; fractional epochs round up; the rdp accountant calibrates at the same δ', () => {
    const claims = DPFineTuneNode.privacy!(params({ epochs: 0.33, accountant: 'rdp', select: 'best-validation' }), data(imdb));
    const sigma = calibrateSigma({ epsilon: 2, delta: 1e-6, q: 0.05, steps: 7, accountant: 'rdp' }).sigma;
    expect(claims[0]!.event).toEqual(dpSgdEvent({ q: 0.05, sigma, steps: 7 }));
    expect(claims[1]).toEqual({ dataset: imdb, split: 'validation', note: SELECTION_GAP });
  });

  test('a node cannot choose its own δ: the param is gone, and a Dataset without a unit δ is refused', () => {
    expect(() => withDefaults('DPFineTune', { epsilon: 2, delta: 0.2 })).toThrow();
    const { delta: _none, ...noDelta } = imdb;
    expect(() => DPFineTuneNode.privacy!(params({}), data(noDelta))).toThrow(/states no δ for its privacy unit/);
  });

  test('explicit σ is used as is; shuffle and seeded noise are recorded as gaps', () => {
    const p = withDefaults('DPFineTune', { sigma: 1.3, batchSize: 50, sampling: 'shuffle', noise: 'seeded' });
    const claims = DPFineTuneNode.privacy!(p, data(imdb));
    expect(claims).toEqual([
      {
        dataset: imdb,
        split: 'train',
        event: dpSgdEvent({ q: 0.025, sigma: 1.3, steps: 40 }),
        note: 'DP-SGD',
        gaps: [SHUFFLE_GAP, SEEDED_NOISE_GAP],
      },
    ]);
  });

  test('no claim on public data; a batch larger than n is refused', () => {
    expect(DPFineTuneNode.privacy!(params({}), data(publicMix))).toEqual([]);
    expect(() => DPFineTuneNode.privacy!(params({ batchSize: 5000 }), data(imdb))).toThrow(
      /batchSize 5000 exceeds the 2000 training examples/,
    );
  });
});

describe('other signatures', () => {
  test('FineTune: NonPrivate on train, plus the validation use when selecting', () => {
    expect(FineTuneNode.privacy!(withDefaults('FineTune', {}), data(imdb))).toEqual([
      { dataset: imdb, split: 'train', event: { type: 'NonPrivate', reason: 'non-private fine-tuning' } },
      { dataset: imdb, split: 'validation', note: 'checkpoint selection on the validation split' },
    ]);
    expect(FineTuneNode.privacy!(withDefaults('FineTune', { select: 'last' }), data(imdb))).toHaveLength(1);
  });

  test('Sample: noisy = Gaussian(histogramSigma) on train; exact = NonPrivate; uniform = no cost', () => {
    const codes = { codes: { kind: 'Dataset', dataset: imdb }, model: { kind: 'Model' } };
    const noisy = SampleNode.privacy!(withDefaults('Sample', { count: 10, histogramSigma: 7 }), codes);
    expect(noisy).toEqual([
      { dataset: imdb, split: 'train', event: { type: 'Gaussian', sigma: 7 }, note: 'noisy control-code histogram (rounded Gaussian)' },
    ]);
    const seeded = SampleNode.privacy!(withDefaults('Sample', { count: 10, histogramSigma: 7, noise: 'seeded' }), codes);
    expect(seeded[0]!.gaps).toEqual([SEEDED_NOISE_GAP]);
    const exact = SampleNode.privacy!(withDefaults('Sample', { count: 10, codes: 'exact' }), codes);
    expect(exact[0]!.event).toEqual({ type: 'NonPrivate', reason: 'exact control-code histogram' });
    const uniform = SampleNode.privacy!(withDefaults('Sample', { count: 10, codes: 'uniform' }), codes);
    expect(uniform.map((c) => c.event)).toEqual([{ type: 'NoOp' }]);
  });

  test('Evaluate: a held-out use of the evaluated split, nothing on public data', () => {
    expect(EvaluateNode.privacy!(withDefaults('Evaluate', {}), data(imdb))).toEqual([
      { dataset: imdb, split: 'test', note: 'evaluation on the private test split (not noised)' },
    ]);
    expect(EvaluateNode.privacy!(withDefaults('Evaluate', { split: 'validation' }), data(imdb))[0]!.split).toBe('validation');
    expect(EvaluateNode.privacy!(withDefaults('Evaluate', {}), data(publicMix))).toEqual([]);
  });

  test('Pretrain, SoftLabel, HiddenAlign, Distill and Report declare nothing (post-processing or engine-charged)', () => {
    for (const node of [PretrainNode, SoftLabelNode, HiddenAlignNode, DistillNode, ReportNode]) expect(node.privacy).toBeUndefined();
  });

  test('every schema node type has exactly one implementation', () => {
    expect(nodeImplementations.map((n) => n.type).sort()).toEqual([
      'Audit',
      'DPFineTune',
      'Dataset',
      'Distill',
      'Evaluate',
      'FineTune',
      'HiddenAlign',
      'Pretrain',
      'PublicModel',
      'Report',
      'Sample',
      'SoftLabel',
    ]);
  });
});

describe('helpers behind the signatures', () => {
  test('apportion gives exact totals proportional to the (noisy) counts, uniform when all are <= 0', async () => {
    const { apportion } = await import('../src');
    expect(apportion(10, [3, 1])).toEqual([8, 2]);
    expect(apportion(7, [5, -2])).toEqual([7, 0]);
    expect(apportion(5, [-1, -1])).toEqual([3, 2]);
    expect(apportion(1000, [1001.3, 998.2]).reduce((a, b) => a + b, 0)).toBe(1000);
  });

  test('the Distill hold-out is chosen by hash: deterministic, disjoint from training, about the fraction', async () => {
    const { holdoutIndices } = await import('../src');
    const texts = Array.from({ length: 500 }, (_, i) => `text ${i}`);
    const a = holdoutIndices(texts, 0.01);
    expect(a.size).toBe(5);
    expect([...holdoutIndices(texts, 0.01)]).toEqual([...a]);
    expect(holdoutIndices(['only one'], 0.5).size).toBe(0);
  });
});
