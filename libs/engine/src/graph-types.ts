// The part of @dpkd/graph's ExpandedGraph the engine reads. Declared structurally here so the engine
// (and its tests) accept any value of that shape, and a field the graph lib adds later changes nothing.

export interface EngineNode {
  id: string;
  baseId: string;
  type: string;
  version: number;
  heavy: boolean;
  params: Record<string, unknown>;
  inputs: Record<string, { node: string; port: string }>;
  deps: string[];
  key: string;
  seed: number;
  axes: Record<string, unknown>;
  timeoutSeconds?: number;
  retries?: number;
}

export interface EngineGraph {
  name: string;
  /** The parsed graph JSON (its `privacy` section is read here). */
  source: unknown;
  sweepPoints: Array<{ axes: Record<string, unknown>; nodes: string[] }>;
  /** Topological order. */
  nodes: EngineNode[];
}

export type AccountantName = 'rdp' | 'pld';

export interface Budget {
  epsilon: number;
  delta: number | '1/n';
}

export interface GraphPrivacySettings {
  accountant: AccountantName;
  budgets: Record<string, Budget>;
}

/** The graph's `privacy` section with defaults (pld, no budgets). */
export function privacySettingsOf(graph: EngineGraph): GraphPrivacySettings {
  const section = (graph.source as { privacy?: Partial<GraphPrivacySettings> } | undefined)?.privacy ?? {};
  return { accountant: section.accountant ?? 'pld', budgets: section.budgets ?? {} };
}
