// Privacy loss distributions (PLD) with pessimistic connect-the-dots discretisation and FFT
// composition, after Google dp_accounting (Doroshenko et al. 2022, "Connect the Dots"). Both
// directions of the add/remove relation are composed separately; ε is the max over the two.
//
// A PMF here is a discrete privacy loss distribution: mass p[k] at loss (start + k)·Δ, plus mass `inf`
// at +∞. Every step only moves mass to larger losses (or to +∞), so ε and δ read from it are upper
// bounds for the true mechanism up to floating-point round-off.
import { circularSelfConvolve, convolve, nextFftSize } from './fft';
import type { Leaf } from './rdp';
import { amplifyPureDp } from './rdp';
import { logNdtr } from './special';

export interface Pmf {
  /** Grid index of p[0]; loss = (start + k)·Δ. */
  start: number;
  p: Float64Array;
  /** Mass at +∞ (includes every truncated right tail). */
  inf: number;
  /** The grid spacing Δ. */
  interval: number;
}

/** Tail mass each truncation may move (to +∞ or to the first kept bin). */
export const TAIL_MASS = 1e-15;
/** The largest FFT the accountant runs. */
export const MAX_FFT_SIZE = 2 ** 22;

/** Privacy profile δ(ε) of the Gaussian mechanism, sensitivity 1 (Balle and Wang 2018), symmetric. */
export function gaussianDelta(sigma: number, eps: number): number {
  const la = logNdtr(1 / (2 * sigma) - eps * sigma);
  const lb = logNdtr(-1 / (2 * sigma) - eps * sigma);
  const d = eps + lb - la;
  if (d >= 0) return 0;
  return Math.exp(la) * -Math.expm1(d);
}

/** Privacy profile of the Laplace mechanism with scale b, sensitivity 1. */
export function laplaceDelta(b: number, eps: number): number {
  const e0 = 1 / b;
  if (eps >= e0) return 0;
  if (eps <= -e0) return -Math.expm1(eps);
  return -Math.expm1((eps - e0) / 2);
}

interface Profile {
  delta: (eps: number) => number;
  lo: number;
  hi: number;
}

/** Base mechanism (q = 1): its symmetric profile and the loss range outside which δ is negligible. */
function baseProfile(leaf: Leaf): Profile {
  if (leaf.kind === 'laplace') {
    const e0 = 1 / leaf.b;
    return { delta: (e) => laplaceDelta(leaf.b, e), lo: -e0, hi: e0 };
  }
  const sigma = leaf.sigma;
  // Φ(−z) ≤ LEAF_TAIL bounds δ(E) for E = (z + 1/(2σ))/σ.
  const z = 11.6;
  const e = (z + 1 / (2 * sigma)) / sigma;
  return { delta: (x) => gaussianDelta(sigma, x), lo: -e, hi: e };
}

/** Profiles of the two directions of Poisson subsampling with rate q < 1, from the base profile δ_b:
 *  remove: δ(ε) = q·δ_b(log(1 + (e^ε − 1)/q)); add: δ(ε) = (1 − (1−q)e^ε)·δ_b(log(q e^ε / (1 − (1−q)e^ε))). */
function sampledProfiles(base: Profile, q: number): { remove: Profile; add: Profile } {
  const log1mq = Math.log1p(-q);
  const logq = Math.log(q);
  const top = amplifyPureDp(base.hi, q);
  const remove: Profile = {
    lo: log1mq,
    hi: top,
    delta: (e) => {
      if (e <= log1mq) return -Math.expm1(e);
      const inner = e <= 0 ? Math.log1p(Math.expm1(e) / q) : e + Math.log1p((q - 1) * Math.exp(-e)) - logq;
      return q * base.delta(inner);
    },
  };
  const add: Profile = {
    lo: -top,
    hi: -log1mq,
    delta: (e) => {
      if (e >= -log1mq) return 0;
      const f = -Math.expm1(e + log1mq);
      return f * base.delta(logq + e - Math.log(f));
    },
  };
  return { remove, add };
}

/** Connect-the-dots PMF from a privacy profile on the grid iΔ covering [lo, hi]: the tightest discrete
 *  PLD whose profile dominates the true one (the chord of a convex curve in e^ε lies above it). */
function connectTheDots(profile: Profile, interval: number): Pmf {
  const start = Math.floor(profile.lo / interval);
  const end = Math.max(start + 1, Math.ceil(profile.hi / interval));
  const n = end - start + 1;
  const d = new Float64Array(n);
  for (let k = 0; k < n; k++) d[k] = Math.min(1, Math.max(0, profile.delta((start + k) * interval)));
  const em1 = Math.expm1(interval);
  const emm1 = -Math.expm1(-interval);
  const p = new Float64Array(n);
  p[0] = 1 - d[0] - (d[0] - d[1]) / em1;
  for (let k = 1; k < n - 1; k++) p[k] = (d[k - 1] - d[k]) / emm1 - (d[k] - d[k + 1]) / em1;
  p[n - 1] = (d[n - 2] - d[n - 1]) / emm1;
  for (let k = 0; k < n; k++) if (!(p[k] > 0)) p[k] = 0;
  return truncate({ start, p, inf: d[n - 1], interval }, TAIL_MASS);
}

const leafCache = new Map<string, { remove: Pmf; add: Pmf }>();

/** PMFs of one application of a leaf, per direction (the same object when symmetric, q = 1). Cached per
 *  (leaf, Δ): calibrating the step count or asking for several δ re-uses the discretisation. PMFs are
 *  never mutated after construction, so sharing them is safe. */
export function leafPmfs(leaf: Leaf, interval: number): { remove: Pmf; add: Pmf } {
  const key = `${interval}|${JSON.stringify(leaf)}`;
  let hit = leafCache.get(key);
  if (!hit) {
    hit = discretiseLeaf(leaf, interval);
    if (leafCache.size >= 16) leafCache.delete(leafCache.keys().next().value as string);
    leafCache.set(key, hit);
  }
  return hit;
}

function discretiseLeaf(leaf: Leaf, interval: number): { remove: Pmf; add: Pmf } {
  const base = baseProfile(leaf);
  if (leaf.q === 1) {
    const pmf = connectTheDots(base, interval);
    return { remove: pmf, add: pmf };
  }
  const { remove, add } = sampledProfiles(base, leaf.q);
  return { remove: connectTheDots(remove, interval), add: connectTheDots(add, interval) };
}

/** Drops negative round-off, moves a left tail of mass ≤ τ up into the first kept bin and a right tail
 *  of mass ≤ τ to +∞ (both pessimistic). */
export function truncate(pmf: Pmf, tau: number): Pmf {
  const p = pmf.p;
  let lo = 0;
  let left = 0;
  while (lo < p.length - 1 && left + Math.max(0, p[lo]) <= tau) left += Math.max(0, p[lo++]);
  let hi = p.length - 1;
  let right = 0;
  while (hi > lo && right + Math.max(0, p[hi]) <= tau) right += Math.max(0, p[hi--]);
  const out = p.slice(lo, hi + 1);
  for (let k = 0; k < out.length; k++) if (!(out[k] > 0)) out[k] = 0;
  out[0] += left;
  return { start: pmf.start + lo, p: out, inf: Math.min(1, pmf.inf + right), interval: pmf.interval };
}

/**
 * A bound on the absolute FFT round-off an N-point composition can put into δ(ε): each bin carries noise of
 * up to ~log2(N)·2^-52 (the PMF sums to 1) and δ sums up to N bins. It is added to the mass at +∞, which
 * raises δ(ε) for every ε, so round-off can only make the accountant pessimistic, never optimistic.
 */
export const fftRoundoff = (n: number): number => 2.2e-16 * n * Math.log2(Math.max(n, 2));

/** The identity for composition (NoOp). */
export function unitPmf(interval: number): Pmf {
  return { start: 0, p: Float64Array.of(1), inf: 0, interval };
}

export function composePmfs(a: Pmf, b: Pmf, tau = TAIL_MASS): Pmf {
  // A one-point PMF (the unit, or a deterministic loss) only shifts and scales: no FFT needed.
  if (a.p.length === 1 && a.p[0] === 1 && a.inf === 0) return { ...b, start: a.start + b.start };
  if (b.p.length === 1 && b.p[0] === 1 && b.inf === 0) return { ...a, start: a.start + b.start };
  if (a.p.length + b.p.length > MAX_FFT_SIZE) throw new Error(`PLD grid too large (${a.p.length + b.p.length} points)`);
  const p = convolve(a.p, b.p);
  const inf = 1 - (1 - a.inf) * (1 - b.inf) + fftRoundoff(p.length);
  return truncate({ start: a.start + b.start, p, inf: Math.min(1, inf), interval: a.interval }, tau);
}

/** log E[e^{tL}]. The factors e^{t(ℓ_k − ℓ_max)} come from a geometric recurrence re-anchored with an
 *  exact exp every 64 bins (relative error ≲ 64·2^-53, far below what sizing the window needs), which
 *  is ~30× cheaper than one exp per bin. */
function logMgf(pmf: Pmf, t: number): number {
  const { p, start, interval } = pmf;
  const tmax = t * (t > 0 ? start + p.length - 1 : start) * interval;
  const ratio = Math.exp(t * interval);
  let s = 0;
  for (let k0 = 0; k0 < p.length; k0 += 64) {
    let f = Math.exp(t * (start + k0) * interval - tmax);
    const k1 = Math.min(p.length, k0 + 64);
    for (let k = k0; k < k1; k++, f *= ratio) if (p[k] > 0) s += p[k] * f;
  }
  // The slack covers the recurrence's round-off, so the bound stays an upper bound.
  return tmax + Math.log(s) + 1e-12;
}

/** Chernoff bounds on the n-fold sum of losses: outside [lo, hi] lies mass ≤ τ on each side. */
export function composedSupport(pmf: Pmf, n: number, tau: number): { lo: number; hi: number } {
  const first = pmf.start * pmf.interval;
  const last = (pmf.start + pmf.p.length - 1) * pmf.interval;
  let hi = n * last;
  let lo = n * first;
  const logTau = Math.log(tau);
  for (let t = 1 / 64; t <= 1024; t *= 2) {
    hi = Math.min(hi, (n * logMgf(pmf, t) - logTau) / t);
    lo = Math.max(lo, (logTau - n * logMgf(pmf, -t)) / t);
  }
  return { lo, hi };
}

/** n-fold composition of a PMF with itself: one FFT power on a window sized by Chernoff bounds. Mass
 *  outside the window (≤ 2τ) wraps around; adding 2τ to +∞ keeps the result pessimistic. `power` is
 *  the circular n-fold self-convolution (replaceable so tests can compare against the reference). */
export function selfComposePmf(pmf: Pmf, n: number, tau = TAIL_MASS, power = circularSelfConvolve): Pmf {
  if (n === 0) return unitPmf(pmf.interval);
  if (n === 1) return pmf;
  const { lo, hi } = composedSupport(pmf, n, tau);
  const loIdx = Math.floor(lo / pmf.interval);
  const hiIdx = Math.ceil(hi / pmf.interval);
  const width = hiIdx - loIdx + 1;
  const size = nextFftSize(Math.max(width, pmf.p.length));
  if (size > MAX_FFT_SIZE) throw new Error(`PLD grid too large (${size} points)`);
  const r = power(pmf.p, size, n);
  const out = new Float64Array(width);
  // Window index w holds composed grid index loIdx + w, i.e. circular bin (loIdx + w − n·start) mod size.
  let k = (((loIdx - n * pmf.start) % size) + size) % size;
  for (let w = 0; w < width; w++) {
    const v = r[k];
    out[w] = v > 0 ? v : 0;
    if (++k === size) k = 0;
  }
  const inf = Math.min(1, -Math.expm1(n * Math.log1p(-pmf.inf)) + 2 * tau + fftRoundoff(size));
  return truncate({ start: loIdx, p: out, inf, interval: pmf.interval }, tau);
}

/** Smallest ε ≥ 0 with δ(ε) ≤ delta for the PMF (Infinity when the mass at +∞ alone exceeds delta). */
export function pmfEpsilon(pmf: Pmf, delta: number): number {
  if (pmf.inf >= delta) return Infinity;
  const { p, start, interval } = pmf;
  const decay = Math.exp(-interval);
  let u = pmf.inf; // inf + Σ_{j≥i} p_j
  let w = 0; // Σ_{j≥i} p_j e^{ε_i − ε_j}
  for (let i = p.length - 1; i >= 0; i--) {
    u += p[i];
    w = p[i] + decay * w;
    const atPrevious = u - decay * w; // δ(ε_{i−1})
    if (atPrevious > delta || i === 0) {
      if (w <= 0) continue;
      const eps = (start + i) * interval + Math.log((u - delta) / w);
      return Math.max(0, eps);
    }
    if ((start + i) * interval <= 0) return 0;
  }
  return 0;
}

/** δ(ε) of the PMF: inf + Σ_{ℓ > ε} p(ℓ)(1 − e^{ε − ℓ}). */
export function pmfDelta(pmf: Pmf, eps: number): number {
  let d = pmf.inf;
  const { p, start, interval } = pmf;
  for (let k = p.length - 1; k >= 0; k--) {
    const loss = (start + k) * interval;
    if (loss <= eps) break;
    d += p[k] * -Math.expm1(eps - loss);
  }
  return Math.min(1, d);
}
