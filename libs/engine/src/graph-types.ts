// The graph as the engine reads it: @dpkd/graph's expanded graph.
import type { ExpandedGraph, ExpandedNode } from '@dpkd/graph';
import type { AccountantName } from '@dpkd/privacy';

export type { AccountantName };
export type EngineNode = ExpandedNode;
export type EngineGraph = ExpandedGraph;

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
