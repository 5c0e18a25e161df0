// Audit graphs (docs/audit.md) under the privacy plan: DP training on a canary Dataset is charged to the
// corpus like any other, the Audit adds no mechanism and cannot lower an ε, its output is a visible gap,
// and the canaries cannot be wired anywhere but into an Audit. Plan only (no training), as attacks.test.ts.
import { describe, expect, test } from 'vitest';
import { appendToLedger, isMechanism, openStore, readLedger } from '@dpkd/engine';
import { validateGraph } from '@dpkd/graph';
import { CANARY_GAP, includedCount } from '@dpkd/nodes';
import { dpTeacher, imdb, plan, pretrain, publicMix, scratchDir } from './helpers';

const base = { public: publicMix, t0: pretrain };
const canaryImdb = imdb({ canaries: { count: 100 } });
const audit = (model: string) => ({ type: 'Audit', inputs: { model, canaries: 'imdbC.canaries' } });

describe('audits under the privacy plan', () => {
  test('DP-SGD on the canary Dataset is charged to imdb with q = batchSize / (train + included canaries); the ledger agrees', async () => {
    const p = await plan({
      nodes: { ...base, imdb: imdb(), imdbC: canaryImdb, plain: dpTeacher(), canary: dpTeacher({}, 'imdbC'), a: audit('canary') },
    });
    expect(p.violations).toEqual([]);
    const unit = p.privacy.datasets.imdb!;
    const k = includedCount({ count: 100, seed: 0 });
    // Both teachers' mechanisms are on the one unit, composed.
    expect(unit.events.map((e) => e.node).sort()).toEqual(['canary', 'plain']);
    const canaryEvent = unit.events.find((e) => e.node === 'canary')!.event as { event: { q: number } };
    expect(canaryEvent.event.q).toBeCloseTo(20 / (200 + k), 12);
    expect(unit.epsilon).toBeGreaterThan(p.privacy.lineageEpsilon.canary!.imdb!);
    // The ledger, charged with the planned claims as the action guard does before training.
    const store = await openStore(scratchDir('dpkd-audit-ledger-'));
    for (const node of p.nodes) {
      const claims = p.privacy.claims[node.id] ?? [];
      if (!claims.some(isMechanism)) continue;
      await appendToLedger(
        store,
        claims,
        { key: node.key, node: node.id, type: node.type, graph: 'audit', run: 'r', attempt: 1, outcome: 'started' },
        p.privacy.accountant,
      );
    }
    const ledger = await readLedger(store, p.privacy.accountant);
    expect(ledger.units[0]).toMatchObject({ unit: 'imdb', delta: unit.delta, epsilon: unit.epsilon });
  }, 120_000);

  test("an Audit adds no mechanism: its lineage's ε is the model's, and its output is a listed gap", async () => {
    const p = await plan({
      privacy: { budgets: { imdb: { epsilon: 8 } } },
      nodes: { ...base, imdbC: canaryImdb, canary: dpTeacher({}, 'imdbC'), a: audit('canary') },
    });
    expect(p.violations).toEqual([]);
    expect(p.privacy.lineageEpsilon.a!.imdb).toBe(p.privacy.lineageEpsilon.canary!.imdb);
    expect(p.privacy.datasets.imdb!.events.map((e) => e.node)).toEqual(['canary']);
    expect(p.privacy.gaps).toContainEqual({ node: 'a', unit: 'imdb', split: 'train', note: CANARY_GAP });
    // Under privacy.strict the gap is refused like any other.
    const strict = await plan({
      privacy: { strict: true, budgets: { imdb: { epsilon: 8 } } },
      nodes: { ...base, imdbC: canaryImdb, canary: dpTeacher({}, 'imdbC'), a: audit('canary') },
    });
    expect(strict.violations[0]!.refusals![0]!.nodes).toEqual(['a']);
  }, 120_000);

  test('canaries go only into an Audit, and an Audit only takes a Dataset that has canaries', async () => {
    const bad = validateGraph(
      JSON.stringify({ name: 'x', nodes: { ...base, imdbC: canaryImdb, t: dpTeacher({}, 'imdbC.canaries') } }),
      'x.json',
    );
    expect(bad.diagnostics.map((d) => d.message).join('\n')).toMatch(/Canaries/);
    await expect(
      plan({ nodes: { ...base, imdb: imdb(), dp: dpTeacher(), a: { type: 'Audit', inputs: { model: 'dp', canaries: 'imdb.canaries' } } } }),
    ).rejects.toThrow(/without canaries: set params.canaries/);
  }, 120_000);
});
