// Result tables of a graph or a run, read from the store (never recomputed): each Report node's
// Table artifact.
import { ObjectUnavailable, dropProducer, listRunRecords, type ActionManifest } from '@dpkd/engine';
import type { ExpandedGraph } from '@dpkd/graph';
import type { Table } from '@dpkd/report';
import { CorruptObjectError, MissingObjectError, type Store } from '@dpkd/store';
import { CliError, ExitCode } from './cli-error';

export interface NodeTable {
  node: string;
  table: Table;
}

/**
 * A Report's table, verified against its digest as it is read (one pass). Missing or corrupt: its manifest is
 * dropped (the next run recomputes the Report) and the command fails naming the object and the node.
 */
async function readTable(store: Store, node: { id: string; key: string }, digest: string): Promise<Table> {
  try {
    return JSON.parse((await store.getBytes(digest)).toString('utf8')) as Table;
  } catch (error) {
    if (!(error instanceof MissingObjectError) && !(error instanceof CorruptObjectError)) throw error;
    const producer = await dropProducer(store, node.key, digest);
    const problem = new ObjectUnavailable({
      reader: `the result table of ${node.id}`,
      digest,
      path: error.path,
      problem: error instanceof MissingObjectError ? 'missing' : 'corrupt',
      ...(error instanceof CorruptObjectError ? { actualDigest: error.actualDigest } : {}),
      ...(producer ? { producer } : {}),
    });
    throw new CliError(problem.message, ExitCode.failed);
  }
}

/** Tables of the graph's Report nodes that have run; `missing` lists those that have not. */
export async function graphTables(store: Store, graph: ExpandedGraph): Promise<{ tables: NodeTable[]; missing: string[] }> {
  const tables: NodeTable[] = [];
  const missing: string[] = [];
  for (const node of graph.nodes.filter((n) => n.type === 'Report')) {
    const digest = (await store.getManifest<ActionManifest>(node.key))?.outputs.table?.digest;
    if (digest) tables.push({ node: node.id, table: await readTable(store, node, digest) });
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
    if (digest) tables.push({ node: node.id, table: await readTable(store, node, digest) });
  }
  return tables;
}
