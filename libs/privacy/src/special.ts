// Special functions in log space for the accountants.
//
// Why hand-written: no maintained npm package offers log erfc / log Φ in Float64 with full relative
// precision deep in the tails (which the PLD and fractional-order RDP need), and none is installed.
// Both pieces are textbook expansions whose accuracy we test against mpmath values.

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const SQRT2 = Math.SQRT2;

/** erf(x) for 0 <= x < ~3 by the all-positive series erf(x) = 2/√π e^{-x²} Σ 2^n x^{2n+1} / (2n+1)!!
 *  (no cancellation, unlike the alternating Taylor series). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** log of the continued fraction K with erfc(x) = e^{-x²} / (√π K), for x >= ERFC_CF_FROM (modified Lentz). */
function logErfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return -x * x - LOG_SQRT_PI - Math.log(f);
}

const ERFC_CF_FROM = 2.5;

/** log(erfc(x)), accurate in relative terms for all finite x (≈1e-14 near x = 2.5, better elsewhere). */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return -Infinity; // the continued fraction would not terminate
  if (x >= ERFC_CF_FROM) return logErfcContinuedFraction(x);
  if (x >= 0) return Math.log1p(-erfSeries(x));
  if (x > -ERFC_CF_FROM) return Math.log1p(erfSeries(-x));
  // erfc(−x) < 2.2e-17 for x ≤ −6, so 2 − erfc(−x) rounds to exactly 2: skip the continued fraction.
  if (x <= -6) return Math.LN2;
  // erfc(x) = 2 - erfc(-x) with erfc(-x) tiny.
  return Math.log(2 - Math.exp(logErfcContinuedFraction(-x)));
}

/** erfc(x). */
export function erfc(x: number): number {
  return Math.exp(logErfc(x));
}

/** log Φ(x), Φ the standard normal CDF. */
export function logNdtr(x: number): number {
  return logErfc(-x / SQRT2) - Math.LN2;
}

/** log(e^a + e^b) without overflow. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** log(e^a - e^b) for a >= b (−Infinity when equal). */
export function logSubExp(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (b > a) return NaN;
  if (a === b) return -Infinity;
  const d = b - a;
  // log(1 - e^d): use log(-expm1(d)) near 0 and log1p(-exp(d)) far from it (Mächler 2012).
  return a + (d > -Math.LN2 ? Math.log(-Math.expm1(d)) : Math.log1p(-Math.exp(d)));
}

/** log(e^x - 1) for x > 0. */
export function logExpm1(x: number): number {
  return x > 30 ? x + Math.log1p(-Math.exp(-x)) : Math.log(Math.expm1(x));
}
