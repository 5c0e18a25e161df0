// Graph files on the Graph and Privacy pages: the files named on the command line and those of recorded runs
// that still exist, each planned exactly as `dpkd plan` plans it (the CLI hands in its planner: the node
// registry and the key environment live above this lib).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { planJson, privacyJson, type GraphPlan, type RunRecord } from '@dpkd/engine';
import type { ExpandedGraph } from '@dpkd/graph';
import { sweepAxes, type DagNode } from './runs';

/** Loads, validates, keys and plans one graph file; throws an Error whose message says what is wrong with it. */
export type GraphPlanner = (file: string) => Promise<{ graph: ExpandedGraph; plan: GraphPlan }>;

export interface GraphFile {
  id: number;
  file: string;
}

export interface GraphDag {
  file: string;
  name: string;
  nodes: DagNode[];
  sweep: Record<string, unknown[]>;
  privacy: ReturnType<typeof privacyJson>;
  violations: GraphPlan['violations'];
}

/** The graph files the dashboard knows: `explicit` first, then those of the runs (newest first), each once. */
export function knownGraphFiles(explicit: string[], runs: RunRecord[]): GraphFile[] {
  const files = [...explicit.map((f) => resolve(f)), ...[...runs].reverse().flatMap((r) => (r.graph.file ? [r.graph.file] : []))];
  return [...new Set(files)].filter((f) => existsSync(f)).map((file, id) => ({ id, file }));
}

/** The plan of a graph file as a DAG: each node cached or to run (and why), its deps, sweep axes and planned ε. */
export function graphDag(file: string, graph: ExpandedGraph, plan: GraphPlan): GraphDag {
  const lineageEpsilon = planJson(plan).lineageEpsilon;
  const axesOf = new Map(graph.nodes.map((n) => [n.id, n.axes]));
  return {
    file,
    name: plan.graph,
    nodes: plan.nodes.map((n) => {
      const axes = axesOf.get(n.id) ?? {};
      return {
        id: n.id,
        type: n.type,
        key: n.key,
        status: n.status,
        deps: n.deps,
        ...(n.why ? { why: n.why } : {}),
        ...(lineageEpsilon[n.id] ? { epsilon: lineageEpsilon[n.id] } : {}),
        ...(Object.keys(axes).length ? { axes: [axes] } : {}),
      };
    }),
    sweep: sweepAxes(graph.sweepPoints),
    privacy: privacyJson(plan.privacy),
    violations: plan.violations,
  };
}

/**
 * Plans are memoised per graph file and `version` (the file's mtime and the store's state: a plan changes only
 * when either does), since planning reads every Dataset's corpus (seconds) and the Graph page, the Privacy
 * page and every live update ask for it. A rejected plan is not kept.
 */
export function memoPlanner(planner: GraphPlanner, version: (file: string) => Promise<string>): GraphPlanner {
  const memo = new Map<string, { version: string; result: ReturnType<GraphPlanner> }>();
  return async (file) => {
    const now = await version(file);
    const hit = memo.get(file);
    if (hit && hit.version === now) return hit.result;
    const result = planner(file);
    memo.set(file, { version: now, result });
    result.catch(() => memo.delete(file));
    return result;
  };
}
