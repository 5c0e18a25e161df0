// `plan`: cache status and miss explanations per node, and the privacy cost per dataset, before anything runs.
import { existsSync } from 'node:fs';
import type { DatasetDescription } from '@dpkd/graph';
import { describeEvent } from '@dpkd/privacy';
import type { Store } from '@dpkd/store';
import { formatEps } from './errors';
import { estimateGraph, renderEstimate, type GraphEstimate, type ModelShape } from './estimate';
import { privacySettingsOf, type AccountantName, type EngineGraph } from './graph-types';
import { explainMiss, keyMaterialOf, type KeyMaterial } from './key-material';
import { readKeyIndex } from './key-index';
import { budgetViolations, planPrivacy, type PrivacyPlan } from './privacy-plan';
import type { NodeRegistryApi } from './registry';

export interface PlannedNode {
  id: string;
  baseId: string;
  type: string;
  key: string;
  deps: string[];
  heavy: boolean;
  status: 'cached' | 'to-run';
  /** Why it misses the cache (to-run only). */
  why?: string[];
  material: KeyMaterial;
}

export interface GraphPlan {
  graph: string;
  sweepPoints: number;
  nodes: PlannedNode[];
  privacy: PrivacyPlan;
  violations: ReturnType<typeof budgetViolations>;
  /** Privacy declarations that cannot be planned (exit 2): mixed private/public, two budgets, δ ≥ 1/N. */
  invalid: PrivacyPlan['invalid'];
  /** Node types with no registered implementation (the run refuses them). */
  unknownTypes: Array<{ node: string; type: string }>;
  /** Tokens and time of each heavy node to run, before anything runs. */
  estimate: GraphEstimate;
}

export interface PlanOptions {
  store: Store;
  registry: NodeRegistryApi;
  /** Overrides the graph's `privacy.accountant`. */
  accountant?: AccountantName;
  datasetCache?: Map<string, DatasetDescription>;
  /** The shape of a `model` param (the CLI knows libs/lm's presets): without it the estimate has tokens, no times. */
  modelShape?: (model: unknown) => ModelShape | undefined;
  /** The shape of a PublicModel's checkpoint by name (the CLI reads its card). */
  publicModelShape?: (name: string) => ModelShape | undefined;
}

export async function planGraph(graph: EngineGraph, options: PlanOptions): Promise<GraphPlan> {
  const settings = privacySettingsOf(graph);
  const nodes: PlannedNode[] = [];
  for (const node of graph.nodes) {
    const material = keyMaterialOf(node);
    // existsSync: a cached rerun of a big graph plans by stat calls alone (no manifest reads).
    const cached = existsSync(options.store.manifestPath(node.key));
    const planned: PlannedNode = {
      id: node.id,
      baseId: node.baseId,
      type: node.type,
      key: node.key,
      deps: node.deps,
      heavy: node.heavy,
      status: cached ? 'cached' : 'to-run',
      material,
    };
    if (!cached)
      planned.why = explainMiss(
        material,
        (await readKeyIndex(options.store, node.type, node.baseId)).map((e) => e.material),
      );
    nodes.push(planned);
  }
  const privacy = await planPrivacy(graph, {
    accountant: options.accountant ?? settings.accountant,
    budgets: settings.budgets,
    strict: settings.strict,
    allowSeededNoise: settings.allowSeededNoise,
    implementationOf: (t) => options.registry.get(t),
    outputKindOf: (t, p) => options.registry.outputKind(t, p),
    ...(options.datasetCache ? { datasetCache: options.datasetCache } : {}),
  });
  const unknownTypes = graph.nodes.filter((n) => !options.registry.get(n.type)).map((n) => ({ node: n.id, type: n.type }));
  const estimate = await estimateGraph(graph, new Set(nodes.filter((n) => n.status === 'to-run').map((n) => n.id)), {
    modelShape: options.modelShape ?? (() => undefined),
    ...(options.publicModelShape ? { publicModelShape: options.publicModelShape } : {}),
    // Dataset nodes memoise their split per process, so this is the description the privacy plan just built.
    dataset: async (node) =>
      options.registry
        .get(node.type)
        ?.describeDataset?.(node.params)
        .catch(() => undefined),
  });
  return {
    graph: graph.name,
    sweepPoints: graph.sweepPoints.length,
    nodes,
    privacy,
    violations: budgetViolations(privacy),
    invalid: privacy.invalid,
    unknownTypes,
    estimate,
  };
}

/** The `privacy` object of `plan --json` / `run --json`: per dataset unit, ε, δ and the distinct events. */
export function privacyJson(plan: PrivacyPlan) {
  const out: Record<string, unknown> = {};
  for (const [unit, d] of Object.entries(plan.datasets)) {
    out[unit] = {
      epsilon: Number.isFinite(d.epsilon) ? d.epsilon : null,
      delta: d.delta,
      deltaSource: d.deltaSource,
      corpusSize: d.corpusSize,
      accountant: d.accountant,
      events: d.events,
      ...(d.budget ? { budget: d.budget, withinBudget: d.withinBudget } : {}),
      ...(d.refusals.length ? { refusals: d.refusals } : {}),
      ...(d.nonPrivateNodes.length ? { nonPrivateNodes: d.nonPrivateNodes } : {}),
      ...(d.perPoint.length
        ? { perPoint: d.perPoint.map((p) => ({ axes: p.axes, epsilon: Number.isFinite(p.epsilon) ? p.epsilon : null })) }
        : {}),
      gaps: plan.gaps.filter((g) => g.unit === unit),
    };
  }
  return out;
}

/** What `plan --json` adds to the graph helper's object: cache status per node and the privacy section. */
export function planJson(plan: GraphPlan) {
  return {
    graph: plan.graph,
    sweepPoints: plan.sweepPoints,
    nodes: plan.nodes.map((n) => ({
      id: n.id,
      type: n.type,
      deps: n.deps,
      key: n.key,
      status: n.status,
      ...(n.why ? { why: n.why } : {}),
    })),
    privacy: privacyJson(plan.privacy),
    ...(plan.violations.length ? { violations: plan.violations } : {}),
    ...(plan.invalid.length ? { invalid: plan.invalid } : {}),
    // Per node: ε of its outputs per unit (the Report's ε column), at the unit's δ above.
    lineageEpsilon: Object.fromEntries(
      Object.entries(plan.privacy.lineageEpsilon).map(([id, u]) => [
        id,
        Object.fromEntries(Object.entries(u).map(([k, e]) => [k, Number.isFinite(e) ? e : null])),
      ]),
    ),
    ...(plan.unknownTypes.length ? { unknownTypes: plan.unknownTypes } : {}),
    estimate: plan.estimate,
  };
}

export function renderPrivacy(privacy: PrivacyPlan): string {
  const lines: string[] = [];
  const units = Object.values(privacy.datasets);
  if (units.length === 0) return 'privacy: no private dataset is read';
  lines.push(`privacy (${privacy.accountant} accountant; released cost = every distinct mechanism of the graph):`);
  for (const d of units) {
    const budget = d.budget ? `  budget "${d.budget.name}" ε=${d.budget.epsilon}${d.withinBudget ? '' : '  REFUSED'}` : '';
    lines.push(
      `  ${d.unit}: ε=${formatEps(d.epsilon)} at δ=${d.delta.toExponential(2)} (${d.deltaSource}), ${d.events.length} mechanism(s)${budget}`,
    );
    for (const e of d.events)
      lines.push(
        `    - ${e.node} [${e.key.slice(0, 12)}] ${describeEvent(e.event)}${e.gaps?.length ? `  [gap: ${e.gaps.join('; ')}]` : ''}`,
      );
    for (const p of d.perPoint) lines.push(`    point ${JSON.stringify(p.axes)}: ε=${formatEps(p.epsilon)}`);
    for (const r of d.refusals) lines.push(`    refused: ${r.reason} (nodes: ${r.nodes.join(', ')})`);
    for (const w of d.warnings) lines.push(`    warning: ${w}`);
  }
  for (const g of privacy.gaps) lines.push(`  gap (not covered by ε): ${g.node} on ${g.unit}/${g.split}: ${g.note}`);
  for (const e of privacy.invalid) lines.push(`  error: ${e.pointer}: ${e.message}`);
  for (const n of privacy.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

/** Human-readable plan: one line per node with cache status and why it misses, then the privacy section. */
export function renderPlan(plan: GraphPlan): string {
  const lines = [`graph ${plan.graph}: ${plan.nodes.length} node(s), ${plan.sweepPoints} sweep point(s)`];
  const toRun = plan.nodes.filter((n) => n.status === 'to-run').length;
  lines.push(`cache: ${plan.nodes.length - toRun} cached, ${toRun} to run`);
  for (const n of plan.nodes) {
    lines.push(
      `  ${n.status === 'cached' ? 'cached' : 'to-run'}  ${n.id} (${n.type}) ${n.key.slice(0, 12)}${n.deps.length ? ` <- ${n.deps.join(', ')}` : ''}`,
    );
    for (const why of n.why ?? []) lines.push(`          ${why}`);
  }
  lines.push(renderEstimate(plan.estimate));
  lines.push(renderPrivacy(plan.privacy));
  for (const u of plan.unknownTypes) lines.push(`error: no implementation registered for node type ${u.type} (node ${u.node})`);
  return lines.join('\n');
}
