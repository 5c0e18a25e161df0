// The graph as the engine reads it: @dpkd/graph's expanded graph.
import type { ExpandedGraph, ExpandedNode } from '@dpkd/graph';
import type { AccountantName } from '@dpkd/privacy';

export type { AccountantName };
export type EngineNode = ExpandedNode;
export type EngineGraph = ExpandedGraph;

export interface Budget {
  epsilon: number;
  /** The unit's δ; absent: 1/(10·N), N = documents of the corpus. */
  delta?: number;
}

export interface GraphPrivacySettings {
  accountant: AccountantName;
  budgets: Record<string, Budget>;
  /** Refuse any privacy gap under a budget (exit 3). */
  strict: boolean;
  /** Let DP nodes under a budget use noise seeded by the graph (reproducibility studies). */
  allowSeededNoise: boolean;
}

/** The graph's `privacy` section with defaults (pld, no budgets, not strict, no seeded noise under a budget). */
export function privacySettingsOf(graph: EngineGraph): GraphPrivacySettings {
  const section = (graph.source as { privacy?: Partial<GraphPrivacySettings> } | undefined)?.privacy ?? {};
  return {
    accountant: section.accountant ?? 'pld',
    budgets: section.budgets ?? {},
    strict: section.strict === true,
    allowSeededNoise: section.allowSeededNoise === true,
  };
}
