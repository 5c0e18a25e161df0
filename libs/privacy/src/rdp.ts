// Rényi DP of the events (Mironov 2017; Mironov, Talwar, Zhang 2019) and the conversion to (ε, δ)
// (Balle et al. 2020 Thm 21 = Canonne, Kamath, Steinke 2020 Prop 12), following Opacus analysis/rdp.py
// and dp_accounting rdp_privacy_accountant.py, with the sign-tracked fractional series of Opacus.
import type { DpEvent } from './events';
import { logAddExp, logErfc, logExpm1, logSubExp } from './special';

/** Orders: a superset of Opacus's DEFAULT_ALPHAS and dp_accounting's DEFAULT_RDP_ORDERS, plus small and
 *  large orders (small ones matter for huge ε, large ones for tiny ε). */
export const DEFAULT_ORDERS: readonly number[] = (() => {
  const orders = [1.01, 1.02, 1.05];
  for (let i = 11; i <= 109; i++) orders.push(i / 10);
  for (let a = 11; a <= 64; a++) orders.push(a);
  orders.push(72, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024);
  return orders;
})();

/** log A_α for integer α, computed as log1p(Σ_{k≥2} C(α,k) q^k (1−q)^{α−k} (e^{(k²−k)/(2σ²)} − 1)): the
 *  k = 0, 1 terms cancel against 1 exactly, so tiny RDP values keep their relative precision. */
function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const inv2s2 = 1 / (2 * sigma * sigma);
  let logBinom = Math.log(alpha); // log C(α, 1)
  let max = -Infinity;
  const logTerms: number[] = [];
  for (let k = 2; k <= alpha; k++) {
    logBinom += Math.log(alpha - k + 1) - Math.log(k);
    const t = logBinom + k * logQ + (alpha - k) * log1mQ + logExpm1((k * k - k) * inv2s2);
    logTerms.push(t);
    if (t > max) max = t;
  }
  if (max === -Infinity) return 0;
  let sum = 0;
  for (const t of logTerms) sum += Math.exp(t - max);
  const logS = max + Math.log(sum);
  return logS < 0 ? Math.log1p(Math.exp(logS)) : logS + Math.log1p(Math.exp(-logS));
}

const MAX_SERIES_TERMS = 100_000;

/** log A_α for fractional α: the integral split at z0 into two series whose binomial coefficients
 *  alternate in sign beyond i > α; positive and negative parts are summed separately in log space. */
function logAFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const s2 = sigma * sigma;
  const z0 = s2 * Math.log(1 / q - 1) + 0.5;
  const sqrt2s = Math.SQRT2 * sigma;
  let pos = -Infinity;
  let neg = -Infinity;
  let logAbsBinom = 0; // log |C(α, 0)|
  let sign = 1;
  let prev = Infinity;
  for (let i = 0; i < MAX_SERIES_TERMS; i++) {
    if (i > 0) {
      const factor = (alpha - i + 1) / i;
      if (factor === 0) break;
      if (factor < 0) sign = -sign;
      logAbsBinom += Math.log(Math.abs(factor));
    }
    const j = alpha - i;
    const logS0 = logAbsBinom + i * logQ + j * log1mQ + (i * i - i) / (2 * s2) - Math.LN2 + logErfc((i - z0) / sqrt2s);
    const logS1 = logAbsBinom + j * logQ + i * log1mQ + (j * j - j) / (2 * s2) - Math.LN2 + logErfc((z0 - j) / sqrt2s);
    const term = logAddExp(logS0, logS1);
    if (sign > 0) pos = logAddExp(pos, term);
    else neg = logAddExp(neg, term);
    // Stop once terms decrease and are negligible next to the running total (relative 1e-16).
    if (i > alpha && term < prev && term < pos - 37) return logSubExp(pos, neg);
    prev = term;
  }
  return NaN; // did not converge: unknown (not ∞, which is a value); epsilonFromRdp excludes this order and says so
}

/** Above this σ the sampled RDP is taken as the unsampled one, α/(2σ²): an upper bound (sampling only
 *  lowers RDP), tiny anyway, and the series' σ² would overflow (σ = 1e300 ran for minutes). */
const SIGMA_HUGE = 1e8;
/** Below this σ the fractional series needs ~10^5 terms per order (σ = 1e-300 ran for 73 s): RDP is taken
 *  as ∞ (an upper bound; such a mechanism has ε ≈ ∞ at any δ below q anyway). */
const SIGMA_TINY = 1e-3;

/**
 * RDP ε_α of one step of the Poisson-subsampled Gaussian (sensitivity 1, add/remove). ∞ is an upper bound
 * (σ < SIGMA_TINY, α = ∞); NaN means the fractional-order series did not converge (that order is unknown).
 */
export function rdpSubsampledGaussian(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (q === 1 || sigma >= SIGMA_HUGE) return alpha / (2 * sigma * sigma);
  if (sigma < SIGMA_TINY) return Infinity;
  if (!Number.isFinite(alpha)) return Infinity;
  const logA = Number.isInteger(alpha) ? logAInteger(q, sigma, alpha) : logAFractional(q, sigma, alpha);
  return Math.max(0, logA / (alpha - 1));
}

/** RDP of the Laplace mechanism with scale b, sensitivity 1 (Mironov 2017, Prop. 6). */
export function rdpLaplace(b: number, alpha: number): number {
  const e = 1 / b;
  // log(α/(2α−1) e^{(α−1)/b} + (α−1)/(2α−1) e^{−α/b}) / (α−1), in log space.
  const log = logAddExp(Math.log(alpha / (2 * alpha - 1)) + (alpha - 1) * e, Math.log((alpha - 1) / (2 * alpha - 1)) - alpha * e);
  return Math.max(0, Math.min(e, log / (alpha - 1)));
}

/** RDP implied by pure ε-DP: the tight bound of Bun and Steinke 2016 (Prop. 3.3), simplified to
 *  ε + [log1p(e^{−(2α−1)ε}) − log1p(e^{−ε})]/(α−1); for tiny ε its cancellation is avoided via αε²/2 ≥ it. */
export function rdpOfPureDp(eps: number, alpha: number): number {
  if (eps === 0) return 0;
  if (eps < 1e-4) return Math.min(eps, (alpha * eps * eps) / 2);
  const tight = eps + (Math.log1p(Math.exp(-(2 * alpha - 1) * eps)) - Math.log1p(Math.exp(-eps))) / (alpha - 1);
  return Math.max(0, Math.min(eps, (alpha * eps * eps) / 2, tight * (1 + 1e-12)));
}

/** Pure-DP ε of Poisson sampling with rate q applied to an ε-DP mechanism (add/remove): log(1 + q(e^ε − 1)). */
export function amplifyPureDp(eps: number, q: number): number {
  return eps > 30 ? eps + Math.log(q + (1 - q) * Math.exp(-eps)) : Math.log1p(q * Math.expm1(eps));
}

/** An event reduced to the base mechanisms the analyses know. */
export type Leaf = { kind: 'gaussian'; q: number; sigma: number } | { kind: 'laplace'; q: number; b: number };

/** Flattens an event into (leaf, count) pairs; NoOp and count 0 disappear. Throws on NonPrivate (the
 *  caller handles it first) and on sampled compositions, which no accountant here analyses. */
export function leavesOf(e: DpEvent, count = 1, out: { leaf: Leaf; count: number }[] = []): { leaf: Leaf; count: number }[] {
  if (count === 0) return out;
  switch (e.type) {
    case 'NoOp':
      return out;
    case 'NonPrivate':
      throw new Error('NonPrivate event: epsilon is infinite by declaration');
    case 'Gaussian':
      out.push({ leaf: { kind: 'gaussian', q: 1, sigma: e.sigma }, count });
      return out;
    case 'Laplace':
      out.push({ leaf: { kind: 'laplace', q: 1, b: e.b }, count });
      return out;
    case 'SelfComposed':
      return leavesOf(e.event, count * e.count, out);
    case 'Composed':
      for (const child of e.events) leavesOf(child, count, out);
      return out;
    case 'PoissonSampled': {
      const inner = sampledBase(e.event);
      if (inner === 'noop') return out;
      out.push({ leaf: { ...inner, q: inner.q * e.q }, count });
      return out;
    }
  }
}

/** The single base mechanism under a PoissonSampled event. k-fold Gaussian(σ) is Gaussian(σ/√k). */
function sampledBase(e: DpEvent): Leaf | 'noop' {
  switch (e.type) {
    case 'NoOp':
      return 'noop';
    case 'Gaussian':
      return { kind: 'gaussian', q: 1, sigma: e.sigma };
    case 'Laplace':
      return { kind: 'laplace', q: 1, b: e.b };
    case 'PoissonSampled': {
      const inner = sampledBase(e.event);
      return inner === 'noop' ? inner : { ...inner, q: inner.q * e.q };
    }
    case 'SelfComposed': {
      if (e.count === 0) return 'noop';
      if (e.count === 1) return sampledBase(e.event);
      if (e.event.type === 'Gaussian') return { kind: 'gaussian', q: 1, sigma: e.event.sigma / Math.sqrt(e.count) };
      break;
    }
    case 'Composed': {
      const nonTrivial = e.events.filter((x) => x.type !== 'NoOp');
      if (nonTrivial.length === 0) return 'noop';
      if (nonTrivial.length === 1) return sampledBase(nonTrivial[0]);
      break;
    }
    case 'NonPrivate':
      throw new Error('NonPrivate event: epsilon is infinite by declaration');
  }
  throw new Error(
    `PoissonSampled(${e.type}) is not supported: sample a single Gaussian or Laplace mechanism (put the composition outside the sampling)`,
  );
}

const leafCache = new Map<string, Float64Array>();
const LEAF_CACHE_LIMIT = 256;

/** RDP of one application of a leaf at every order (cached per leaf and order set). */
export function rdpOfLeaf(leaf: Leaf, orders: readonly number[] = DEFAULT_ORDERS): Float64Array {
  const key = `${leaf.kind}|${leaf.q}|${leaf.kind === 'gaussian' ? leaf.sigma : leaf.b}|${orders === DEFAULT_ORDERS ? '' : orders.join(',')}`;
  const hit = leafCache.get(key);
  if (hit) return hit;
  const r = new Float64Array(orders.length);
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i];
    if (leaf.kind === 'gaussian') r[i] = rdpSubsampledGaussian(leaf.q, leaf.sigma, a);
    else r[i] = leaf.q === 1 ? rdpLaplace(leaf.b, a) : rdpOfPureDp(amplifyPureDp(1 / leaf.b, leaf.q), a);
  }
  if (leafCache.size >= LEAF_CACHE_LIMIT) leafCache.delete(leafCache.keys().next().value as string);
  leafCache.set(key, r);
  return r;
}

/** Pure-DP ε of a leaf (Infinity for the Gaussian). */
export function pureEpsilonOfLeaf(leaf: Leaf): number {
  return leaf.kind === 'laplace' ? amplifyPureDp(1 / leaf.b, leaf.q) : Infinity;
}

export interface RdpCurve {
  orders: readonly number[];
  rdp: Float64Array;
  /** Basic composition of pure-DP ε (Infinity unless every mechanism is pure DP). */
  pureEpsilon: number;
}

/** RDP curve of a (NonPrivate-free) event: per-order sums over its leaves. */
export function rdpCurve(e: DpEvent, orders: readonly number[] = DEFAULT_ORDERS): RdpCurve {
  const rdp = new Float64Array(orders.length);
  let pureEpsilon = 0;
  for (const { leaf, count } of leavesOf(e)) {
    const r = rdpOfLeaf(leaf, orders);
    for (let i = 0; i < r.length; i++) rdp[i] += count * r[i];
    pureEpsilon += count * pureEpsilonOfLeaf(leaf);
  }
  return { orders, rdp, pureEpsilon };
}

/** The smallest order any conversion uses: lower orders are numerically unsafe (TF Privacy #166). */
const MIN_CONVERSION_ORDER = 1.01;

export interface RdpEpsilon {
  epsilon: number;
  optimalOrder: number;
  warnings: string[];
}

/** ε(δ) = max(0, min_α R(α) + log1p(−1/α) − (log δ + log α)/(α − 1)), with the KL shortcut. */
export function epsilonFromRdp(curve: RdpCurve, delta: number): RdpEpsilon {
  const { orders, rdp } = curve;
  const logDelta = Math.log(delta);
  let best = Infinity;
  let bestOrder = NaN;
  let excluded = 0;
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i];
    const r = rdp[i];
    if (a < MIN_CONVERSION_ORDER) continue;
    if (!Number.isFinite(r)) {
      // NaN: the series did not converge at this order. ∞ is a bound, not a failure (e.g. σ < SIGMA_TINY,
      // where every order is ∞ by design and ε is ∞): nothing to warn about, the order just cannot help.
      if (Number.isNaN(r)) excluded++;
      continue;
    }
    // (0, δ)-DP holds when δ ≥ sqrt(1 − e^{−R}) (the KL bound, as dp_accounting). deltaFromRdp uses the same
    // klDelta, so a δ it returns from this bound maps back to ε = 0 exactly, not through round-off.
    const eps = delta >= klDelta(r) ? 0 : r + Math.log1p(-1 / a) - (logDelta + Math.log(a)) / (a - 1);
    if (eps < best) {
      best = eps;
      bestOrder = a;
    }
  }
  const warnings: string[] = [];
  if (excluded > 0) warnings.push(`${excluded} RDP order(s) did not converge and were excluded`);
  const usable = orders.filter((a) => a >= MIN_CONVERSION_ORDER);
  if (best > 0 && Number.isFinite(best) && (bestOrder === usable[0] || bestOrder === usable[usable.length - 1]))
    warnings.push(
      `the optimal RDP order ${bestOrder} is at the edge of the order set [${usable[0]}, ${usable[usable.length - 1]}]; ε may be overestimated`,
    );
  let epsilon = Math.max(0, best);
  if (curve.pureEpsilon < epsilon) epsilon = curve.pureEpsilon;
  return { epsilon, optimalOrder: bestOrder, warnings };
}

/** δ(ε) = min_α exp((α−1)(R − ε + log1p(−1/α)) − log α), and the KL bound sqrt(1 − e^{−R}); capped at 1. */
export function deltaFromRdp(curve: RdpCurve, epsilon: number): number {
  if (epsilon >= curve.pureEpsilon) return 0;
  let best = 1;
  for (let i = 0; i < curve.orders.length; i++) {
    const a = curve.orders[i];
    const r = curve.rdp[i];
    if (a < MIN_CONVERSION_ORDER || !Number.isFinite(r)) continue;
    best = Math.min(best, Math.exp((a - 1) * (r - epsilon + Math.log1p(-1 / a)) - Math.log(a)), klDelta(r));
  }
  return best;
}

/** The δ of (0, δ)-DP implied by RDP R ≥ KL: total variation ≤ sqrt(1 − e^{−KL}) (Bretagnolle–Huber). */
const klDelta = (r: number): number => Math.sqrt(-Math.expm1(-r));
