// The accountant at the edges (issue 19 item 5): never an ε below what the mechanism provably spends, never
// above the RDP bound, no NaN, no exception, and extreme σ or step counts answered at once (RDP, with a note).
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { dpSgdEvent, epsilonOf, gaussianDelta } from '../src';

/**
 * The exact ε(δ) of ONE step of the Poisson-subsampled Gaussian in the remove direction, by bisection on
 * the hockey-stick identity δ(ε) = q·δ_G(log(1 + (e^ε − 1)/q)). Composition never lowers ε (the other
 * steps can be ignored), so it is a rigorous lower bound on the ε of any number of steps.
 */
function oneStepEpsilon(q: number, sigma: number, delta: number): number {
  const deltaAt = (eps: number) => q * gaussianDelta(sigma, Math.log1p(Math.expm1(eps) / q));
  if (deltaAt(0) <= delta) return 0;
  let lo = 0;
  let hi = 1;
  while (deltaAt(hi) > delta && hi < 1e7) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (deltaAt(mid) > delta) lo = mid;
    else hi = mid;
  }
  return lo;
}

const logUniform = (min: number, max: number) => fc.double({ min: Math.log10(min), max: Math.log10(max), noNaN: true }).map((x) => 10 ** x);

describe('the accountant at the edges', () => {
  test('the cases of the issue: 3e11 and 1e12 steps, σ = 1e300 and 1e-300', () => {
    for (const steps of [1e9, 3e11, 1e12]) {
      const event = dpSgdEvent({ q: 0.01, sigma: 1, steps });
      const pld = epsilonOf(event, 1e-5, { accountant: 'pld' });
      const rdp = epsilonOf(event, 1e-5, { accountant: 'rdp' });
      expect(pld.epsilon).toBe(rdp.epsilon);
      expect(pld.epsilon).toBeGreaterThan(8e4);
      expect(pld.fellBackFrom).toBe('pld');
      expect(pld.warnings[0]).toMatch(/outside the range where the discretisation is validated/);
    }
    const huge = epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1e300, steps: 100 }), 1e-5);
    expect(huge.epsilon).toBe(0);
    expect(huge.warnings[0]).toMatch(/below the PLD grid spacing/);
    const tiny = epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1e-300, steps: 100 }), 1e-5);
    expect(tiny.epsilon).toBe(Infinity);
    expect(tiny.warnings[0]).toMatch(/RDP bound is infinite/);
    expect(epsilonOf(dpSgdEvent({ q: 1, sigma: 1e300, steps: 100 }), 1e-5).epsilon).toBe(0);
    expect(epsilonOf(dpSgdEvent({ q: 1, sigma: 1e-300, steps: 1 }), 1e-5).epsilon).toBe(Infinity);
  });

  test('inside the validated range the PLD is kept, and stays below RDP (q = 0.01, σ = 1, 1000 steps)', () => {
    const event = dpSgdEvent({ q: 0.01, sigma: 1, steps: 1000 });
    const pld = epsilonOf(event, 1e-5);
    expect(pld.accountant).toBe('pld');
    expect(pld.epsilon).toBeGreaterThan(1.8);
    expect(pld.epsilon).toBeLessThan(epsilonOf(event, 1e-5, { accountant: 'rdp' }).epsilon);
  });

  test('property: one-step exact ε ≤ reported ε ≤ RDP bound, never NaN, never a throw (wide q, σ, steps, δ)', () => {
    fc.assert(
      fc.property(
        logUniform(1e-6, 1),
        fc.oneof(logUniform(1e-3, 1e4), logUniform(1e-300, 1e300)),
        fc.oneof(fc.integer({ min: 1, max: 1000 }), logUniform(1, 1e13).map(Math.round)),
        logUniform(1e-12, 0.1),
        (q, sigma, steps, delta) => {
          const event = dpSgdEvent({ q, sigma, steps });
          const reported = epsilonOf(event, delta).epsilon;
          const rdp = epsilonOf(event, delta, { accountant: 'rdp' }).epsilon;
          expect(Number.isNaN(reported)).toBe(false);
          expect(reported).toBeGreaterThanOrEqual(0);
          expect(reported).toBeLessThanOrEqual(rdp);
          const lower = oneStepEpsilon(q, sigma, delta);
          // The PLD's pessimistic grid may round down nothing: allow only float noise below the exact value.
          expect(reported).toBeGreaterThanOrEqual(lower * (1 - 1e-6) - 1e-9);
        },
      ),
      { numRuns: 60, seed: 20261130 },
    );
  }, 120_000);
});
