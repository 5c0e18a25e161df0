// The Results page: every Report table in the store's runs, each row linked to what is behind it: the node whose
// metrics it shows, the DP actions in that node's lineage and the ledger entries that charged them.
import { listRunRecords, LEDGER_LOG, type ActionManifest, type LedgerEntry } from '@dpkd/engine';
import type { Table } from '@dpkd/report';
import type { LogRecord, Store } from '@dpkd/store';

export interface RowSources {
  /** The node whose metrics the row shows (an Evaluate, usually). */
  metrics?: { id: string; key: string };
  /** The DP actions in its lineage (mechanisms and gap-only uses), per unit. */
  actions: Array<{ unit: string; node: string; key: string; mechanism: boolean }>;
  /** Ledger entries (seq) that charged those actions. */
  ledger: number[];
}

export interface ResultTable {
  /** The Report node and its action key. */
  node: string;
  key: string;
  run: string;
  graph: string;
  table?: Table;
  /** Why the table cannot be shown (its object is missing or corrupt: `dpkd cache verify` says more). */
  problem?: string;
  rows: RowSources[];
}

interface RowSpec {
  label: string;
  metrics: string;
}

/** The Report's rows in table order: its `rows` param, else one per input port in sorted order (the node's default). */
function rowSpecs(manifest: ActionManifest): RowSpec[] {
  const rows = manifest.params.rows as RowSpec[] | undefined;
  return (
    rows ??
    Object.keys(manifest.inputs)
      .sort()
      .map((port) => ({ label: port, metrics: port }))
  );
}

async function rowSources(store: Store, report: ActionManifest, spec: RowSpec, ledger: LogRecord<LedgerEntry>[]): Promise<RowSources> {
  const input = report.inputs[spec.metrics];
  if (!input) return { actions: [], ledger: [] };
  const producer = await store.getManifest<ActionManifest>(input.key).catch(() => undefined);
  const actions = Object.entries(producer?.lineage ?? {}).flatMap(([unit, byKey]) =>
    Object.values(byKey).map((e) => ({ unit, node: e.node, key: e.key, mechanism: e.event.type !== 'NoOp' })),
  );
  const keys = new Set(actions.map((a) => a.key));
  return {
    metrics: { id: producer?.provenance.node ?? spec.metrics, key: input.key },
    actions,
    ledger: ledger.filter((e) => keys.has(e.key)).map((e) => e.seq),
  };
}

/** Every Report table of every run, newest run first, each Report action once. */
export async function resultTables(store: Store): Promise<ResultTable[]> {
  const { entries: ledger } = await store
    .appendLog<LedgerEntry>(LEDGER_LOG)
    .readAll()
    .catch(() => ({ entries: [] }));
  const seen = new Set<string>();
  const out: ResultTable[] = [];
  for (const record of (await listRunRecords(store)).reverse()) {
    for (const node of record.nodes.filter((n) => n.type === 'Report' && n.outputs?.table)) {
      if (seen.has(node.key)) continue;
      seen.add(node.key);
      const result: ResultTable = { node: node.id, key: node.key, run: record.id, graph: record.graph.name, rows: [] };
      const table = await readTable(store, node.outputs!.table!.digest);
      if (typeof table === 'string') result.problem = table;
      else result.table = table;
      const manifest = await store.getManifest<ActionManifest>(node.key).catch(() => undefined);
      if (manifest) result.rows = await Promise.all(rowSpecs(manifest).map((spec) => rowSources(store, manifest, spec, ledger)));
      out.push(result);
    }
  }
  return out;
}

/** A table object, verified against its digest as it is read; a message instead when it is missing or corrupt. */
async function readTable(store: Store, digest: string): Promise<Table | string> {
  try {
    return JSON.parse((await store.getBytes(digest)).toString('utf8')) as Table;
  } catch (error) {
    const why = (error as Error).message;
    return `the table object ${digest.slice(0, 12)} cannot be read (${why}); \`dpkd cache verify\` finds and repairs it`;
  }
}

/** One Report's table by its action key (for its SVG chart). */
export async function tableByKey(store: Store, key: string): Promise<Table | undefined> {
  const manifest = await store.getManifest<ActionManifest>(key).catch(() => undefined);
  const digest = manifest?.type === 'Report' ? manifest.outputs.table?.digest : undefined;
  if (!digest) return undefined;
  const table = await readTable(store, digest);
  return typeof table === 'string' ? undefined : table;
}
