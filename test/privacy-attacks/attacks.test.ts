// Issue 10's attacks, one graph each, written by someone who wants a budget to pass that should not.
// Plan only (no training): each asserts the refusal (and its exit code class) or the correct ε.
import { describe, expect, test } from 'vitest';
import { defaultUnitDelta, dpSgdEvent, epsilonOf, SEEDED_NOISE_GAP, SHUFFLE_GAP } from '@dpkd/privacy';
import { validateGraph } from '@dpkd/graph';
import { SELECTION_GAP } from '@dpkd/nodes';
import { cli, cliBinary, dpTeacher, expandGraph, imdb, plan, pretrain, publicMix } from './helpers';

const IMDB_DOCUMENTS = 49_580;
const unitDelta = defaultUnitDelta(IMDB_DOCUMENTS);
const base = { public: publicMix, t0: pretrain };

describe('attack 1: δ bypass through a tiny Dataset node', () => {
  const refused = { privacy: { budgets: { imdb: { epsilon: 1.5 } } }, nodes: { ...base, imdb: imdb(), teacher: dpTeacher() } };
  const withTiny = {
    ...refused,
    nodes: { ...refused.nodes, tiny: { type: 'Dataset', params: { corpus: 'imdb', train: 2, validation: 0, test: 0 } } },
  };

  test('an unused 2-document Dataset over the corpus no longer moves δ: still refused at δ = 1/(10·N)', async () => {
    const before = await plan(refused);
    const after = await plan(withTiny);
    for (const p of [before, after]) {
      expect(p.privacy.datasets.imdb!.delta).toBe(unitDelta);
      expect(p.privacy.datasets.imdb!.epsilon).toBeGreaterThan(1.5);
      expect(p.violations.map((v) => v.unit)).toEqual(['imdb']);
    }
    expect(after.privacy.datasets.imdb!.epsilon).toBe(before.privacy.datasets.imdb!.epsilon);
  }, 120_000);

  test('through the real CLI: `dpkd plan` exits 3 with the tiny node', () => {
    const r = cliBinary(['plan'], withTiny); // the bundled binary, as a user runs it
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/imdb: ε=2\.\d+ at δ=2\.02e-6 \(default 1\/\(10·N\), N = 49580/);
  }, 120_000);

  test('a budget δ at or above 1/N is invalid input (exit 2) naming the budget; "1/n" is no longer accepted', async () => {
    const p = await plan({ ...refused, privacy: { budgets: { imdb: { epsilon: 8, delta: 1e-4 } } } });
    expect(p.invalid).toEqual([
      expect.objectContaining({
        pointer: '/privacy/budgets/imdb/delta',
        message: expect.stringMatching(/budget "imdb" for imdb: δ = 0.0001 is not below 1\/N/),
      }),
    ]);
    for (const command of ['validate', 'plan']) {
      const r = await cli([command], { ...refused, privacy: { budgets: { imdb: { epsilon: 8, delta: 1e-4 } } } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/budgets\/imdb\/delta.*not below 1\/N/);
    }
    expect((await cli(['validate'], { ...refused, privacy: { budgets: { imdb: { epsilon: 8, delta: '1/n' } } } })).code).toBe(2);
  }, 120_000);

  test('a node cannot pick its own δ (DPFineTune has no delta param any more): attack 6 of the old list', async () => {
    expect((await cli(['validate'], { ...refused, nodes: { ...refused.nodes, teacher: dpTeacher({ delta: 0.2 }) } })).code).toBe(2);
  });

  test("a budget's δ is in the key of every DP node of its unit (a teacher calibrated at another δ is never reused)", () => {
    const at = (delta?: number) =>
      expandGraph({
        privacy: { budgets: { imdb: { epsilon: 8, ...(delta ? { delta } : {}) } } },
        nodes: { ...base, imdb: imdb(), teacher: dpTeacher() },
      });
    const key = (g: ReturnType<typeof at>, id: string) => g.nodes.find((n) => n.id === id)!.key;
    const [a, b, c] = [at(), at(1e-7), at(1e-8)];
    expect(new Set([key(a, 'teacher'), key(b, 'teacher'), key(c, 'teacher')]).size).toBe(3);
    expect(key(a, 't0')).toBe(key(b, 't0')); // public work is not invalidated
    const planned = plan({
      privacy: { budgets: { imdb: { epsilon: 8, delta: 1e-7 } } },
      nodes: { ...base, imdb: imdb(), teacher: dpTeacher() },
    });
    return planned.then((p) => {
      expect(p.privacy.datasets.imdb!.delta).toBe(1e-7);
      // σ was calibrated at the budget's δ: ε of the teacher at that δ is its target.
      expect(p.privacy.lineageEpsilon.teacher!.imdb).toBeLessThanOrEqual(2);
      expect(p.privacy.lineageEpsilon.teacher!.imdb).toBeGreaterThan(1.95);
    });
  }, 120_000);
});

describe('attack 2: predictable and shared noise', () => {
  const graph = (teacher: Record<string, unknown>, sample: Record<string, unknown> = {}, privacy: Record<string, unknown> = {}) => ({
    privacy: { budgets: { imdb: { epsilon: 8 } }, ...privacy },
    nodes: {
      ...base,
      imdb: imdb(),
      teacher: dpTeacher(teacher),
      syn: { type: 'Sample', inputs: { model: 'teacher', codes: 'imdb' }, params: { count: 10, codes: 'noisy', ...sample } },
    },
  });

  test('the default is crypto noise everywhere: no seeded-noise gap; two DP nodes on the same data compose as independent', async () => {
    // (A node identical in every param has the same action key: it is the same action, run once.)
    const p = await plan({ ...graph({}), nodes: { ...graph({}).nodes, twin: dpTeacher({ seed: 2 }) } });
    expect(p.privacy.gaps.filter((g) => g.note === SEEDED_NOISE_GAP)).toEqual([]);
    const events = p.privacy.datasets.imdb!.events;
    expect(events.filter((e) => e.node === 'teacher' || e.node === 'twin')).toHaveLength(2);
    expect(p.violations).toEqual([]);
  }, 120_000);

  test('seeded noise under a budget is refused (exit 3) naming the nodes, unless allowSeededNoise; then it is a declared gap', async () => {
    const seeded = graph({ noise: 'seeded' }, { noise: 'seeded' });
    const p = await plan(seeded);
    expect(p.violations[0]!.refusals![0]!.nodes.sort()).toEqual(['syn', 'teacher']);
    expect((await cli(['plan'], seeded)).code).toBe(3);
    const allowed = await plan(graph({ noise: 'seeded' }, { noise: 'seeded' }, { allowSeededNoise: true }));
    expect(allowed.violations).toEqual([]);
    expect(
      allowed.privacy.gaps
        .filter((g) => g.note === SEEDED_NOISE_GAP)
        .map((g) => g.node)
        .sort(),
    ).toEqual(['syn', 'teacher']);
    expect(allowed.privacy.lineage.syn!.imdb![allowed.nodes.find((n) => n.id === 'teacher')!.key]!.gaps).toContain(SEEDED_NOISE_GAP);
  }, 120_000);
});

describe('attack 3: a public Dataset over a private corpus', () => {
  test('Dataset nodes that disagree on private/public are invalid (exit 2) and both are named', async () => {
    const graph = {
      privacy: { budgets: { imdb: { epsilon: 8 } } },
      nodes: {
        ...base,
        imdb: imdb(),
        leak: imdb({ private: false }),
        teacher: dpTeacher(),
        ft: { type: 'FineTune', inputs: { model: 't0', data: 'leak' }, params: { epochs: 1, seqLen: 32 } },
      },
    };
    // `validate` refuses it from the file alone, at the public node's "private".
    const validated = validateGraph(JSON.stringify({ name: 'attack', ...graph }), 'attack.json');
    expect(validated.diagnostics).toEqual([
      expect.objectContaining({
        pointer: '/nodes/leak/params/private',
        message: expect.stringMatching(/Dataset nodes imdb \(private\) and leak \(public\) disagree about imdb/),
      }),
    ]);
    // The plan checks it again on what the Dataset nodes report (a graph that got past validate).
    const declaredPrivate = { ...graph, nodes: { ...graph.nodes, leak: imdb({ train: 101 }) } }; // a train size no other test uses: the description cache is keyed by action key
    const p = await plan(declaredPrivate, (g) => void (g.nodes.find((n) => n.id === 'leak')!.params.private = false));
    expect(p.invalid).toHaveLength(1);
    expect(p.invalid[0]!.message).toMatch(/Dataset nodes imdb \(private\) and leak \(public\) disagree about imdb/);
    for (const command of ['validate', 'plan']) {
      const r = await cli([command], graph);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/imdb \(private\) and leak \(public\)/);
    }
  }, 120_000);
});

describe('attack 4: two budgets for one corpus', () => {
  test('a second budget on the same unit (by node id) is invalid (exit 2) naming both', async () => {
    const graph = {
      privacy: { budgets: { imdb: { epsilon: 1 }, imdb2: { epsilon: 100 } } },
      nodes: { ...base, imdb: imdb(), imdb2: imdb({ train: 100 }), teacher: dpTeacher() },
    };
    const twoBudgets = /privacy unit imdb has two budgets, "imdb" \(ε 1\) and "imdb2" \(ε 100\)/;
    const validated = validateGraph(JSON.stringify({ name: 'attack', ...graph }), 'attack.json');
    expect(validated.diagnostics).toEqual([
      expect.objectContaining({ pointer: '/privacy/budgets/imdb2', message: expect.stringMatching(twoBudgets) }),
    ]);
    // The plan checks it again (a graph that got past validate).
    const oneBudget = { ...graph, privacy: { budgets: { imdb: { epsilon: 1 } } } };
    const p = await plan(oneBudget, (g) => void ((g.source.privacy!.budgets as Record<string, unknown>).imdb2 = { epsilon: 100 }));
    expect(p.invalid.map((e) => e.message)).toEqual([expect.stringMatching(twoBudgets)]);
    for (const command of ['validate', 'plan']) expect((await cli([command], graph)).code).toBe(2);
  }, 120_000);

  test('a budget named by a Dataset node covers every Dataset of the corpus', async () => {
    const p = await plan({
      privacy: { budgets: { small: { epsilon: 1.5 } } },
      nodes: { ...base, imdb: imdb(), small: imdb({ train: 100 }), teacher: dpTeacher() },
    });
    expect(p.privacy.datasets.imdb!.budget).toMatchObject({ name: 'small', epsilon: 1.5 });
    expect(p.violations.map((v) => v.unit)).toEqual(['imdb']);
  }, 120_000);
});

describe('attack 5: shuffled batches', () => {
  const graph = (privacy: Record<string, unknown> = {}) => ({
    privacy: { budgets: { imdb: { epsilon: 8 } }, ...privacy },
    nodes: { ...base, imdb: imdb(), teacher: dpTeacher({ sampling: 'shuffle' }) },
  });

  test('listed in plan, plan --json and the lineage (so every Report row downstream gets the footnote)', async () => {
    const p = await plan(graph());
    expect(p.privacy.gaps).toEqual([{ node: 'teacher', unit: 'imdb', split: 'train', note: SHUFFLE_GAP }]);
    expect(p.privacy.datasets.imdb!.events[0]!.gaps).toEqual([SHUFFLE_GAP]);
    const json = JSON.parse((await cli(['plan', '--json'], graph())).stdout);
    expect(json.privacy.imdb.gaps).toEqual([{ node: 'teacher', unit: 'imdb', split: 'train', note: SHUFFLE_GAP }]);
  }, 120_000);

  test('refused under privacy.strict (exit 3), naming the node', async () => {
    const p = await plan(graph({ strict: true }));
    expect(p.violations[0]!.refusals).toEqual([{ reason: 'privacy.strict: gaps under a budget', nodes: ['teacher'] }]);
    const r = await cli(['plan'], graph({ strict: true }));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/privacy.strict.*teacher/);
  }, 120_000);
});

describe('attack 7: held-out uses of private splits', () => {
  const graph = (privacy: Record<string, unknown> = {}, select = 'best-validation') => ({
    privacy: { budgets: { imdb: { epsilon: 8 } }, ...privacy },
    nodes: {
      ...base,
      imdb: imdb(),
      teacher: dpTeacher({ select }),
      ppl: { type: 'Evaluate', inputs: { model: 'teacher', data: 'imdb' }, params: { window: 32 } },
    },
  });

  test('selection on validation and evaluation on test are gaps in the plan and in the lineage of the evaluated row', async () => {
    const p = await plan(graph());
    expect(p.privacy.gaps.map((g) => [g.node, g.split, g.note])).toEqual([
      ['teacher', 'validation', SELECTION_GAP],
      ['ppl', 'test', 'evaluation on the private test split (not noised)'],
    ]);
    const row = p.privacy.lineage.ppl!.imdb!;
    expect(
      Object.values(row)
        .flatMap((e) => e.gaps ?? [])
        .sort(),
    ).toEqual([SELECTION_GAP, 'evaluation on the private test split (not noised)'].sort());
  }, 120_000);

  test('DPFineTune selects the last step by default: no validation use', async () => {
    const p = await plan(graph({}, 'last'));
    expect(p.privacy.gaps.map((g) => g.node)).toEqual(['ppl']);
  }, 120_000);

  test('strict refuses them (exit 3) naming both nodes', async () => {
    const p = await plan(graph({ strict: true }));
    expect(p.violations[0]!.refusals![0]!.nodes).toEqual(['teacher', 'ppl']);
  }, 120_000);
});

describe('attack 8: un-noised private statistics', () => {
  test('DPFineTune declares no metric or progress field for the training loss (checked on a run in libs/nodes/test/pipeline.test.ts)', async () => {
    const source = await import('node:fs').then((fs) =>
      fs.readFileSync(new URL('../../libs/nodes/src/dp-fine-tune.ts', import.meta.url), 'utf8'),
    );
    expect(source).not.toMatch(/finalLoss|losses\.at|loss: r\.loss/);
  });
});

describe('more: a non-private use of the private data under a budget', () => {
  test('FineTune on the private split is ε = ∞ and refused', async () => {
    const p = await plan({
      privacy: { budgets: { imdb: { epsilon: 100 } } },
      nodes: { ...base, imdb: imdb(), ft: { type: 'FineTune', inputs: { model: 't0', data: 'imdb' }, params: { epochs: 1, seqLen: 32 } } },
    });
    expect(p.privacy.datasets.imdb!.epsilon).toBe(Infinity);
    expect(p.violations[0]!.nonPrivateNodes).toEqual(['ft']);
  }, 120_000);

  test('the planned ε is the accountant on the planned events at the unit δ (never a param)', async () => {
    const p = await plan({
      privacy: { budgets: { imdb: { epsilon: 8 } } },
      nodes: { ...base, imdb: imdb(), teacher: dpTeacher({ epsilon: 2 }) },
    });
    const event = p.privacy.datasets.imdb!.events[0]!.event;
    expect(event).toMatchObject(
      dpSgdEvent({ q: 0.1, sigma: (event as { event: { event: { sigma: number } } }).event.event.sigma, steps: 10 }),
    );
    expect(p.privacy.datasets.imdb!.epsilon).toBe(epsilonOf(event, unitDelta).epsilon);
  }, 120_000);
});
