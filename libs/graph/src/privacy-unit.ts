// The privacy unit's δ in the action keys. A budget's δ belongs to its unit (the corpus), and every DP
// node of the unit calibrates σ at it, so it must change the key of everything that depends on it. It
// enters the params of every Dataset over that corpus (whose key is upstream of every DP node reading
// it); the Dataset carries it to its artifact, where DP nodes read it at plan and run time.
import type { Graph, GraphNode } from '@dpkd/schema';
import type { SignatureRegistry } from './signatures';

const producesDataset = (signatures: SignatureRegistry, type: string | undefined): boolean =>
  Object.values(signatures.get(type ?? '')?.outputs ?? {}).some((port) => port.kind === 'Dataset');

/** The corpus of a Dataset-producing node (the unit), by the same convention as the budget check. */
const corpusOf = (node: GraphNode | undefined): string | undefined =>
  typeof node?.params?.corpus === 'string' ? node.params.corpus : undefined;

/**
 * `{ unitDelta }` for a Dataset node whose unit has a budget with a numeric δ (the budget may be keyed by
 * the corpus or by any Dataset node over it), else {}. Two budgets on one unit are an error the plan
 * reports (exit 2); here the smallest δ is taken so the key is still well defined.
 */
export function unitPrivacyParams(graph: Graph, signatures: SignatureRegistry, baseId: string): Record<string, number> {
  const node = graph.nodes[baseId] as GraphNode | undefined;
  if (!producesDataset(signatures, node?.type)) return {};
  const corpus = corpusOf(node);
  const deltas: number[] = [];
  for (const [name, budget] of Object.entries(graph.privacy?.budgets ?? {})) {
    const named = graph.nodes[name] as GraphNode | undefined;
    const unit = named && producesDataset(signatures, named.type) ? corpusOf(named) : name;
    const delta = (budget as { delta?: unknown }).delta;
    if ((name === baseId || (corpus !== undefined && unit === corpus)) && typeof delta === 'number') deltas.push(delta);
  }
  return deltas.length > 0 ? { unitDelta: Math.min(...deltas) } : {};
}
