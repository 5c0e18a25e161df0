import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Cause, Exit } from 'effect';
import { epsilonOf, dpSgdEvent } from '@dpkd/privacy';
import { describe, expect, test } from 'vitest';
import { BudgetExceeded, planGraph, readLedger, verifyCache, verifyLedger } from '../src';
import { graphOf, openTestStore, registry, run, tempDir } from './helpers';

const dataset = { type: 'FakeDataset', params: { unit: 'imdb', n: 1000 } };
const dp = (extra: Record<string, unknown> = {}) => ({
  type: 'EmitDpEvent',
  inputs: { data: 'imdb' },
  params: { sigma: 1, q: 0.01, steps: 100, ...extra },
});

describe('privacy', () => {
  test('budgets are enforced before any node runs', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const graph = graphOf({
      privacy: { accountant: 'rdp', budgets: { imdb: { epsilon: 0.5 } } },
      nodes: { imdb: dataset, teacher: dp({ sigma: 0.6, count: counter }) },
    });
    const { exit } = await run(store, graph);
    expect(Exit.isFailure(exit)).toBe(true);
    const error = Cause.squash((exit as Exit.Failure<unknown, unknown>).cause);
    expect(error).toBeInstanceOf(BudgetExceeded);
    expect((error as BudgetExceeded).violations[0]!.unit).toBe('imdb');
    expect((error as BudgetExceeded).violations[0]!.epsilon).toBeGreaterThan(0.5);
    expect(existsSync(counter)).toBe(false);
    expect(await store.listManifests()).toEqual([]);
  });

  test('a node reading a private dataset without a mechanism is non-private and refused under a budget', async () => {
    const store = await openTestStore();
    const graph = graphOf({
      privacy: { budgets: { imdb: { epsilon: 100, delta: 1e-5 } } },
      nodes: { imdb: dataset, peek: { type: 'Peek', inputs: { data: 'imdb' } } },
    });
    const plan = await planGraph(graph, { store, registry });
    expect(plan.privacy.datasets.imdb!.epsilon).toBe(Infinity);
    expect(plan.violations[0]!.nonPrivateNodes).toEqual(['peek']);
    const { exit } = await run(store, graph);
    expect(Exit.isFailure(exit)).toBe(true);
  });

  test('a teacher reached by two paths is counted once; held-out use is a gap', async () => {
    const store = await openTestStore();
    const graph = graphOf({
      privacy: { accountant: 'rdp' },
      nodes: {
        imdb: dataset,
        teacher: dp(),
        a: { type: 'Post', inputs: { m: 'teacher' }, params: { path: 'a' } },
        b: { type: 'Post', inputs: { m: 'teacher' }, params: { path: 'b' } },
        merged: { type: 'Post', inputs: { x: 'a', y: 'b' } },
        evaluate: { type: 'EvalHeldOut', inputs: { model: 'merged', data: 'imdb' } },
      },
    });
    const plan = await planGraph(graph, { store, registry });
    const teacherKey = plan.nodes.find((n) => n.id === 'teacher')!.key;
    expect(Object.keys(plan.privacy.lineage.merged!.imdb!)).toEqual([teacherKey]);
    // δ = the unit's default 1/(10·N), N = 1000 documents (FakeDataset's corpusSize defaults to n).
    const alone = epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1, steps: 100 }), 1e-4, { accountant: 'rdp' }).epsilon;
    expect(plan.privacy.lineageEpsilon.merged!.imdb).toBeCloseTo(alone, 10);
    expect(plan.privacy.datasets.imdb!.epsilon).toBeCloseTo(alone, 10);
    expect(plan.privacy.datasets.imdb!.events).toHaveLength(1);
    expect(plan.privacy.gaps).toEqual([expect.objectContaining({ node: 'evaluate', unit: 'imdb', split: 'test' })]);
  });

  test('two DP events on one dataset compose (DPKD: DP teacher, then DP student)', async () => {
    const store = await openTestStore();
    const graph = graphOf({
      privacy: { accountant: 'rdp' },
      nodes: { imdb: dataset, teacher: dp(), student: { ...dp({ sigma: 1.2 }), inputs: { data: 'imdb', teacher: 'teacher' } } },
    });
    const plan = await planGraph(graph, { store, registry });
    const teacher = epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1, steps: 100 }), 1e-4, { accountant: 'rdp' }).epsilon;
    const both = epsilonOf(
      { type: 'Composed', events: [dpSgdEvent({ q: 0.01, sigma: 1, steps: 100 }), dpSgdEvent({ q: 0.01, sigma: 1.2, steps: 100 })] },
      1e-4,
      { accountant: 'rdp' },
    ).epsilon;
    expect(plan.privacy.datasets.imdb!.events).toHaveLength(2);
    expect(plan.privacy.lineageEpsilon.student!.imdb).toBeCloseTo(both, 10);
    expect(plan.privacy.lineageEpsilon.teacher!.imdb).toBeCloseTo(teacher, 10);
    expect(both).toBeGreaterThan(teacher);
  });

  test('executed mechanisms go to the hash-chained ledger, cache hits do not; tampering is detected', async () => {
    const store = await openTestStore();
    const graph = graphOf({ privacy: { accountant: 'rdp' }, nodes: { imdb: dataset, teacher: dp() } });
    await run(store, graph);
    await run(store, graph); // cache hit: no new entry
    const ledger = await readLedger(store, 'rdp');
    expect(ledger.entries).toBe(1);
    expect(ledger.units[0]!.unit).toBe('imdb');
    expect((await verifyLedger(store)).ok).toBe(true);
    // a new seed is a new action: charged again
    await run(store, graphOf({ seed: 7, privacy: { accountant: 'rdp' }, nodes: { imdb: dataset, teacher: dp() } }));
    const after = await readLedger(store, 'rdp');
    expect(after.entries).toBe(2);
    expect(after.units[0]!.epsilon).toBeGreaterThan(ledger.units[0]!.epsilon);
    const path = join(store.logsDir, 'privacy-ledger.jsonl');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"sigma":1', '"sigma":9'));
    expect((await verifyLedger(store)).ok).toBe(false);
  });

  test('cache verify names a corrupted object and the action that produced it', async () => {
    const store = await openTestStore();
    await run(store, graphOf({ nodes: { imdb: dataset } }));
    expect((await verifyCache(store)).corrupt).toEqual([]);
    const manifest = (await store.getManifest<{ outputs: { dataset: { digest: string } } }>((await store.listManifests())[0]!))!;
    const path = store.objectPath(manifest.outputs.dataset.digest);
    chmodSync(path, 0o644);
    writeFileSync(path, 'tampered');
    const report = await verifyCache(store);
    expect(report.corrupt.map((c) => c.digest)).toEqual([manifest.outputs.dataset.digest]);
    expect(report.corrupt[0]!.usedBy[0]).toContain('output dataset of imdb');
  });
});
