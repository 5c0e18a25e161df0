// End to end: a tiny copy of graphs/quickstart.json (the same nodes and wiring, with tiny Pretrains where the
// quickstart loads its two zoo models, since those take minutes to run) through the real
// `dpkd run`, then the result table from `dpkd report`, its ε recomputed from the store, and a cached rerun.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listRunRecords, openStore } from '@dpkd/engine';
import { type DpEvent, epsilonOf } from '@dpkd/privacy';
import { beforeAll, describe, expect, test } from 'vitest';
import { runCli, scratchDir, workspaceRoot } from './run-cli';

const fixture = 'libs/nodes/test/fixtures/tiny-quickstart.json';
const graph = JSON.parse(readFileSync(join(workspaceRoot, fixture), 'utf8')) as {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- graph params as written in the test
  nodes: Record<string, { type: string; inputs?: Record<string, string>; params?: any }>;
};
const store = scratchDir('dpkd-quickstart-');

interface Row {
  method: string;
  params: number;
  compressionRatio: number;
  epsilon: number | string;
  delta: number;
  perplexity: number;
}
interface LineageEvent {
  key: string;
  node: string;
  event: DpEvent;
  n: number;
  delta: number;
  gaps?: string[];
}

let firstRun: { run: string; nodes: Array<{ id: string; status: string }> };
let rows: Row[];
let keys: Map<string, string>;

const json = (args: string[]) => {
  const r = runCli(args, { timeoutMs: 400_000 }); // the whole tiny pipeline: ~2 min idle, far more on a loaded machine
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};
const manifest = (id: string) => JSON.parse(readFileSync(join(store, 'actions', `${keys.get(id)}.json`), 'utf8'));

beforeAll(async () => {
  firstRun = json(['run', fixture, '--json', '--store', store]);
  rows = json(['report', fixture, '--format', 'json', '--store', store]).rows;
  // Each node's key, from the run's record in the store (a `dpkd plan` would load the corpora again for the same
  // keys; that `report` above found the table, planned afresh, shows that plan and run agree on them).
  const record = (await listRunRecords(await openStore(store))).find((r) => r.id === firstRun.run);
  keys = new Map(record!.nodes.map((n) => [n.id, n.key]));
}, 900_000);

describe('tiny quickstart, end to end', () => {
  test('every node ran once', () => {
    expect(firstRun.nodes).toHaveLength(Object.keys(graph.nodes).length);
    expect(firstRun.nodes.every((n) => n.status === 'ran')).toBe(true);
    // The training nodes saved their state in <store>/checkpoints/<key>/ from their `dpkd exec` workers, and each
    // worker removed it after its commit (zoo.test.ts checks the same of a run in-process).
    expect(readdirSync(join(store, 'checkpoints'))).toEqual([]);
  });

  test('the table: one row per Report row, the six columns, sane values', () => {
    const spec = graph.nodes.table!.params.rows as Array<{ label: string; metrics: string }>;
    expect(rows.map((r) => r.method)).toEqual(spec.map((r) => r.label));
    const teacherParams = manifest('pplT0').metrics.params as number;
    for (const row of rows) {
      expect(Object.keys(row)).toEqual(['method', 'params', 'compressionRatio', 'epsilon', 'delta', 'perplexity']);
      expect(Number.isInteger(row.params) && row.params > 0).toBe(true);
      expect(row.compressionRatio).toBeCloseTo(row.params / teacherParams, 12);
      expect(row.perplexity).toBeGreaterThan(1);
      expect(Number.isFinite(row.perplexity)).toBe(true);
    }
    const student = rows.find((r) => r.method.startsWith('DistilDP'))!;
    expect(student.compressionRatio).toBeLessThan(1);
  });

  test("every ε is the accountant on the row's lineage (from the store), never a param", () => {
    const ledger = json(['ledger', '--json', '--store', store]).records as Array<{ key: string; event: DpEvent }>;
    const spec = graph.nodes.table!.params.rows as Array<{ label: string; metrics: string }>;
    const inputs = graph.nodes.table!.inputs!;
    const eventCounts: Record<string, number> = {};
    for (const [i, row] of rows.entries()) {
      const evaluateNode = inputs[spec[i]!.metrics]!;
      const lineage = manifest(evaluateNode).lineage as Record<string, Record<string, LineageEvent>>;
      // Mechanisms only: NoOp entries record gaps (here: evaluation on the private test split), no cost.
      const all = Object.values(lineage.imdb ?? {});
      expect(all.some((e) => e.gaps?.some((g) => /evaluation on the private test split/.test(g)))).toBe(true);
      const events = all.filter((e) => e.event.type !== 'NoOp');
      eventCounts[row.method] = events.length;
      for (const e of events) expect(ledger.find((l) => l.key === e.key)?.event).toEqual(e.event); // the executed mechanism
      if (events.length === 0) {
        expect(row.epsilon).toBe(0);
        expect(row.delta).toBe(0);
        continue;
      }
      // δ is the unit's: 1/(10·N), N = the 49,580 IMDb documents, whatever the split sizes.
      const delta = 1 / (10 * 49_580);
      for (const e of events) expect(e.delta).toBe(delta);
      const composed: DpEvent = events.length === 1 ? events[0]!.event : { type: 'Composed', events: events.map((e) => e.event) };
      expect(row.delta).toBe(delta);
      expect(row.epsilon).toBe(epsilonOf(composed, delta, { accountant: 'pld' }).epsilon);
    }
    // Who spends what: the zero-shot models nothing; DP-SGD one mechanism; DPKD two (teacher + student);
    // the DistilDP and synthetic-only students the DP teacher plus the noisy code histogram.
    expect(eventCounts['Pretrained student (zero-shot)']).toBe(0);
    expect(eventCounts['DP-SGD student']).toBe(1);
    expect(eventCounts['DPKD (teacher ε=1 + student ε=1)']).toBe(2);
    expect(eventCounts['DistilDP (hard + soft labels)']).toBe(2);
    expect(eventCounts['DP synthetic data, hard labels only']).toBe(2);
    // σ was calibrated to the target ε: the accountant's answer is at most the target, and close to it.
    const dpsgd = rows.find((r) => r.method === 'DP-SGD student')!.epsilon as number;
    expect(dpsgd).toBeLessThanOrEqual(2);
    expect(dpsgd).toBeGreaterThan(1.8);
  });

  test('a second run is all cache hits, and the report reads the cache', () => {
    const second = json(['run', fixture, '--json', '--store', store]);
    expect(second.nodes.map((n: { status: string }) => n.status)).toEqual(second.nodes.map(() => 'cached'));
    expect(json(['report', fixture, '--format', 'json', '--store', store]).rows).toEqual(rows);
  });
});
