// The privacy unit's δ in the action keys. A budget's δ belongs to its unit (the corpus), and every DP
// node of the unit calibrates σ at it, so it must change the key of everything that depends on it. It
// enters the params of every Dataset over that corpus (whose key is upstream of every DP node reading
// it); the Dataset carries it to its artifact, where DP nodes read it at plan and run time.
// Also the unit's declarations that `validate` can check from the file: one private/public, one budget,
// a budget δ below 1/N.
import { unitDeltaProblem } from '@dpkd/privacy';
import type { Graph, GraphNode } from '@dpkd/schema';
import { type Diagnostic, pointerOf, type SourceMap } from './diagnostics';
import type { ExpandedGraph } from './expand';
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

/** The number of documents of a corpus (the privacy unit's N), when known: the CLI passes @dpkd/data's pins. */
export type CorpusSize = (corpus: string) => number | undefined;

/**
 * The two declaration errors of a privacy unit, worded once for `validate` (message and hint of a
 * diagnostic) and the engine's plan-time check (message + hint), which sees what the Dataset nodes
 * themselves report.
 */
export const unitDeclarationProblems = {
  mixed: (unit: string, privateNode: string, publicNode: string) => ({
    message: `Dataset nodes ${privateNode} (private) and ${publicNode} (public) disagree about ${unit}`,
    hint: 'a privacy unit is private or public for the whole graph (a public view of private data would go uncharged); set the same "private" on both',
  }),
  twoBudgets: (unit: string, first: { name: string; epsilon: number }, second: { name: string; epsilon: number }) => ({
    message: `privacy unit ${unit} has two budgets, "${first.name}" (ε ${first.epsilon}) and "${second.name}" (ε ${second.epsilon})`,
    hint: 'a unit has one account: keep one budget',
  }),
};

/**
 * The privacy declarations `validate` can check from the graph file alone (the engine checks them again at
 * plan time on what the Dataset nodes report): every Dataset over a corpus agrees on private/public; a unit
 * has at most one budget; a budget's δ is below 1/N, N the documents of the whole corpus (`corpusSize`, when
 * given: without it this check waits for `plan`). Dataset nodes whose corpus is not a plain string are left
 * to the plan.
 */
export function privacyDeclarationDiagnostics(
  graph: ExpandedGraph,
  signatures: SignatureRegistry,
  map: SourceMap,
  corpusSize?: CorpusSize,
): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  // Per unit, its Dataset nodes by base id (one entry per node of the file, whatever the sweep).
  const units = new Map<string, Map<string, boolean>>();
  const corporaOf = new Map<string, Set<string>>(); // base id -> corpora of its instances
  for (const node of graph.nodes) {
    const corpus = node.params.corpus;
    if (!producesDataset(signatures, node.type) || typeof corpus !== 'string') continue;
    const declared = units.get(corpus) ?? units.set(corpus, new Map()).get(corpus)!;
    if (!declared.has(node.baseId)) declared.set(node.baseId, node.params.private !== false); // schema defaults are applied
    (corporaOf.get(node.baseId) ?? corporaOf.set(node.baseId, new Set()).get(node.baseId)!).add(corpus);
  }

  for (const [unit, declared] of units) {
    const privateNode = [...declared].find(([, p]) => p)?.[0];
    const publicNode = [...declared].find(([, p]) => !p)?.[0];
    if (privateNode === undefined || publicNode === undefined) continue;
    const { message, hint } = unitDeclarationProblems.mixed(unit, privateNode, publicNode);
    diagnostics.push(map.diagnostic(pointerOf(['nodes', publicNode, 'params', 'private']), message, { hint }));
  }

  const budgetOf = new Map<string, { name: string; epsilon: number }>();
  for (const [name, budget] of Object.entries(graph.source.privacy?.budgets ?? {})) {
    const { epsilon, delta } = budget as { epsilon: number; delta?: number };
    const covered = corporaOf.get(name) ?? new Set([name]); // a budget names a Dataset node (its corpus) or a corpus
    for (const unit of covered) {
      const first = budgetOf.get(unit);
      if (first) {
        const { message, hint } = unitDeclarationProblems.twoBudgets(unit, first, { name, epsilon });
        diagnostics.push(map.diagnostic(pointerOf(['privacy', 'budgets', name]), message, { key: true, hint }));
        continue;
      }
      budgetOf.set(unit, { name, epsilon });
      const size = corpusSize?.(unit);
      const isPrivate = [...(units.get(unit)?.values() ?? [])].some(Boolean);
      const problem = typeof delta === 'number' && size !== undefined && isPrivate ? unitDeltaProblem(delta, size) : undefined;
      if (problem)
        diagnostics.push(map.diagnostic(pointerOf(['privacy', 'budgets', name, 'delta']), `budget "${name}" for ${unit}: ${problem}`));
    }
  }
  return diagnostics;
}
