// Result tables of a graph or a run, read from the store (never recomputed): each Report node's
// Table artifact.
import { readFile } from 'node:fs/promises';
import { listRunRecords, type ActionManifest } from '@dpkd/engine';
import type { ExpandedGraph } from '@dpkd/graph';
import type { Table } from '@dpkd/report';
import type { Store } from '@dpkd/store';

export interface NodeTable {
  node: string;
  table: Table;
}

const readTable = async (store: Store, digest: string): Promise<Table> => JSON.parse(await readFile(store.objectPath(digest), 'utf8')) as Table;

/** Tables of the graph's Report nodes that have run; `missing` lists those that have not. */
export async function graphTables(store: Store, graph: ExpandedGraph): Promise<{ tables: NodeTable[]; missing: string[] }> {
  const tables: NodeTable[] = [];
  const missing: string[] = [];
  for (const node of graph.nodes.filter((n) => n.type === 'Report')) {
    const digest = (await store.getManifest<ActionManifest>(node.key))?.outputs.table?.digest;
    if (digest) tables.push({ node: node.id, table: await readTable(store, digest) });
    else missing.push(node.id);
  }
  return { tables, missing };
}

/** Tables of the Report nodes of one recorded run (by run id). */
export async function runTables(store: Store, runId: string): Promise<NodeTable[] | undefined> {
  const record = (await listRunRecords(store)).find((r) => r.id === runId);
  if (!record) return undefined;
  const tables: NodeTable[] = [];
  for (const node of record.nodes.filter((n) => n.type === 'Report')) {
    const digest = node.outputs?.table?.digest;
    if (digest) tables.push({ node: node.id, table: await readTable(store, digest) });
  }
  return tables;
}
