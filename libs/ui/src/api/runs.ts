// Runs: the run records `dpkd status` reads, as the dashboard's history, and one run's DAG. The edges of a
// recorded run come from the store (each action's manifest, else the spec it was planned with): a run record
// lists its nodes but not their wiring.
import { readFile } from 'node:fs/promises';
import { listRunRecords, specPath, type ActionManifest, type ActionSpec, type NodeStatus, type RunRecord } from '@dpkd/engine';
import type { Store } from '@dpkd/store';

export interface RunSummary {
  id: string;
  graph: { name: string; file?: string };
  status: RunRecord['status'];
  startedAt: string;
  finishedAt?: string;
  seconds?: number;
  /** Nodes per status (ran, cached, failed, ...). */
  counts: Partial<Record<NodeStatus, number>>;
  failures: Array<{ id: string; error?: string; log?: string }>;
}

export interface DagNode {
  id: string;
  type: string;
  key: string;
  /** cached | ran | failed | to-run (pending, skipped, interrupted) | running. */
  status: string;
  deps: string[];
  /** Why it misses the cache (a planned node to run). */
  why?: string[];
  seconds?: number;
  error?: string;
  /** ε of its output's lineage per unit (null: ∞). */
  epsilon?: Record<string, number | null>;
  /** The sweep axes of the points that use this node. */
  axes?: Array<Record<string, unknown>>;
}

export interface RunDag {
  run: RunSummary;
  nodes: DagNode[];
  /** Sweep axes: name -> values (empty without a sweep). */
  sweep: Record<string, unknown[]>;
  privacy: RunRecord['privacy'];
}

export function summarize(r: RunRecord): RunSummary {
  const counts: RunSummary['counts'] = {};
  for (const n of r.nodes) counts[n.status] = (counts[n.status] ?? 0) + 1;
  return {
    id: r.id,
    graph: r.graph,
    status: r.status,
    startedAt: r.startedAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    ...(r.seconds !== undefined ? { seconds: r.seconds } : {}),
    counts,
    failures: r.nodes
      .filter((n) => n.status === 'failed')
      .map((n) => ({ id: n.id, ...(n.error ? { error: n.error } : {}), ...(n.log ? { log: n.log } : {}) })),
  };
}

/** Every run, newest first. */
export async function listRuns(store: Store): Promise<RunSummary[]> {
  return (await listRunRecords(store)).reverse().map(summarize);
}

export async function findRun(store: Store, id: string | undefined): Promise<RunRecord | undefined> {
  const all = await listRunRecords(store);
  return id === undefined || id === 'latest' ? all[all.length - 1] : all.find((r) => r.id === id);
}

/** The status colour classes of the Graph page: four from the issue, and `running` for a live run. */
export function dagStatus(status: NodeStatus | 'to-run'): string {
  if (status === 'cached' || status === 'ran' || status === 'failed' || status === 'running') return status;
  return 'to-run';
}

/** The input keys of an action: from its manifest when it committed, else from the spec the run wrote for it. */
async function inputKeys(store: Store, key: string): Promise<string[]> {
  const manifest = await store.getManifest<ActionManifest>(key).catch(() => undefined);
  if (manifest) return Object.values(manifest.inputs).map((i) => i.key);
  try {
    const spec = JSON.parse(await readFile(specPath(store, key), 'utf8')) as ActionSpec;
    return Object.values(spec.inputs).map((i) => i.key);
  } catch {
    return [];
  }
}

/** Axis name -> distinct values, over the sweep points. */
export function sweepAxes(points: Array<{ axes: Record<string, unknown> }>): Record<string, unknown[]> {
  const axes: Record<string, unknown[]> = {};
  for (const p of points) {
    for (const [name, value] of Object.entries(p.axes)) {
      const values = (axes[name] ??= []);
      if (!values.some((v) => JSON.stringify(v) === JSON.stringify(value))) values.push(value);
    }
  }
  return axes;
}

export async function runDag(store: Store, record: RunRecord): Promise<RunDag> {
  const idOfKey = new Map(record.nodes.map((n) => [n.key, n.id]));
  const nodes: DagNode[] = [];
  for (const n of record.nodes) {
    const deps = (await inputKeys(store, n.key)).map((k) => idOfKey.get(k)).filter((id): id is string => id !== undefined);
    const axes = record.sweepPoints.filter((p) => p.nodes.includes(n.id) && Object.keys(p.axes).length > 0).map((p) => p.axes);
    nodes.push({
      id: n.id,
      type: n.type,
      key: n.key,
      status: dagStatus(n.status),
      deps: [...new Set(deps)],
      seconds: n.seconds,
      ...(n.error ? { error: n.error } : {}),
      ...(n.epsilon ? { epsilon: n.epsilon } : {}),
      ...(axes.length ? { axes } : {}),
    });
  }
  return { run: summarize(record), nodes, sweep: sweepAxes(record.sweepPoints), privacy: record.privacy };
}
