// Plan-time privacy: per node, what it does to each private dataset; per artifact, its lineage; per
// privacy unit (a corpus), its δ and the composed cost of everything the graph (and the whole sweep)
// releases. Composition itself is @dpkd/privacy's composeUnit, the rule the ledger and Report use too.
// Also the checks a graph author could use to get around a budget: one declaration and one budget per
// unit (exit 2), δ below 1/N (exit 2), seeded noise and, under `strict`, any gap under a budget (exit 3).
import { composeUnit, defaultUnitDelta, type DpEvent, SEEDED_NOISE_GAP, unitDeltaProblem, type UnitPrivacy } from '@dpkd/privacy';
import {
  atNode,
  unitDeclarationProblems,
  type DatasetDescription,
  type InputInfo,
  type Lineage,
  type LineageEvent,
  type NodeImplementation,
  type PrivacyClaim,
} from '@dpkd/graph';
import type { AccountantName, Budget, EngineGraph, EngineNode } from './graph-types';

/** One DP event, identified by the action key of the node that executes it. */
export type { Lineage, LineageEvent } from '@dpkd/graph';

/** A place where practice departs from the proof: a non-DP use of a private split, or a mechanism's caveat. */
export interface PrivacyGap {
  node: string;
  unit: string;
  split: string;
  note: string;
}

/** A privacy declaration that cannot be planned (exit 2): it names the nodes or budgets involved. */
export interface PrivacyDeclarationError {
  /** JSON pointer into the graph file. */
  pointer: string;
  message: string;
}

export interface DatasetPrivacy {
  unit: string;
  epsilon: number;
  delta: number;
  /** Where δ comes from: the budget (named) or the default 1/(10·N). */
  deltaSource: string;
  /** Train documents of the unit's Dataset nodes (the smallest, for q); N is corpusSize. */
  n: number;
  corpusSize: number;
  accountant: AccountantName;
  events: Array<{ key: string; node: string; event: DpEvent; gaps?: string[] }>;
  nonPrivateNodes: string[];
  budget?: { epsilon: number; delta: number; name: string };
  withinBudget: boolean;
  /** ε of each sweep point on its own (the sweep total above composes all of them). */
  perPoint: Array<{ axes: Record<string, unknown>; epsilon: number }>;
  /** Refusals under the budget other than ε (seeded noise, strict gaps): exit 3. */
  refusals: Array<{ reason: string; nodes: string[] }>;
  warnings: string[];
}

export interface PrivacyPlan {
  accountant: AccountantName;
  datasets: Record<string, DatasetPrivacy>;
  /** Per node: the claims it makes (plan time), each dataset description carrying its unit's δ. */
  claims: Record<string, PrivacyClaim[]>;
  /** Per node: the lineage of its outputs. */
  lineage: Record<string, Lineage>;
  /** Per node and unit: ε of its outputs' lineage at the unit's δ (the Report's ε column). */
  lineageEpsilon: Record<string, Record<string, number>>;
  gaps: PrivacyGap[];
  /** Declarations that cannot be planned: the graph is invalid (exit 2). */
  invalid: PrivacyDeclarationError[];
  notes: string[];
}

export interface PrivacyPlanOptions {
  accountant: AccountantName;
  budgets: Record<string, Budget>;
  strict?: boolean;
  allowSeededNoise?: boolean;
  implementationOf(type: string): NodeImplementation | undefined;
  /** Output kind of a node type's port, if the caller knows the signatures. */
  outputKindOf?(type: string, port: string): string | undefined;
  /** describeDataset results by action key, kept across calls in one process. */
  datasetCache?: Map<string, DatasetDescription>;
}

const nonPrivate = (reason: string): DpEvent => ({ type: 'NonPrivate', reason }) as DpEvent;

/** Claims of one node, with every private Dataset input it does not account for charged as NonPrivate. */
export function claimsOf(node: EngineNode, impl: NodeImplementation | undefined, inputs: Record<string, InputInfo>): PrivacyClaim[] {
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

/** The gaps of a claim on private data: its declared caveats, and the use itself when it has no mechanism. */
export function claimGaps(claim: PrivacyClaim): string[] {
  if (!claim.dataset.private) return [];
  const own = claim.event ? [] : [claim.note ?? `non-DP use of the ${claim.split} split`];
  return [...own, ...(claim.gaps ?? [])];
}

/** A claim that spends privacy (a mechanism other than NoOp on private data). */
export const isMechanism = (claim: PrivacyClaim): boolean =>
  claim.dataset.private && claim.event !== undefined && claim.event.type !== 'NoOp';

export function mergeLineage(into: Lineage, from: Lineage): void {
  for (const [unit, events] of Object.entries(from)) {
    const mine = (into[unit] ??= {});
    for (const [key, e] of Object.entries(events)) mine[key] = e;
  }
}

/** The δ a claim's mechanism is stated at: the unit's, as its Dataset described it. */
const deltaOfClaim = (claim: PrivacyClaim): number => {
  if (claim.dataset.delta === undefined)
    throw new Error(`no δ for privacy unit ${claim.dataset.unit} in a claim on its ${claim.split} split`);
  return claim.dataset.delta;
};

/**
 * Adds a node's claims to a lineage under the node's action key: its mechanisms (with their δ and gaps),
 * and its gap-only uses of private splits as NoOp entries (so every downstream row shows them).
 */
export function addClaims(lineage: Lineage, node: { id: string; key: string }, claims: PrivacyClaim[]): void {
  for (const claim of claims) {
    const gaps = claimGaps(claim);
    if (!isMechanism(claim) && gaps.length === 0) continue;
    const unit = (lineage[claim.dataset.unit] ??= {});
    const existing = unit[node.key];
    const event: DpEvent = isMechanism(claim) ? claim.event! : { type: 'NoOp' };
    // A node with two claims on one unit (e.g. a noisy histogram and DP-SGD) composes them under its key.
    const merged: DpEvent =
      !existing || existing.event.type === 'NoOp'
        ? event
        : event.type === 'NoOp'
          ? existing.event
          : ({ type: 'Composed', events: [existing.event, event] } as DpEvent);
    const allGaps = [...new Set([...(existing?.gaps ?? []), ...gaps])];
    unit[node.key] = {
      key: node.key,
      node: node.id,
      event: merged,
      n: Math.min(existing?.n ?? Infinity, claim.dataset.n),
      delta: Math.min(existing?.delta ?? Infinity, deltaOfClaim(claim)),
      ...(allGaps.length ? { gaps: allGaps } : {}),
    };
  }
}

interface UnitDeclaration {
  unit: string;
  corpusSize: number;
  n: number;
  delta: number;
  deltaSource: string;
  budget?: { name: string; budget: Budget };
}

/** The per-unit declarations and their errors: one private/public, one budget, one N, δ < 1/N. */
function declareUnits(
  datasets: Map<string, DatasetDescription>,
  budgets: Record<string, Budget>,
  invalid: PrivacyDeclarationError[],
  notes: string[],
): Map<string, UnitDeclaration> {
  const byUnit = new Map<string, Array<[string, DatasetDescription]>>();
  for (const [id, d] of datasets) (byUnit.get(d.unit) ?? byUnit.set(d.unit, []).get(d.unit)!).push([id, d]);

  for (const [unit, nodes] of byUnit) {
    const priv = nodes.find(([, d]) => d.private);
    const pub = nodes.find(([, d]) => !d.private);
    if (priv && pub) {
      const { message, hint } = unitDeclarationProblems.mixed(unit, priv[0], pub[0]); // worded as `validate` words it
      invalid.push({ pointer: `/nodes/${pub[0]}/params/private`, message: `${message}: ${hint}` });
    }
  }

  // Budgets by unit: a budget names a corpus or a Dataset node (mapped to its unit).
  const budgetOf = new Map<string, { name: string; budget: Budget }>();
  for (const [name, budget] of Object.entries(budgets)) {
    const unit = datasets.get(name)?.unit ?? name;
    const other = budgetOf.get(unit);
    if (other) {
      const { message, hint } = unitDeclarationProblems.twoBudgets(
        unit,
        { name: other.name, epsilon: other.budget.epsilon },
        { name, epsilon: budget.epsilon },
      );
      invalid.push({ pointer: `/privacy/budgets/${name}`, message: `${message}; ${hint}` });
      continue;
    }
    budgetOf.set(unit, { name, budget });
  }

  const declared = new Map<string, UnitDeclaration>();
  for (const [unit, nodes] of byUnit) {
    if (!nodes.some(([, d]) => d.private)) continue;
    const sizes = [...new Set(nodes.map(([, d]) => d.corpusSize))];
    if (sizes.length > 1) {
      invalid.push({
        pointer: `/nodes/${nodes[0]![0]}`,
        message: `Dataset nodes over ${unit} report different corpus sizes (${sizes.join(', ')}); N must be the whole corpus`,
      });
    }
    const corpusSize = Math.min(...sizes);
    const n = Math.min(...nodes.map(([, d]) => d.n));
    const budget = budgetOf.get(unit);
    let delta = defaultUnitDelta(corpusSize);
    let deltaSource = `default 1/(10·N), N = ${corpusSize} documents of ${unit}`;
    if (budget?.budget.delta !== undefined) {
      const problem = unitDeltaProblem(budget.budget.delta, corpusSize);
      if (problem)
        invalid.push({ pointer: `/privacy/budgets/${budget.name}/delta`, message: `budget "${budget.name}" for ${unit}: ${problem}` });
      delta = budget.budget.delta;
      deltaSource = `budget "${budget.name}" (N = ${corpusSize})`;
    }
    for (const [id, d] of nodes) {
      if (d.delta !== undefined && d.delta !== delta) {
        invalid.push({
          pointer: `/nodes/${id}`,
          message: `Dataset node ${id} states δ = ${d.delta} for ${unit}, but the unit's δ is ${delta} (${deltaSource})`,
        });
      }
    }
    declared.set(unit, { unit, corpusSize, n, delta, deltaSource, ...(budget ? { budget } : {}) });
  }
  for (const [unit, { name }] of budgetOf) {
    if (!declared.has(unit)) notes.push(`budget "${name}": no node of this graph reads a private dataset of ${unit}`);
  }
  return declared;
}

export async function planPrivacy(graph: EngineGraph, options: PrivacyPlanOptions): Promise<PrivacyPlan> {
  const datasets = new Map<string, DatasetDescription>(); // by node id
  const cache = options.datasetCache ?? new Map<string, DatasetDescription>();
  for (const node of graph.nodes) {
    const impl = options.implementationOf(node.type);
    if (!impl?.describeDataset) continue;
    let description = cache.get(node.key);
    if (!description) {
      // atNode: a node's own input check names the node and its JSON pointer (the CLI exits 2 with it).
      description = await atNode(node, () => impl.describeDataset!(node.params));
      cache.set(node.key, description);
    }
    datasets.set(node.id, description);
  }

  const invalid: PrivacyDeclarationError[] = [];
  const notes: string[] = [];
  const units = declareUnits(datasets, options.budgets, invalid, notes);
  // Every private description carries its unit's δ: what DP nodes calibrate at and the ledger records.
  const described = new Map<string, DatasetDescription>();
  for (const [id, d] of datasets) {
    const unit = units.get(d.unit);
    described.set(id, d.private && unit ? { ...d, delta: unit.delta, corpusSize: unit.corpusSize } : d);
  }

  const claims: Record<string, PrivacyClaim[]> = {};
  const lineage: Record<string, Lineage> = {};
  const gaps: PrivacyGap[] = [];
  const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));

  for (const node of graph.nodes) {
    const inputs: Record<string, InputInfo> = {};
    const own: Lineage = {};
    for (const [port, ref] of Object.entries(node.inputs)) {
      const dataset = described.get(ref.node);
      const upstream = nodeById.get(ref.node);
      const kind = dataset ? 'Dataset' : ((upstream && options.outputKindOf?.(upstream.type, ref.port)) ?? 'Artifact');
      inputs[port] = dataset ? { kind, dataset } : { kind };
      mergeLineage(own, lineage[ref.node] ?? {});
    }
    const impl = options.implementationOf(node.type);
    const nodeClaims = invalid.length > 0 ? [] : atNode(node, () => claimsOf(node, impl, inputs));
    claims[node.id] = nodeClaims;
    for (const c of nodeClaims) for (const note of claimGaps(c)) gaps.push({ node: node.id, unit: c.dataset.unit, split: c.split, note });
    addClaims(own, node, nodeClaims);
    lineage[node.id] = own;
  }

  const memo = new Map<string, UnitPrivacy>();
  const compose = (events: LineageEvent[]) => composeUnit(events, options.accountant, memo);

  const result: Record<string, DatasetPrivacy> = {};
  const unitNames = new Set<string>([...units.keys()]);
  for (const node of graph.nodes) for (const unit of Object.keys(lineage[node.id] ?? {})) unitNames.add(unit);
  for (const unit of [...unitNames].sort()) {
    const declared = units.get(unit);
    if (!declared) continue;
    // Everything the graph writes lands in the store, so the released cost composes every distinct event.
    const all = new Map<string, LineageEvent>();
    for (const node of graph.nodes) for (const e of Object.values(lineage[node.id]?.[unit] ?? {})) all.set(e.key, e);
    const entries = [...all.values()];
    const mechanisms = entries.filter((e) => e.event.type !== 'NoOp');
    const total = compose(entries);
    const perPoint =
      graph.sweepPoints.length > 1
        ? graph.sweepPoints.map((point) => {
            const inPoint = new Map<string, LineageEvent>();
            for (const id of point.nodes) for (const e of Object.values(lineage[id]?.[unit] ?? {})) inPoint.set(e.key, e);
            return { axes: point.axes, epsilon: compose([...inPoint.values()]).epsilon };
          })
        : [];
    const budget = declared.budget;
    const nonPrivateNodes = mechanisms.filter((e) => e.event.type === 'NonPrivate').map((e) => e.node);
    const refusals: DatasetPrivacy['refusals'] = [];
    if (budget) {
      const unitGaps = gaps.filter((g) => g.unit === unit);
      const seeded = [...new Set(unitGaps.filter((g) => g.note === SEEDED_NOISE_GAP).map((g) => g.node))];
      if (seeded.length > 0 && !options.allowSeededNoise) {
        refusals.push({
          reason: `noise seeded by the graph under a budget (set privacy.allowSeededNoise to allow it for a reproducibility study): ${SEEDED_NOISE_GAP}`,
          nodes: seeded,
        });
      }
      if (options.strict && unitGaps.length > 0) {
        refusals.push({ reason: 'privacy.strict: gaps under a budget', nodes: [...new Set(unitGaps.map((g) => g.node))] });
      }
    }
    result[unit] = {
      unit,
      epsilon: total.epsilon,
      delta: declared.delta,
      deltaSource: declared.deltaSource,
      n: declared.n,
      corpusSize: declared.corpusSize,
      accountant: options.accountant,
      events: mechanisms.map(({ key, node, event, gaps: g }) => ({ key, node, event, ...(g?.length ? { gaps: g } : {}) })),
      nonPrivateNodes,
      ...(budget ? { budget: { epsilon: budget.budget.epsilon, delta: declared.delta, name: budget.name } } : {}),
      withinBudget: !budget || (nonPrivateNodes.length === 0 && total.epsilon <= budget.budget.epsilon && refusals.length === 0),
      perPoint,
      refusals,
      warnings: total.warnings,
    };
  }

  const lineageEpsilon: Record<string, Record<string, number>> = {};
  for (const node of graph.nodes) {
    const perUnit: Record<string, number> = {};
    for (const [unit, events] of Object.entries(lineage[node.id] ?? {})) {
      const p = compose(Object.values(events));
      if (p.mechanisms > 0) perUnit[unit] = p.epsilon;
    }
    lineageEpsilon[node.id] = perUnit;
  }
  return { accountant: options.accountant, datasets: result, claims, lineage, lineageEpsilon, gaps, invalid, notes };
}

/** Budget violations of a plan, for the refusal message (exit 3): ε over budget, non-private uses, refusals. */
export function budgetViolations(plan: PrivacyPlan) {
  return Object.values(plan.datasets)
    .filter((d) => !d.withinBudget && d.budget)
    .map((d) => ({
      unit: d.unit,
      epsilon: d.epsilon,
      budget: d.budget!.epsilon,
      delta: d.delta,
      nonPrivateNodes: d.nonPrivateNodes,
      ...(d.refusals.length ? { refusals: d.refusals } : {}),
    }));
}
