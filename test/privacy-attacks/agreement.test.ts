// δ belongs to the privacy unit and composition has one home: for every row of the tiny quickstart, the
// plan (`dpkd plan`, `plan --json`, `status`), the ledger (as the actions charge it) and the Report node
// state the same (ε, δ). Plan only: the ledger is written from the planned claims, as the action's
// ledger guard charges them before a DP node starts, and the Report reads the planned lineages.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { appendToLedger, isMechanism, openStore, readLedger, unitTotal } from '@dpkd/engine';
import { ReportNode } from '@dpkd/nodes';
import type { Table } from '@dpkd/report';
import { plan, scratchDir, workspaceRoot } from './helpers';

const fixture = JSON.parse(readFileSync(join(workspaceRoot, 'libs/nodes/test/fixtures/tiny-quickstart.json'), 'utf8')) as {
  nodes: Record<string, { type: string; inputs?: Record<string, string>; params?: Record<string, unknown> }>;
};

describe('plan, ledger and Report agree on (ε, δ)', () => {
  test('every row of the tiny quickstart', async () => {
    const { $schema: _schema, ...graph } = fixture as Record<string, unknown>;
    const p = await plan(graph);
    expect(p.violations).toEqual([]);
    const unit = p.privacy.datasets.imdb!;
    const accountant = p.privacy.accountant;

    // The ledger, charged per DP action with its planned claims.
    const store = await openStore(scratchDir('dpkd-agreement-store-'));
    for (const node of p.nodes) {
      const claims = p.privacy.claims[node.id] ?? [];
      if (!claims.some(isMechanism)) continue;
      await appendToLedger(
        store,
        claims,
        { key: node.key, node: node.id, type: node.type, graph: 'tiny-quickstart', run: 'r', attempt: 1, outcome: 'started' },
        accountant,
      );
    }
    const ledger = await readLedger(store, accountant);
    expect(ledger.units[0]).toMatchObject({ unit: 'imdb', delta: unit.delta, epsilon: unit.epsilon });

    // The Report node on the planned lineages of its metrics inputs.
    const table = fixture.nodes.table!;
    const dir = scratchDir('dpkd-agreement-report-');
    const inputs: Record<string, { kind: string; path: string; meta: unknown; lineage: (typeof p.privacy.lineage)[string] }> = {};
    for (const [port, from] of Object.entries(table.inputs!)) {
      const path = join(dir, `${port}.json`);
      writeFileSync(path, JSON.stringify({ params: 1000, perplexity: 10 }));
      inputs[port] = { kind: 'Metrics', path, meta: undefined, lineage: p.privacy.lineage[from]! };
    }
    const params = { ...table.params, accountant };
    const result = await ReportNode.run({
      id: 'table',
      key: 'k',
      type: 'Report',
      params,
      seed: 1,
      inputs,
      scratchDir: dir,
      signal: new AbortController().signal,
      progress: () => undefined,
      log: () => undefined,
    });
    const report = JSON.parse(readFileSync(result.outputs.table!.file, 'utf8')) as Table;
    const specs = table.params!.rows as Array<{ label: string; metrics: string }>;

    expect(report.rows).toHaveLength(specs.length);
    specs.forEach((spec, i) => {
      const evaluated = table.inputs![spec.metrics]!;
      const lineage = p.privacy.lineage[evaluated]?.imdb ?? {};
      const planned = p.privacy.lineageEpsilon[evaluated]?.imdb;
      const keys = new Set(
        Object.values(lineage)
          .filter((e) => e.event.type !== 'NoOp')
          .map((e) => e.key),
      );
      const charged = unitTotal(
        'imdb',
        ledger.records.filter((r) => keys.has(r.key)),
        accountant,
      );
      const row = report.rows[i]!;
      if (planned === undefined) {
        // No mechanism in the lineage: ε = 0 at δ = 0 everywhere.
        expect([row.epsilon, row.delta, charged.epsilon, charged.delta], spec.label).toEqual([0, 0, 0, 0]);
      } else {
        expect([row.epsilon, row.delta], spec.label).toEqual([planned, unit.delta]);
        expect([charged.epsilon, charged.delta], spec.label).toEqual([planned, unit.delta]);
      }
    });
    // The gaps of each row are its footnotes (every row is evaluated on the private test split).
    expect(report.rowNotes).toHaveLength(specs.length);
    for (const notes of report.rowNotes!)
      expect(notes).toContain('not covered by ε: imdb: evaluation on the private test split (not noised)');
    // And the DP rows are really DP: ε > 0 at the unit's δ, far below 1/N.
    expect(report.rows.filter((r) => typeof r.epsilon === 'number' && r.epsilon > 0)).toHaveLength(6);
    expect(unit.delta).toBeLessThan(1 / unit.corpusSize);
  }, 180_000);
});
