// The accountant API: ε(δ) and δ(ε) of any DP event with the RDP or the PLD accountant. Where the PLD
// (tight) accountant cannot answer (outside its validated range, or a numerical failure), both fall back
// to the RDP bound, which is always valid: epsilonOf says so in `fellBackFrom` and a warning; deltaOf
// returns a bare number, so its fallback is silent (it only ever returns a valid upper bound).
import { containsNonPrivate, type DpEvent } from './events';
import { composePmfs, leafPmfs, MAX_FFT_SIZE, type Pmf, pmfDelta, pmfEpsilon, selfComposePmf, TAIL_MASS, unitPmf } from './pld';
import { deltaFromRdp, epsilonFromRdp, type Leaf, leavesOf, rdpCurve } from './rdp';

export type AccountantName = 'rdp' | 'pld';
export const DEFAULT_ACCOUNTANT: AccountantName = 'pld';
/** The PLD grid spacing Δ (dp_accounting's default value_discretization_interval). */
export const DEFAULT_INTERVAL = 1e-4;
/** Largest composed PLD window (points) before Δ is coarsened (which stays pessimistic). */
const MAX_WINDOW = 2 ** 20;
/**
 * The coarsest grid the PLD is trusted on: 100× the default. Beyond it (compositions whose loss range
 * exceeds ~10^4 ε units, e.g. 10^9 steps) the per-step PMF collapses under floating-point absorption
 * (3·10^11 steps gave ε = 0) and the RDP bound is reported instead.
 */
const MAX_VALID_INTERVAL = 1e-2;

export interface EpsilonReport {
  epsilon: number;
  delta: number;
  accountant: AccountantName;
  optimalOrder?: number;
  bounds?: { lower: number; upper: number };
  warnings: string[];
  fellBackFrom?: AccountantName;
  /** PLD only: the grid spacing Δ used (coarser than the default for very long compositions). */
  interval?: number;
  /** Why ε is infinite when it is so by declaration (a NonPrivate event). */
  nonPrivate?: string;
}

export interface AccountingOptions {
  accountant?: AccountantName;
  /** PLD grid spacing (default 1e-4). */
  interval?: number;
}

function checkDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
}

function nonPrivateReason(e: DpEvent): string {
  if (e.type === 'NonPrivate') return e.reason ?? 'a NonPrivate event';
  if (e.type === 'PoissonSampled' || e.type === 'SelfComposed') return nonPrivateReason(e.event);
  if (e.type === 'Composed') for (const c of e.events) if (containsNonPrivate(c)) return nonPrivateReason(c);
  return 'a NonPrivate event';
}

/** Equal leaves merged (composition is commutative), so each distinct mechanism is composed by one FFT power. */
function groupedLeaves(e: DpEvent): { leaf: Leaf; count: number }[] {
  const groups = new Map<string, { leaf: Leaf; count: number }>();
  for (const { leaf, count } of leavesOf(e)) {
    const key = JSON.stringify(leaf);
    const g = groups.get(key);
    if (g) g.count += count;
    else groups.set(key, { leaf, count });
  }
  // k-fold Gaussian without sampling is one Gaussian with σ/√k (exact, and much cheaper).
  return [...groups.values()].map((g) =>
    g.leaf.kind === 'gaussian' && g.leaf.q === 1 && g.count > 1
      ? { leaf: { ...g.leaf, sigma: g.leaf.sigma / Math.sqrt(g.count) }, count: 1 }
      : g,
  );
}

/** Δ for an event: the default unless the composed loss range (upper tail from RDP, lower tail ≥ log τ
 *  because E_P[e^{−L}] ≤ 1) needs more than MAX_WINDOW points. A coarser Δ is still pessimistic. */
function chooseInterval(e: DpEvent, requested: number): number {
  const curve = rdpCurve(e);
  const logTau = Math.log(TAIL_MASS);
  let upper = Infinity;
  for (let i = 0; i < curve.orders.length; i++) {
    const a = curve.orders[i];
    if (Number.isFinite(curve.rdp[i])) upper = Math.min(upper, curve.rdp[i] - logTau / (a - 1));
  }
  const width = upper - logTau;
  return Number.isFinite(width) ? Math.max(requested, (1.25 * width) / MAX_WINDOW) : requested;
}

/**
 * The composed PMFs (remove, add) of a NonPrivate-free event. A leaf whose two directions have one PLD
 * (an unsampled Gaussian or Laplace: leafPmfs returns the same object twice) is composed once; while every
 * leaf so far is such, the two composed PMFs are one object too, and `add === remove` tells callers that
 * one direction is enough. Composition is deterministic, so this is exactly the two-direction result.
 */
export function composedPmfs(e: DpEvent, interval: number): { remove: Pmf; add: Pmf } {
  let remove = unitPmf(interval);
  let add = remove;
  for (const { leaf, count } of groupedLeaves(e)) {
    const one = leafPmfs(leaf, interval);
    const symmetric = one.add === one.remove && add === remove;
    const r = selfComposePmf(one.remove, count);
    const a = one.add === one.remove ? r : selfComposePmf(one.add, count);
    const composedAdd = symmetric ? undefined : composePmfs(add, a);
    remove = composePmfs(remove, r);
    add = composedAdd ?? remove;
  }
  return { remove, add };
}

/** The larger of f over the two directions, evaluated once when they are one PMF. */
const worseDirection = (pmfs: { remove: Pmf; add: Pmf }, f: (pmf: Pmf) => number): number =>
  pmfs.add === pmfs.remove ? f(pmfs.remove) : Math.max(f(pmfs.remove), f(pmfs.add));

const pmfCache = new Map<string, { remove: Pmf; add: Pmf; interval: number }>();

function cachedPmfs(e: DpEvent, requested: number): { remove: Pmf; add: Pmf; interval: number } {
  const key = `${requested}|${JSON.stringify(e)}`;
  let hit = pmfCache.get(key);
  if (!hit) {
    const interval = chooseInterval(e, requested);
    hit = { ...composedPmfs(e, interval), interval };
    if (pmfCache.size >= 8) pmfCache.delete(pmfCache.keys().next().value as string);
    pmfCache.set(key, hit);
  }
  return hit;
}

function fftRoundoffFloor(pmf: Pmf): number {
  return 2.2e-16 * Math.max(pmf.p.length, 1);
}

function rdpReport(e: DpEvent, delta: number): EpsilonReport {
  const r = epsilonFromRdp(rdpCurve(e), delta);
  return { epsilon: r.epsilon, delta, accountant: 'rdp', optimalOrder: r.optimalOrder, warnings: r.warnings };
}

function pldReport(e: DpEvent, delta: number, requested: number): EpsilonReport {
  const { remove, add, interval } = cachedPmfs(e, requested);
  const floor = Math.max(fftRoundoffFloor(remove), fftRoundoffFloor(add));
  if (delta < floor)
    throw new Error(
      `delta ${delta} is below the FFT round-off floor ${floor.toExponential(2)} of a ${Math.max(remove.p.length, add.p.length)}-point PLD`,
    );
  const epsilon = worseDirection({ remove, add }, (pmf) => pmfEpsilon(pmf, delta));
  if (!Number.isFinite(epsilon))
    throw new Error(`the PLD's mass at infinity (${Math.max(remove.inf, add.inf).toExponential(2)}) exceeds delta`);
  const warnings: string[] = [];
  if (interval > requested)
    warnings.push(`PLD grid coarsened to Δ = ${interval.toPrecision(3)} to fit ${MAX_WINDOW} points (still an upper bound)`);
  return { epsilon, delta, accountant: 'pld', warnings, interval };
}

/**
 * Why the PLD discretisation cannot be trusted for this event at this grid, or undefined. The RDP bound
 * (cheap, valid everywhere) is computed first: where it is already infinite or no larger than the grid
 * spacing, the PLD cannot improve on it (and extreme σ such as 1e300 or 1e-300 made it run for minutes).
 */
function pldOutOfRange(event: DpEvent, rdp: EpsilonReport, requested: number): string | undefined {
  if (!Number.isFinite(rdp.epsilon)) return 'the RDP bound is infinite (σ too small for any finite ε)';
  if (rdp.epsilon <= requested) return `the RDP bound ${rdp.epsilon.toExponential(2)} is below the PLD grid spacing ${requested}`;
  const interval = chooseInterval(event, requested);
  if (interval > MAX_VALID_INTERVAL)
    return `the composition needs a PLD grid of Δ = ${interval.toPrecision(3)} > ${MAX_VALID_INTERVAL}, outside the range where the discretisation is validated`;
  return undefined;
}

/**
 * ε for the event at δ. NonPrivate anywhere gives Infinity by declaration (no fallback, no warning).
 * PLD answers are kept only inside the validated range and never above the RDP bound (both are upper
 * bounds, so the smaller is one too); outside it, or on any numerical failure, the RDP bound with a note.
 */
export function epsilonOf(event: DpEvent, delta: number, options: AccountingOptions = {}): EpsilonReport {
  checkDelta(delta);
  const accountant = options.accountant ?? DEFAULT_ACCOUNTANT;
  if (containsNonPrivate(event)) return { epsilon: Infinity, delta, accountant, warnings: [], nonPrivate: nonPrivateReason(event) };
  const rdp = rdpReport(event, delta);
  if (accountant === 'rdp') return rdp;
  const requested = options.interval ?? DEFAULT_INTERVAL;
  let failure = pldOutOfRange(event, rdp, requested);
  if (failure === undefined) {
    try {
      const report = pldReport(event, delta, requested);
      if (Number.isFinite(report.epsilon) && report.epsilon >= 0) {
        if (report.epsilon <= rdp.epsilon) return report;
        // A PLD above the RDP bound comes from a coarse grid: both are upper bounds, report the smaller.
        return {
          ...rdp,
          fellBackFrom: 'pld',
          warnings: [
            `PLD (${report.epsilon.toPrecision(6)}, Δ = ${report.interval}) is above the RDP bound; reporting the RDP bound`,
            ...rdp.warnings,
          ],
        };
      }
      failure = `PLD returned ${report.epsilon}`;
    } catch (error) {
      failure = (error as Error).message;
    }
  }
  return { ...rdp, fellBackFrom: 'pld', warnings: [`PLD accountant not used (${failure}); reporting the RDP bound`, ...rdp.warnings] };
}

/** δ for the event at ε (the max over both directions for PLD; the RDP bound when PLD cannot answer). */
export function deltaOf(event: DpEvent, epsilon: number, options: AccountingOptions = {}): number {
  if (!(epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${epsilon}`);
  if (containsNonPrivate(event)) return 1;
  const accountant = options.accountant ?? DEFAULT_ACCOUNTANT;
  const rdpDelta = deltaFromRdp(rdpCurve(event), epsilon);
  if (accountant === 'rdp') return rdpDelta;
  const requested = options.interval ?? DEFAULT_INTERVAL;
  if (chooseInterval(event, requested) > MAX_VALID_INTERVAL) return rdpDelta;
  try {
    const d = worseDirection(cachedPmfs(event, requested), (pmf) => pmfDelta(pmf, epsilon));
    if (Number.isFinite(d) && d >= 0) return Math.min(d, rdpDelta);
  } catch {
    // fall through to RDP
  }
  return rdpDelta;
}

export { MAX_FFT_SIZE };
