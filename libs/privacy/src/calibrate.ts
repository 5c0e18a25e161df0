// Calibration: σ for a target ε (tolerance in σ, always conservative) and the most steps for a given σ.
import { type AccountantName, DEFAULT_ACCOUNTANT, epsilonOf } from './accountant';
import { dpSgdEvent } from './events';

const SIGMA_RELATIVE_TOLERANCE = 1e-4;
const SIGMA_MIN = 1e-3;
const SIGMA_MAX = 1e6;

function checkTarget(p: { epsilon: number; delta: number; q: number }): void {
  if (!(p.epsilon > 0 && Number.isFinite(p.epsilon))) throw new RangeError(`target epsilon must be a finite number > 0, got ${p.epsilon}`);
  if (!(p.delta > 0 && p.delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${p.delta}`);
  if (!(p.q > 0 && p.q <= 1)) throw new RangeError(`q must be in (0, 1], got ${p.q}`);
}

/**
 * The smallest σ (to 1e-4 relative) whose ε at (q, steps, δ) is ≤ the target, by the named accountant.
 * The returned σ always satisfies ε ≤ target: the search keeps a bracket [lo, hi] with ε(hi) ≤ target
 * and returns hi. Steps: Illinois false position on log σ (few probes, which matters for PLD).
 */
export function calibrateSigma(p: { epsilon: number; delta: number; q: number; steps: number; accountant?: AccountantName }): {
  sigma: number;
  epsilon: number;
  accountant: AccountantName;
} {
  checkTarget(p);
  if (!(Number.isInteger(p.steps) && p.steps > 0)) throw new RangeError(`steps must be a positive integer, got ${p.steps}`);
  const accountant = p.accountant ?? DEFAULT_ACCOUNTANT;
  const eps = (sigma: number) => epsilonOf(dpSgdEvent({ q: p.q, sigma, steps: p.steps }), p.delta, { accountant }).epsilon;
  // f(log σ) = log ε(σ) − log target, decreasing; positive means too little noise.
  const f = (logSigma: number) => {
    const e = eps(Math.exp(logSigma));
    return e === 0 ? -Infinity : Math.log(e) - Math.log(p.epsilon);
  };
  // Bracket: RDP (cheap) gives an upper σ for PLD because RDP ≥ PLD; check, then expand as needed.
  let hi = accountant === 'pld' ? Math.log(calibrateSigma({ ...p, accountant: 'rdp' }).sigma) : Math.log(1);
  let fhi = f(hi);
  while (fhi > 0) {
    if (Math.exp(hi) >= SIGMA_MAX) throw new RangeError(`no σ ≤ ${SIGMA_MAX} reaches ε = ${p.epsilon} at δ = ${p.delta}`);
    hi += Math.LN2;
    fhi = f(hi);
  }
  let lo = hi - (accountant === 'pld' ? 0.15 : Math.LN2);
  let flo = f(lo);
  while (flo <= 0) {
    hi = lo;
    fhi = flo;
    if (Math.exp(lo) <= SIGMA_MIN) return { sigma: Math.exp(hi), epsilon: eps(Math.exp(hi)), accountant };
    lo -= Math.LN2;
    flo = f(lo);
  }
  let side = 0;
  while (hi - lo > Math.log1p(SIGMA_RELATIVE_TOLERANCE)) {
    // False position with the Illinois modification; bisection when a value is infinite.
    let mid = Number.isFinite(flo) && Number.isFinite(fhi) ? hi - (fhi * (hi - lo)) / (fhi - flo) : (lo + hi) / 2;
    const margin = (hi - lo) * 1e-3;
    if (!(mid > lo + margin && mid < hi - margin)) mid = (lo + hi) / 2;
    const fm = f(mid);
    if (fm > 0) {
      lo = mid;
      flo = fm;
      if (side === -1) fhi /= 2;
      side = -1;
    } else {
      hi = mid;
      fhi = fm;
      if (side === 1) flo /= 2;
      side = 1;
    }
  }
  const sigma = Math.exp(hi);
  return { sigma, epsilon: eps(sigma), accountant };
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
