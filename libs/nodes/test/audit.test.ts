// Audit canaries and the Audit node on tiny real models: the inclusion sampling, the canary Dataset's
// artifacts, the node's privacy claim, and the violation check catching a mechanism whose noise is off while
// its lineage still claims a small ε (and passing the same model when its lineage says non-private).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import type { DatasetDescription, Lineage, NodeImplementation, NodeRunContext } from '@dpkd/graph';
import { readDatasetFile } from '@dpkd/data';
import { initBackend } from '@dpkd/lm';
import { calibrateSigma, dpSgdEvent } from '@dpkd/privacy';
import { validatorFor } from '@dpkd/schema';
import {
  AuditNode,
  CANARY_GAP,
  DatasetNode,
  drawCanaries,
  FineTuneNode,
  includedCount,
  PretrainNode,
  readCanariesFile,
  secretWords,
  type DatasetMeta,
} from '../src';
import { tokenizer } from '../src/common';
import { type Output, runNode } from './helpers';

/** Runs Audit as the engine would: params validated with defaults, the model input's lineage as given. */
async function runAudit(params: Record<string, unknown>, model: Output, canaries: Output, lineage: Lineage) {
  const copy = structuredClone(params);
  const validate = validatorFor('nodes/audit.schema.json', { useDefaults: true });
  if (!validate(copy)) throw new Error(JSON.stringify(validate.errors));
  const ctx: NodeRunContext = {
    id: 'audit',
    key: 'a'.repeat(64),
    type: 'Audit',
    params: copy,
    seed: 0,
    scratchDir: (await import('node:fs')).mkdtempSync('/tmp/dpkd-audit-'),
    inputs: {
      model: { kind: 'Model', path: model.file, meta: model.meta, lineage },
      canaries: { kind: 'Canaries', path: canaries.file, meta: canaries.meta, lineage: {} },
    },
    signal: new AbortController().signal,
    progress: () => undefined,
    log: () => undefined,
  };
  return (AuditNode as NodeImplementation).run(ctx);
}

describe('canary inclusion', () => {
  test('k ~ Binomial(m, 1/2) from the seed: deterministic per seed, mean m/2 over seeds', () => {
    expect(includedCount({ count: 100, seed: 3 })).toBe(includedCount({ count: 100, seed: 3 }));
    const ks = Array.from({ length: 400 }, (_, seed) => includedCount({ count: 100, seed }));
    const mean = ks.reduce((a, b) => a + b, 0) / ks.length;
    const variance = ks.reduce((a, b) => a + (b - mean) ** 2, 0) / (ks.length - 1);
    expect(Math.abs(mean - 50)).toBeLessThan(1); // sd of the mean: 5 / 20 = 0.25
    expect(variance).toBeGreaterThan(15); // Binomial(100, 1/2): 25
    expect(variance).toBeLessThan(37);
  });

  test('which canaries are in, and the secrets, come from the CSPRNG: two draws share k and nothing else', () => {
    const p = { count: 200, words: 8, code: 'canary', seed: 0 };
    const a = drawCanaries(p);
    const b = drawCanaries(p);
    const k = includedCount(p);
    expect(a.filter((c) => c.included)).toHaveLength(k);
    expect(b.filter((c) => c.included)).toHaveLength(k);
    expect(a.map((c) => c.included)).not.toEqual(b.map((c) => c.included));
    expect(a.filter((c, i) => c.text === b[i]!.text)).toHaveLength(0);
    // Each position is in with probability 1/2 (marginally): over 100 draws of 20 canaries, every position is near 50.
    const counts = new Array<number>(20).fill(0);
    for (let draw = 0; draw < 100; draw++)
      drawCanaries({ ...p, count: 20, seed: draw }).forEach((c, i) => (counts[i]! += c.included ? 1 : 0));
    for (const c of counts) expect(Math.abs(c - 50)).toBeLessThan(20); // 4 standard deviations
  });

  test('every secret word is one token of the tokenizer, and a secret has `words` of them', () => {
    const words = secretWords();
    expect(words.length).toBeGreaterThan(1000);
    for (const w of words.slice(0, 200)) expect(tokenizer().encode(` ${w}`)).toHaveLength(1);
    const [c] = drawCanaries({ count: 2, words: 6, code: 'canary', seed: 1 });
    expect(c!.text.split(' ')).toHaveLength(6);
  });
});

describe('a Dataset with canaries and the Audit node', () => {
  let data: Output;
  let canaries: Output;
  let model: Output;
  const params = { corpus: 'imdb', train: 20, validation: 2, test: 2, maxLength: 200, canaries: { count: 60, words: 4 } };

  beforeAll(async () => {
    expect(await initBackend()).toBe('wasm');
    const run = await runNode(DatasetNode, params);
    data = run.outputs.dataset!;
    canaries = run.outputs.canaries!;
    const pub = (await runNode(DatasetNode, { corpus: 'public-mix', train: 20, validation: 2, test: 2, maxLength: 300 })).outputs.dataset!;
    const base = (await runNode(PretrainNode, { model: 'tiny', steps: 2, batchSize: 4, seqLen: 32 }, { data: pub })).outputs.model!;
    // Non-private fine-tuning: no noise at all, long enough to memorise the included secrets.
    model = (await runNode(FineTuneNode, { epochs: 40, batchSize: 16, lr: 0.01, seqLen: 24, select: 'last' }, { model: base, data }))
      .outputs.model!;
  }, 120_000);

  test('the plan is told n = train + included canaries; the file and the canaries output agree; meta has no bits', async () => {
    const k = includedCount({ count: 60, seed: 0 });
    const description = await DatasetNode.describeDataset!(validated(params));
    expect(description).toMatchObject({ unit: 'imdb', private: true, n: 20 + k, canaries: 60 });
    const file = readDatasetFile(data.file);
    expect(file.splits.train).toHaveLength(20 + k);
    expect((data.meta as DatasetMeta).n).toBe(20 + k);
    const drawn = readCanariesFile(canaries.file);
    expect(drawn.canaries).toHaveLength(60);
    const inTrain = new Set(file.splits.train.filter((d) => d.label === 'canary').map((d) => d.text));
    expect(
      drawn.canaries
        .filter((c) => c.included)
        .map((c) => c.text)
        .sort(),
    ).toEqual([...inTrain].sort());
    expect(drawn.delta).toBe(description.delta);
    expect(JSON.stringify(canaries.meta)).not.toMatch(/included|text/);
    // The labels are the corpus's: the canary code is not a label a Sample histogram counts.
    expect(file.labels).toEqual(['negative', 'positive']);
  });

  test("Audit's claim: no mechanism, the canary gap; a Dataset without canaries is refused at plan time", () => {
    const imdb: DatasetDescription = { unit: 'imdb', private: true, n: 50, corpusSize: 49_580, delta: 2e-6, canaries: 60 };
    expect(AuditNode.privacy!({}, { canaries: { kind: 'Dataset', dataset: imdb }, model: { kind: 'Model' } })).toEqual([
      { dataset: imdb, split: 'train', event: { type: 'NoOp' }, note: 'one-run audit: reads only the canaries', gaps: [CANARY_GAP] },
    ]);
    const { canaries: _none, ...plain } = imdb;
    expect(() => AuditNode.privacy!({}, { canaries: { kind: 'Dataset', dataset: plain }, model: { kind: 'Model' } })).toThrow(
      /without canaries: set params.canaries/,
    );
  });

  test('noise off while the lineage claims DP-SGD at ε ≈ 0.3: the audit fails the node naming both numbers', async () => {
    const delta = readCanariesFile(canaries.file).delta!;
    const sigma = calibrateSigma({ epsilon: 0.3, delta, q: 0.2, steps: 10, accountant: 'pld' }).sigma;
    const forged: Lineage = { imdb: { k1: { key: 'k1', node: 'dp', event: dpSgdEvent({ q: 0.2, sigma, steps: 10 }), n: 50, delta } } };
    await expect(runAudit({ fractions: [0.25, 0.5] }, model, canaries, forged)).rejects.toThrow(
      new RegExp(
        String.raw`empirical lower bound ε >= \d+\.\d{3} \(95 % confidence, \d+ of \d+ guesses correct on 60 canaries, δ = 2\.02e-6\) ` +
          String.raw`exceeds the accountant's ε = 0\.300`,
      ),
    );
  }, 60_000);

  test('the same model with its true lineage (non-private) passes and shows a clearly positive bound (the audit has power)', async () => {
    const truth: Lineage = {
      imdb: { k2: { key: 'k2', node: 'control', event: { type: 'NonPrivate', reason: 'non-private fine-tuning' }, n: 50, delta: 2.02e-6 } },
    };
    const result = await runAudit({ fractions: [0.25, 0.5] }, model, canaries, truth);
    const m = result.metrics as {
      epsilonLowerBound: number;
      claimedEpsilon: string;
      violation: boolean;
      meanLossIncluded: number;
      meanLossExcluded: number;
    };
    expect(m.claimedEpsilon).toBe('Infinity');
    expect(m.violation).toBe(false);
    expect(m.meanLossIncluded).toBeLessThan(m.meanLossExcluded);
    expect(m.epsilonLowerBound).toBeGreaterThan(0.5);
    const out = JSON.parse(readFileSync(result.outputs.metrics!.file, 'utf8')) as { perCanary: unknown[]; rules: unknown[] };
    expect(out.perCanary).toHaveLength(60);
    expect(out.rules).toHaveLength(4);
  }, 60_000);
});

function validated(p: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(p);
  validatorFor('nodes/dataset.schema.json', { useDefaults: true })(copy);
  return copy;
}
