// The one rule for "what did a privacy unit spend": the distinct events of one unit (by the action key
// that executed them), composed at the unit's δ. The plan, the ledger and the Report all call it, so
// `dpkd plan`, `dpkd ledger`, `dpkd status` and every table row state the same (ε, δ).
import { type AccountantName, epsilonOf } from './accountant';
import type { DpEvent } from './events';

/**
 * The default δ of a privacy unit of N documents (the whole corpus, not a split): 1/(10·N).
 * δ is the probability of a catastrophic failure; the mechanism "publish each record with probability δ"
 * is (0, δ)-DP and exposes N·δ records on average, so δ must be well below 1/N: 1/(10·N) exposes 0.1.
 * N is the corpus, so no Dataset node (a 2-document train split) can move δ.
 */
export function defaultUnitDelta(corpusSize: number): number {
  if (!(Number.isInteger(corpusSize) && corpusSize >= 1)) throw new RangeError(`corpus size must be a positive integer, got ${corpusSize}`);
  return 1 / (10 * corpusSize);
}

/** Why δ is not acceptable for a unit of N documents (δ ≥ 1/N protects nobody), or undefined. */
export function unitDeltaProblem(delta: number, corpusSize: number): string | undefined {
  if (!(delta > 0 && delta < 1)) return `δ must be in (0, 1), got ${delta}`;
  if (delta >= 1 / corpusSize) {
    return `δ = ${delta} is not below 1/N = ${(1 / corpusSize).toExponential(2)} (N = ${corpusSize} documents): a mechanism that publishes one random record is (0, 1/N)-DP; use δ well below 1/N, e.g. the default 1/(10·N) = ${defaultUnitDelta(corpusSize).toExponential(2)}`;
  }
  return undefined;
}

/** The gap of a mechanism whose sampling and noise come from a generator seeded by the graph. */
export const SEEDED_NOISE_GAP = 'noise predictable from the graph: not DP against a reader of the graph (noise: "seeded")';
/** The gap of DP-SGD on fixed-size shuffled batches. */
export const SHUFFLE_GAP = "fixed-size shuffled batches accounted as Poisson sampling (as the paper's code); the guarantee assumes Poisson";

/** One mechanism on a unit, or a recorded departure from the proof (a gap) with a NoOp event. */
export interface UnitEvent {
  /** The action key that executed it: two paths to one action count once. */
  key: string;
  event: DpEvent;
  /** The unit's δ when it ran. */
  delta: number;
  /** Where practice departs from the proof for this action (shuffled batches, seeded noise, held-out uses, ...). */
  gaps?: string[];
}

export interface UnitPrivacy {
  epsilon: number;
  /** The δ the ε holds at (0 when no mechanism ran). */
  delta: number;
  /** Distinct mechanisms composed (gap-only entries excluded). */
  mechanisms: number;
  nonPrivate: boolean;
  warnings: string[];
  /** Distinct gap notes of the events. */
  gaps: string[];
}

const isMechanism = (e: UnitEvent): boolean => e.event.type !== 'NoOp';

/**
 * ε of the distinct events of one unit at the unit's δ. Events recorded at different δ (a budget's δ
 * changed between runs, in the ledger) compose at the smallest: (ε, δ_min)-DP implies (ε, δ)-DP for every
 * larger δ, so the statement is never optimistic. NonPrivate anywhere gives ∞; no mechanism gives (0, 0).
 */
export function composeUnit(events: UnitEvent[], accountant: AccountantName, memo?: Map<string, UnitPrivacy>): UnitPrivacy {
  const distinct = new Map<string, UnitEvent>();
  for (const e of events) {
    const seen = distinct.get(e.key);
    distinct.set(e.key, seen ? { ...seen, gaps: [...(seen.gaps ?? []), ...(e.gaps ?? [])] } : e);
  }
  const all = [...distinct.values()];
  const gaps = [...new Set(all.flatMap((e) => e.gaps ?? []))];
  const mechanisms = all.filter(isMechanism);
  if (mechanisms.length === 0) return { epsilon: 0, delta: 0, mechanisms: 0, nonPrivate: false, warnings: [], gaps };
  const delta = Math.min(...mechanisms.map((e) => e.delta));
  const id = `${accountant}|${delta}|${mechanisms
    .map((e) => e.key)
    .sort()
    .join(',')}`;
  const hit = memo?.get(id);
  if (hit) return { ...hit, gaps };
  let result: UnitPrivacy;
  if (mechanisms.some((e) => e.event.type === 'NonPrivate')) {
    result = { epsilon: Infinity, delta, mechanisms: mechanisms.length, nonPrivate: true, warnings: [], gaps };
  } else {
    const event: DpEvent = mechanisms.length === 1 ? mechanisms[0]!.event : { type: 'Composed', events: mechanisms.map((e) => e.event) };
    const report = epsilonOf(event, delta, { accountant });
    result = {
      epsilon: report.epsilon,
      delta,
      mechanisms: mechanisms.length,
      nonPrivate: report.nonPrivate !== undefined,
      warnings: report.warnings ?? [],
      gaps,
    };
  }
  memo?.set(id, result);
  return result;
}

/** unit -> (action key -> event): the distinct mechanisms in an artifact's ancestry. */
export type UnitLineage = Record<string, Record<string, UnitEvent>>;

export interface LineagePrivacy extends UnitPrivacy {
  /** The unit the numbers are about (the one with the largest ε), if any mechanism exists. */
  unit?: string;
}

/**
 * (ε, δ) of an artifact's lineage: each unit composed by composeUnit; with several units the largest ε is
 * reported (they are different people). Gaps of every unit are listed.
 */
export function lineagePrivacy(lineage: UnitLineage, accountant: AccountantName, memo?: Map<string, UnitPrivacy>): LineagePrivacy {
  let result: LineagePrivacy = { epsilon: 0, delta: 0, mechanisms: 0, nonPrivate: false, warnings: [], gaps: [] };
  const gaps = new Set<string>();
  for (const [unit, byKey] of Object.entries(lineage).sort(([a], [b]) => a.localeCompare(b))) {
    const p = composeUnit(Object.values(byKey), accountant, memo);
    p.gaps.forEach((g) => gaps.add(`${unit}: ${g}`));
    if (p.mechanisms > 0 && (result.unit === undefined || p.epsilon > result.epsilon)) result = { ...p, unit };
  }
  return { ...result, gaps: [...gaps] };
}
