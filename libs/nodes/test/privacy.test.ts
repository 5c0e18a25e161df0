// The privacy signatures are correctness: each is checked against the accountant and the contract.
import { describe, expect, test } from 'vitest';
import type { DatasetDescription } from '@dpkd/graph';
import { calibrateSigma, dpSgdEvent } from '@dpkd/privacy';
import { DatasetNode, DistillNode, DPFineTuneNode, EvaluateNode, FineTuneNode, HiddenAlignNode, nodeImplementations, PretrainNode, ReportNode, SampleNode, SHUFFLE_NOTE, SoftLabelNode } from '../src';
import { withDefaults } from './helpers';

const imdb: DatasetDescription = { unit: 'imdb', private: true, n: 2000 };
const publicMix: DatasetDescription = { unit: 'public-mix', private: false, n: 3000 };
const data = (dataset: DatasetDescription) => ({ data: { kind: 'Dataset', dataset }, model: { kind: 'Model' } });

describe('Dataset.describeDataset', () => {
  test('unit = corpus, private by default, n = train documents after the split', async () => {
    const d = await DatasetNode.describeDataset!(withDefaults('Dataset', { corpus: 'imdb', train: 120, validation: 10, test: 10 }));
    expect(d).toEqual({ unit: 'imdb', private: true, n: 120 });
    const rest = await DatasetNode.describeDataset!(withDefaults('Dataset', { corpus: 'imdb', validation: 100, test: 100 }));
    expect(rest.n).toBe(49_580 - 200); // every document not held out
    expect(await DatasetNode.describeDataset!(withDefaults('Dataset', { corpus: 'public-mix', train: 50, validation: 5, test: 5 }))).toEqual({ unit: 'public-mix', private: false, n: 50 });
  });
});

describe('DPFineTune.privacy', () => {
  const params = (extra: Record<string, unknown>) => withDefaults('DPFineTune', { epsilon: 2, batchSize: 100, epochs: 2, ...extra });

  test('q = batchSize/n, steps = ceil(epochs·n/batchSize), δ = 1/n, σ = calibrateSigma of exactly those', () => {
    const claims = DPFineTuneNode.privacy!(params({}), data(imdb));
    const sigma = calibrateSigma({ epsilon: 2, delta: 1 / 2000, q: 0.05, steps: 40, accountant: 'pld' }).sigma;
    expect(claims[0]).toEqual({ dataset: imdb, split: 'train', event: dpSgdEvent({ q: 0.05, sigma, steps: 40 }) });
    expect(claims[1]).toEqual({ dataset: imdb, split: 'validation', note: 'checkpoint selection on the validation split' });
    expect(claims).toHaveLength(2);
  });

  test('fractional epochs round the steps up; an explicit δ and the rdp accountant are used as given', () => {
    const [claim] = DPFineTuneNode.privacy!(params({ epochs: 0.33, delta: 1e-5, accountant: 'rdp' }), data(imdb));
    const sigma = calibrateSigma({ epsilon: 2, delta: 1e-5, q: 0.05, steps: 7, accountant: 'rdp' }).sigma;
    expect(claim!.event).toEqual(dpSgdEvent({ q: 0.05, sigma, steps: 7 }));
  });

  test('explicit σ is used as is; select = last has no validation use; shuffle is recorded as a gap', () => {
    const p = withDefaults('DPFineTune', { sigma: 1.3, batchSize: 50, select: 'last', sampling: 'shuffle' });
    const claims = DPFineTuneNode.privacy!(p, data(imdb));
    expect(claims).toEqual([{ dataset: imdb, split: 'train', event: dpSgdEvent({ q: 0.025, sigma: 1.3, steps: 40 }), note: SHUFFLE_NOTE }]);
  });

  test('no claim on public data; a batch larger than n is refused', () => {
    expect(DPFineTuneNode.privacy!(params({}), data(publicMix))).toEqual([]);
    expect(() => DPFineTuneNode.privacy!(params({ batchSize: 5000 }), data(imdb))).toThrow(/batchSize 5000 exceeds the 2000 training examples/);
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
    expect(noisy).toEqual([{ dataset: imdb, split: 'train', event: { type: 'Gaussian', sigma: 7 }, note: 'noisy control-code histogram' }]);
    const exact = SampleNode.privacy!(withDefaults('Sample', { count: 10, codes: 'exact' }), codes);
    expect(exact[0]!.event).toEqual({ type: 'NonPrivate', reason: 'exact control-code histogram' });
    const uniform = SampleNode.privacy!(withDefaults('Sample', { count: 10, codes: 'uniform' }), codes);
    expect(uniform.map((c) => c.event)).toEqual([{ type: 'NoOp' }]);
  });

  test('Evaluate: a held-out use of the evaluated split, nothing on public data', () => {
    expect(EvaluateNode.privacy!(withDefaults('Evaluate', {}), data(imdb))).toEqual([{ dataset: imdb, split: 'test', note: 'evaluation on the held-out test split' }]);
    expect(EvaluateNode.privacy!(withDefaults('Evaluate', { split: 'validation' }), data(imdb))[0]!.split).toBe('validation');
    expect(EvaluateNode.privacy!(withDefaults('Evaluate', {}), data(publicMix))).toEqual([]);
  });

  test('Pretrain, SoftLabel, HiddenAlign, Distill and Report declare nothing (post-processing or engine-charged)', () => {
    for (const node of [PretrainNode, SoftLabelNode, HiddenAlignNode, DistillNode, ReportNode]) expect(node.privacy).toBeUndefined();
  });

  test('every schema node type has exactly one implementation', () => {
    expect(nodeImplementations.map((n) => n.type).sort()).toEqual(['DPFineTune', 'Dataset', 'Distill', 'Evaluate', 'FineTune', 'HiddenAlign', 'Pretrain', 'Report', 'Sample', 'SoftLabel']);
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
