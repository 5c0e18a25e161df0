// Calibration: σ for a target ε (tolerance in σ, always conservative) and the most steps for a given σ.
import { type AccountantName, DEFAULT_ACCOUNTANT, DEFAULT_INTERVAL, epsilonOf } from './accountant';
import { dpSgdEvent } from './events';

const SIGMA_RELATIVE_TOLERANCE = 1e-4;
const SIGMA_MIN = 1e-3;
const SIGMA_MAX = 1e6;
/** The PLD calibration's first pass runs on a grid this much coarser than the final one. */
const COARSE_FACTOR = 10;

function checkTarget(p: { epsilon: number; delta: number; q: number }): void {
  if (!(p.epsilon > 0 && Number.isFinite(p.epsilon))) throw new RangeError(`target epsilon must be a finite number > 0, got ${p.epsilon}`);
  if (!(p.delta > 0 && p.delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${p.delta}`);
  if (!(p.q > 0 && p.q <= 1)) throw new RangeError(`q must be in (0, 1], got ${p.q}`);
}

/** A decreasing function's value at a point: f > 0 means "too little noise". */
interface Probe {
  x: number;
  f: number;
}

/**
 * Shrinks a bracket lo < hi (f(lo) > 0 ≥ f(hi)) of a decreasing f until hi − lo ≤ width; returns the
 * final bracket. Each step estimates the root r by false position (Illinois-weighted) and probes just
 * past it (r ± 0.45·width) rather than at it, so that an accurate estimate closes the bracket in two
 * probes instead of creeping up on the root from one side (plain false position on a curved f).
 * After two steps in a row that fail to halve the bracket comes a bisection, which bounds the probe count.
 */
function shrinkBracket(f: (x: number) => number, lo: Probe, hi: Probe, width: number): { lo: Probe; hi: Probe } {
  let wl = lo.f; // Illinois weights
  let wh = hi.f;
  let side = 0;
  let slowSteps = 0;
  while (hi.x - lo.x > width) {
    const before = hi.x - lo.x;
    const margin = Math.min(width * 0.05, before * 0.25);
    let x: number;
    if (slowSteps >= 2 || !Number.isFinite(wl) || !Number.isFinite(wh)) {
      x = (lo.x + hi.x) / 2;
    } else {
      const r = hi.x - (wh * (hi.x - lo.x)) / (wh - wl);
      if (r - lo.x < 0.5 * width)
        x = lo.x + 0.95 * width; // lo is already close: aim to set hi
      else if (hi.x - r < 0.5 * width)
        x = hi.x - 0.95 * width; // hi is already close: aim to set lo
      else x = hi.x - r > r - lo.x ? r + 0.45 * width : r - 0.45 * width;
    }
    x = Math.min(hi.x - margin, Math.max(lo.x + margin, x));
    const probe = { x, f: f(x) };
    if (probe.f > 0) {
      lo = probe;
      wl = probe.f;
      if (side === -1) wh /= 2;
      side = -1;
    } else {
      hi = probe;
      wh = probe.f;
      if (side === 1) wl /= 2;
      side = 1;
    }
    slowSteps = hi.x - lo.x > before / 2 ? slowSteps + 1 : 0;
  }
  return { lo, hi };
}

/** From a point, walks by growing steps (first `step`, then doubling) in the given direction until f
 *  changes sign; returns the bracket. Throws outside [SIGMA_MIN, SIGMA_MAX] going up. */
function bracketFrom(
  f: (x: number) => number,
  start: Probe,
  step: number,
  target: number,
  delta: number,
): { lo: Probe; hi: Probe } | { atMinimum: Probe } {
  let p = start;
  if (p.f > 0) {
    for (;;) {
      if (Math.exp(p.x) >= SIGMA_MAX) throw new RangeError(`no σ ≤ ${SIGMA_MAX} reaches ε = ${target} at δ = ${delta}`);
      const next = { x: p.x + step, f: f(p.x + step) };
      if (next.f <= 0) return { lo: p, hi: next };
      p = next;
      step *= 2;
    }
  }
  for (;;) {
    if (Math.exp(p.x) <= SIGMA_MIN) return { atMinimum: p };
    const next = { x: p.x - step, f: f(p.x - step) };
    if (next.f > 0) return { lo: next, hi: p };
    p = next;
    step *= 2;
  }
}

/**
 * The smallest σ (to 1e-4 relative) whose ε at (q, steps, δ) is ≤ the target, by the named accountant.
 * The returned σ always satisfies ε ≤ target on the accountant's own (fine) grid: the search keeps a
 * bracket [lo, hi] with ε(hi) ≤ target and returns hi.
 *
 * PLD: the search first runs on a 10× coarser grid (probes ~10× cheaper; the coarse connect-the-dots
 * PLD dominates the fine one, so its σ is a near-tight upper end), then finishes on the fine grid from
 * there with the slope it learnt, typically in 2–4 fine probes. Every claim about the answer is made on
 * the fine grid.
 */
export function calibrateSigma(p: { epsilon: number; delta: number; q: number; steps: number; accountant?: AccountantName }): {
  sigma: number;
  epsilon: number;
  accountant: AccountantName;
} {
  checkTarget(p);
  if (!(Number.isInteger(p.steps) && p.steps > 0)) throw new RangeError(`steps must be a positive integer, got ${p.steps}`);
  const accountant = p.accountant ?? DEFAULT_ACCOUNTANT;
  const width = Math.log1p(SIGMA_RELATIVE_TOLERANCE);
  // f(log σ) = log ε(σ) − log target, decreasing; positive means too little noise.
  const objective = (interval?: number) => (logSigma: number) => {
    const e = epsilonOf(dpSgdEvent({ q: p.q, sigma: Math.exp(logSigma), steps: p.steps }), p.delta, { accountant, interval }).epsilon;
    return e === 0 ? -Infinity : Math.log(e) - Math.log(p.epsilon);
  };
  const solve = (f: (x: number) => number, start: number, step: number) => {
    const b = bracketFrom(f, { x: start, f: f(start) }, step, p.epsilon, p.delta);
    return 'atMinimum' in b ? b : shrinkBracket(f, b.lo, b.hi, width);
  };
  const answer = (logSigma: number) => {
    const sigma = Math.exp(logSigma);
    return { sigma, epsilon: epsilonOf(dpSgdEvent({ q: p.q, sigma, steps: p.steps }), p.delta, { accountant }).epsilon, accountant };
  };

  if (accountant === 'rdp') {
    const r = solve(objective(), 0, Math.LN2);
    return answer('atMinimum' in r ? r.atMinimum.x : r.hi.x);
  }
  // Bracket from RDP (cheap; RDP ≥ PLD so its σ is an upper end), then the coarse grid.
  const rdpSigma = calibrateSigma({ ...p, accountant: 'rdp' }).sigma;
  const coarse = solve(objective(COARSE_FACTOR * DEFAULT_INTERVAL), Math.log(rdpSigma), 0.15);
  const fine = objective();
  if ('atMinimum' in coarse) {
    const f = fine(coarse.atMinimum.x);
    if (f <= 0) return answer(coarse.atMinimum.x);
    const r = solve(fine, coarse.atMinimum.x, width);
    return answer('atMinimum' in r ? r.atMinimum.x : r.hi.x);
  }
  // Fine grid: start at the coarse answer (expected to satisfy the target, since the fine PLD is
  // tighter) and probe just below the root that the coarse slope predicts.
  const slope = (coarse.hi.f - coarse.lo.f) / (coarse.hi.x - coarse.lo.x);
  const start = { x: coarse.hi.x, f: fine(coarse.hi.x) };
  let bracket: { lo: Probe; hi: Probe } | { atMinimum: Probe } | undefined;
  if (start.f <= 0 && slope < 0 && Number.isFinite(start.f) && Number.isFinite(slope)) {
    // Probe just above the predicted root (a new upper end), then one bracket-width below it.
    const predicted = start.x - start.f / slope;
    let hi = start;
    if (predicted + 0.45 * width < start.x - 0.5 * width) {
      const above = { x: predicted + 0.45 * width, f: fine(predicted + 0.45 * width) };
      if (above.f > 0) bracket = { lo: above, hi: start };
      else hi = above;
    }
    if (!bracket) {
      const x = hi.x - 0.95 * width;
      const below = { x, f: fine(x) };
      bracket = below.f > 0 ? { lo: below, hi } : bracketFrom(fine, below, width, p.epsilon, p.delta);
    }
  } else {
    bracket = bracketFrom(fine, start, width, p.epsilon, p.delta);
  }
  if ('atMinimum' in bracket) return answer(bracket.atMinimum.x);
  return answer(shrinkBracket(fine, bracket.lo, bracket.hi, width).hi.x);
}

/** The largest number of steps whose ε at (q, σ, δ) is ≤ the target (0 if even one step exceeds it). */
export function calibrateSteps(p: { epsilon: number; delta: number; q: number; sigma: number; accountant?: AccountantName }): {
  steps: number;
  epsilon: number;
} {
  checkTarget(p);
  if (!(p.sigma > 0)) throw new RangeError(`sigma must be > 0, got ${p.sigma}`);
  const accountant = p.accountant ?? DEFAULT_ACCOUNTANT;
  const eps = (steps: number) => epsilonOf(dpSgdEvent({ q: p.q, sigma: p.sigma, steps }), p.delta, { accountant }).epsilon;
  if (eps(1) > p.epsilon) return { steps: 0, epsilon: 0 };
  // For PLD, RDP's answer is a valid lower end (RDP ≥ PLD).
  let good = accountant === 'pld' ? Math.max(1, calibrateSteps({ ...p, accountant: 'rdp' }).steps) : 1;
  let bad = good * 2;
  while (eps(bad) <= p.epsilon) {
    good = bad;
    bad *= 2;
    if (bad > 1e9) return { steps: good, epsilon: eps(good) };
  }
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2);
    if (eps(mid) <= p.epsilon) good = mid;
    else bad = mid;
  }
  return { steps: good, epsilon: eps(good) };
}
