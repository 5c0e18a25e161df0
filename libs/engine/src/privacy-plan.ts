// Plan-time privacy: per node, what it does to each private dataset; per artifact, its lineage; per
// dataset, the composed cost of everything the graph (and the whole sweep) releases.
import { epsilonOf, type DpEvent } from '@dpkd/privacy';
import type { DatasetDescription, InputInfo, Lineage, LineageEvent, NodeImplementation, PrivacyClaim } from '@dpkd/graph';
import type { AccountantName, Budget, EngineGraph, EngineNode } from './graph-types';

/** One DP event, identified by the action key of the node that executes it. */
export type { Lineage, LineageEvent } from '@dpkd/graph';

export interface PrivacyGap {
  node: string;
  unit: string;
  split: string;
  note: string;
}

export interface DatasetPrivacy {
  unit: string;
  epsilon: number;
  delta: number;
  /** How delta was chosen: "budget", "1/n (n=…)", plus a note when the unit has several n. */
  deltaSource: string;
  n: number;
  accountant: AccountantName;
  events: Array<{ key: string; node: string; event: DpEvent }>;
  nonPrivateNodes: string[];
  budget?: { epsilon: number; delta: number };
  withinBudget: boolean;
  /** ε of each sweep point on its own (the sweep total above composes all of them). */
  perPoint: Array<{ axes: Record<string, unknown>; epsilon: number }>;
  warnings: string[];
}

export interface PrivacyPlan {
  accountant: AccountantName;
  datasets: Record<string, DatasetPrivacy>;
  /** Per node: the claims it makes (plan time). */
  claims: Record<string, PrivacyClaim[]>;
  /** Per node: the lineage of its outputs. */
  lineage: Record<string, Lineage>;
  /** Per node and unit: ε of its outputs' lineage (the quickstart table's ε column). */
  lineageEpsilon: Record<string, Record<string, number>>;
  gaps: PrivacyGap[];
  notes: string[];
}

export interface PrivacyPlanOptions {
  accountant: AccountantName;
  budgets: Record<string, Budget>;
  implementationOf(type: string): NodeImplementation | undefined;
  /** Output kind of a node type's port, if the caller knows the signatures. */
  outputKindOf?(type: string, port: string): string | undefined;
  /** describeDataset results by action key, kept across calls in one process. */
  datasetCache?: Map<string, DatasetDescription>;
}

const nonPrivate = (reason: string): DpEvent => ({ type: 'NonPrivate', reason }) as DpEvent;

/** Claims of one node, with every private Dataset input it does not account for charged as NonPrivate. */
export function claimsOf(
  node: EngineNode,
  impl: NodeImplementation | undefined,
  inputs: Record<string, InputInfo>,
): PrivacyClaim[] {
  const claims = impl?.privacy ? impl.privacy(node.params, inputs) : [];
  const covered = new Set(claims.map((c) => c.dataset.unit));
  for (const [port, info] of Object.entries(inputs)) {
    const dataset = info.dataset;
    if (!dataset?.private || covered.has(dataset.unit)) continue;
    covered.add(dataset.unit);
    claims.push({
      dataset,
      split: 'train',
      event: nonPrivate(`${node.type} node ${node.id} reads private ${dataset.unit} (input ${port}) and declares no mechanism`),
    });
  }
  return claims;
}

export function mergeLineage(into: Lineage, from: Lineage): void {
  for (const [unit, events] of Object.entries(from)) Object.assign((into[unit] ??= {}), events);
}

/** Adds a node's executed claims (those with an event) to a lineage, keyed by the node's action key. */
export function addClaims(lineage: Lineage, node: { id: string; key: string }, claims: PrivacyClaim[]): void {
  for (const claim of claims) {
    if (!claim.event || claim.event.type === 'NoOp') continue;
    const unit = (lineage[claim.dataset.unit] ??= {});
    const existing = unit[node.key];
    // A node with two claims on one unit (e.g. a noisy histogram and DP-SGD) composes them under its key.
    const event: DpEvent = existing ? ({ type: 'Composed', events: [existing.event, claim.event] } as DpEvent) : claim.event;
    unit[node.key] = { key: node.key, node: node.id, event, n: Math.min(existing?.n ?? Infinity, claim.dataset.n) };
  }
}

const composedOf = (events: DpEvent[]): DpEvent =>
  events.length === 1 ? events[0]! : ({ type: 'Composed', events } as DpEvent);

/** ε of a set of events; memoised by the sorted keys, since many nodes share one lineage. */
function makeEpsilonOf(accountant: AccountantName) {
  const memo = new Map<string, { epsilon: number; warnings: string[] }>();
  return (events: LineageEvent[], delta: number): { epsilon: number; warnings: string[] } => {
    if (events.length === 0) return { epsilon: 0, warnings: [] };
    const id = `${delta}|${events.map((e) => e.key).sort().join(',')}`;
    let hit = memo.get(id);
    if (!hit) {
      if (events.some((e) => e.event.type === 'NonPrivate')) hit = { epsilon: Infinity, warnings: [] };
      else {
        const report = epsilonOf(composedOf(events.map((e) => e.event)), delta, { accountant });
        hit = { epsilon: report.epsilon, warnings: report.warnings ?? [] };
      }
      memo.set(id, hit);
    }
    return hit;
  };
}

export async function planPrivacy(graph: EngineGraph, options: PrivacyPlanOptions): Promise<PrivacyPlan> {
  const datasets = new Map<string, DatasetDescription>(); // by node id
  const cache = options.datasetCache ?? new Map<string, DatasetDescription>();
  for (const node of graph.nodes) {
    const impl = options.implementationOf(node.type);
    if (!impl?.describeDataset) continue;
    let description = cache.get(node.key);
    if (!description) {
      description = await impl.describeDataset(node.params);
      cache.set(node.key, description);
    }
    datasets.set(node.id, description);
  }

  // A budget may name a Dataset node (its unit is what the node describes) or a unit (corpus) directly.
  const budgets: Record<string, Budget> = {};
  for (const [name, budget] of Object.entries(options.budgets)) budgets[datasets.get(name)?.unit ?? name] = budget;

  const claims: Record<string, PrivacyClaim[]> = {};
  const lineage: Record<string, Lineage> = {};
  const gaps: PrivacyGap[] = [];
  const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
  const nsByUnit = new Map<string, Set<number>>();
  for (const d of datasets.values()) if (d.private) (nsByUnit.get(d.unit) ?? nsByUnit.set(d.unit, new Set()).get(d.unit)!).add(d.n);

  for (const node of graph.nodes) {
    const inputs: Record<string, InputInfo> = {};
    const own: Lineage = {};
    for (const [port, ref] of Object.entries(node.inputs)) {
      const dataset = datasets.get(ref.node);
      const upstream = nodeById.get(ref.node);
      const kind = dataset ? 'Dataset' : (upstream && options.outputKindOf?.(upstream.type, ref.port)) ?? 'Artifact';
      inputs[port] = dataset ? { kind, dataset } : { kind };
      mergeLineage(own, lineage[ref.node] ?? {});
    }
    const impl = options.implementationOf(node.type);
    const nodeClaims = claimsOf(node, impl, inputs);
    claims[node.id] = nodeClaims;
    for (const c of nodeClaims) {
      if (!c.event && c.dataset.private) gaps.push({ node: node.id, unit: c.dataset.unit, split: c.split, note: c.note ?? `non-DP use of the ${c.split} split` });
      if (c.dataset.private) (nsByUnit.get(c.dataset.unit) ?? nsByUnit.set(c.dataset.unit, new Set()).get(c.dataset.unit)!).add(c.dataset.n);
    }
    addClaims(own, node, nodeClaims);
    lineage[node.id] = own;
  }

  const epsilonFor = makeEpsilonOf(options.accountant);
  const notes: string[] = [];
  const deltaOfUnit = (unit: string): { delta: number; source: string; n: number } => {
    const ns = [...(nsByUnit.get(unit) ?? [])];
    const n = ns.length > 0 ? Math.min(...ns) : NaN;
    const several = ns.length > 1 ? `; ${unit} has several n (${ns.join(', ')}): the smallest is used` : '';
    const budget = budgets[unit];
    if (budget && typeof budget.delta === 'number') return { delta: budget.delta, source: `budget${several}`, n };
    return { delta: 1 / n, source: `1/n (n=${n})${several}`, n };
  };

  const result: Record<string, DatasetPrivacy> = {};
  const units = new Set<string>([...nsByUnit.keys()]);
  for (const node of graph.nodes) for (const unit of Object.keys(lineage[node.id] ?? {})) units.add(unit);
  for (const unit of [...units].sort()) {
    // Everything the graph writes lands in the store, so the released cost composes every distinct event.
    const all = new Map<string, LineageEvent>();
    for (const node of graph.nodes) for (const e of Object.values(lineage[node.id]?.[unit] ?? {})) all.set(e.key, e);
    const events = [...all.values()];
    const { delta, source, n } = deltaOfUnit(unit);
    const total = epsilonFor(events, delta);
    const perPoint = graph.sweepPoints.length > 1
      ? graph.sweepPoints.map((point) => {
          const inPoint = new Map<string, LineageEvent>();
          for (const id of point.nodes) for (const e of Object.values(lineage[id]?.[unit] ?? {})) inPoint.set(e.key, e);
          return { axes: point.axes, epsilon: epsilonFor([...inPoint.values()], delta).epsilon };
        })
      : [];
    const budget = budgets[unit];
    const nonPrivateNodes = events.filter((e) => e.event.type === 'NonPrivate').map((e) => e.node);
    result[unit] = {
      unit,
      epsilon: total.epsilon,
      delta,
      deltaSource: source,
      n,
      accountant: options.accountant,
      events: events.map(({ key, node, event }) => ({ key, node, event })),
      nonPrivateNodes,
      ...(budget ? { budget: { epsilon: budget.epsilon, delta } } : {}),
      withinBudget: !budget || (nonPrivateNodes.length === 0 && total.epsilon <= budget.epsilon),
      perPoint,
      warnings: total.warnings,
    };
  }
  for (const unit of Object.keys(budgets)) {
    if (!units.has(unit)) notes.push(`budget for ${unit}: no node of this graph reads a dataset with that unit`);
  }

  const lineageEpsilon: Record<string, Record<string, number>> = {};
  for (const node of graph.nodes) {
    const perUnit: Record<string, number> = {};
    for (const [unit, events] of Object.entries(lineage[node.id] ?? {})) perUnit[unit] = epsilonFor(Object.values(events), deltaOfUnit(unit).delta).epsilon;
    lineageEpsilon[node.id] = perUnit;
  }
  return { accountant: options.accountant, datasets: result, claims, lineage, lineageEpsilon, gaps, notes };
}

/** Budget violations of a plan, for the refusal message (exit 3). */
export function budgetViolations(plan: PrivacyPlan) {
  return Object.values(plan.datasets)
    .filter((d) => !d.withinBudget && d.budget)
    .map((d) => ({ unit: d.unit, epsilon: d.epsilon, budget: d.budget!.epsilon, delta: d.delta, nonPrivateNodes: d.nonPrivateNodes }));
}
