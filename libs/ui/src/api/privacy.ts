// The Privacy page: per privacy unit, the ledger's ε over time against the unit's budget, each mechanism with
// its DP event and gaps, and what `plan` says each known graph would add before it runs. Every number is the
// engine's: the ledger's recorded cumulative ε and unitTotal (composeUnit at the unit's δ), the plan's
// privacy section; nothing here composes ε on its own.
import { checkLedger, LEDGER_LOG, unitTotal, type AccountantName, type GraphPlan, type LedgerEntry, type RunRecord } from '@dpkd/engine';
import { describeEvent } from '@dpkd/privacy';
import type { Store } from '@dpkd/store';
import { finiteOrNull } from './json';

export interface LedgerPoint {
  seq: number;
  at: string;
  node: string;
  type: string;
  key: string;
  run: string;
  graph: string;
  split: string;
  event: string;
  /** false for an entry that records a gap only (NoOp: no ε). */
  mechanism: boolean;
  outcome: LedgerEntry['outcome'];
  gaps: string[];
  /** The unit's cumulative ε after this entry, as the ledger recorded it (null: ∞). */
  epsilon: number | null;
}

export interface PlannedAddition {
  graph: string;
  file: string;
  /** The graph's released cost on the unit (every distinct mechanism of it, all sweep points). */
  epsilon: number | null;
  budget?: { epsilon: number; delta: number; name: string };
  withinBudget: boolean;
  /** The mechanisms of nodes the plan would run (each is charged to the ledger when it runs). */
  toRun: Array<{ node: string; key: string; event: string; gaps: string[] }>;
  /** The unit's ledger total after those run (unitTotal over the ledger plus them). */
  ledgerAfter: number | null;
  refusals: Array<{ reason: string; nodes: string[] }>;
}

export interface UnitView {
  unit: string;
  epsilon: number | null;
  delta: number;
  accountant: AccountantName;
  mechanisms: number;
  /** The budget the latest run that read the unit declared, if any. */
  budget?: { epsilon: number; delta: number; name: string; run: string };
  gaps: string[];
  entries: LedgerPoint[];
  planned: PlannedAddition[];
}

export interface PrivacyView {
  /** The ledger does not check out: no ε is shown (as `dpkd ledger`), only why. */
  damaged?: string;
  accountant: AccountantName;
  units: UnitView[];
}

export interface KnownPlan {
  file: string;
  plan: GraphPlan;
}

function plannedAddition(unit: string, known: KnownPlan, ledger: LedgerEntry[], accountant: AccountantName): PlannedAddition | undefined {
  const d = known.plan.privacy.datasets[unit];
  if (!d) return undefined;
  const status = new Map(known.plan.nodes.map((n) => [n.id, n.status]));
  const toRun = d.events.filter((e) => status.get(e.node) === 'to-run');
  // What the ledger would hold after the run: one more entry per mechanism the plan runs (the ledger's rule).
  const extra: LedgerEntry[] = toRun.map((e) => ({
    unit,
    n: d.n,
    delta: d.delta,
    split: 'train',
    event: e.event,
    ...(e.gaps ? { gaps: e.gaps } : {}),
    key: e.key,
    node: e.node,
    type: '',
    graph: known.plan.graph,
    run: '(planned)',
    attempt: 1,
    outcome: 'started',
    at: '',
    cumulative: { epsilon: null, delta: d.delta, accountant },
  }));
  const after = unitTotal(unit, [...ledger, ...extra], accountant);
  return {
    graph: known.plan.graph,
    file: known.file,
    epsilon: finiteOrNull(d.epsilon),
    ...(d.budget ? { budget: d.budget } : {}),
    withinBudget: d.withinBudget,
    toRun: toRun.map((e) => ({ node: e.node, key: e.key, event: describeEvent(e.event), gaps: e.gaps ?? [] })),
    ledgerAfter: finiteOrNull(after.epsilon),
    refusals: d.refusals,
  };
}

/** The budget of each unit as the latest run that read it declared it. */
function latestBudgets(runs: RunRecord[]): Map<string, UnitView['budget']> {
  const budgets = new Map<string, UnitView['budget']>();
  for (const r of runs) {
    for (const [unit, d] of Object.entries(r.privacy.datasets)) {
      if (d.budget) budgets.set(unit, { ...d.budget, run: r.id });
    }
  }
  return budgets;
}

export async function privacyView(
  store: Store,
  options: { runs: RunRecord[]; plans: KnownPlan[]; accountant?: AccountantName },
): Promise<PrivacyView> {
  const accountant = options.accountant ?? 'pld';
  const check = await checkLedger(store);
  if (!check.ok) {
    return {
      damaged:
        `the privacy ledger ${check.path} is damaged (${check.reason}); no ε is shown. ` +
        '`dpkd ledger verify` shows the damage, `dpkd ledger rebuild` rebuilds it.',
      accountant,
      units: [],
    };
  }
  // The ledger's lines with their seq (what a table cell links to); totals per unit as `dpkd ledger` computes them.
  const { entries: records } = await store.appendLog<LedgerEntry>(LEDGER_LOG).readAll();
  const budgets = latestBudgets(options.runs);
  const plannedUnits = options.plans.flatMap((p) => Object.keys(p.plan.privacy.datasets));
  const units = [...new Set([...records.map((e) => e.unit), ...plannedUnits])].sort();
  return {
    accountant,
    units: units.map((unit) => {
      const total = unitTotal(unit, records, accountant);
      const budget = budgets.get(unit);
      return {
        unit,
        epsilon: finiteOrNull(total.epsilon),
        delta: total.delta,
        accountant,
        mechanisms: total.mechanisms,
        ...(budget ? { budget } : {}),
        gaps: total.gaps,
        entries: records
          .filter((e) => e.unit === unit)
          .map((e) => ({
            seq: e.seq,
            at: e.at,
            node: e.node,
            type: e.type,
            key: e.key,
            run: e.run,
            graph: e.graph,
            split: e.split,
            event: describeEvent(e.event),
            mechanism: e.event.type !== 'NoOp',
            outcome: e.outcome,
            gaps: e.gaps ?? [],
            epsilon: e.cumulative.epsilon,
          })),
        planned: options.plans
          .map((p) => plannedAddition(unit, p, records, accountant))
          .filter((p): p is PlannedAddition => p !== undefined),
      };
    }),
  };
}
