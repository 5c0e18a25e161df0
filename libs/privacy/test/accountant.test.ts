import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { deltaOf, dpSgdEvent, type DpEvent, epsilonOf, simplifyEvent } from '../src/index';
import { gaussianDelta } from '../src/pld';
import { epsilonFromRdp, rdpCurve } from '../src/rdp';
import oracle from './reference-oracle.json';

// A coarser grid keeps property tests fast; it is still an upper bound.
const fast = { interval: 1e-3 };

describe('PLD accountant: reference values', () => {
  test.each(oracle.analytic_gaussian.map((g) => [g.sigma, g.delta, Number(g.epsilon)]))(
    'q = 1 equals the analytic Gaussian (Balle and Wang 2018): σ=%f δ=%f (abs 2e-4, never below)',
    (sigma, delta, expected) => {
      const r = epsilonOf({ type: 'Gaussian', sigma }, delta);
      expect(r.accountant).toBe('pld');
      expect(r.epsilon).toBeGreaterThanOrEqual(expected - 1e-9);
      expect(r.epsilon - expected).toBeLessThan(2e-4);
    },
  );

  test('T Gaussian steps at q = 1 equal one Gaussian with σ/√T', () => {
    const a = epsilonOf(dpSgdEvent({ q: 1, sigma: 4, steps: 16 }), 1e-5).epsilon;
    const b = epsilonOf({ type: 'Gaussian', sigma: 1 }, 1e-5).epsilon;
    expect(a).toBeCloseTo(b, 9);
  });

  test('dp_accounting: σ = 4.530877117 is (1, 1e-6)-DP by RDP on fine orders; the tight profile is lower', () => {
    const orders = Array.from({ length: 99_000 }, (_, i) => 1 + (i + 1) * 0.001);
    const r = epsilonFromRdp(rdpCurve({ type: 'Gaussian', sigma: 4.530877117 }, orders), 1e-6);
    expect(r.epsilon).toBeCloseTo(1, 6);
    expect(gaussianDelta(4.530877117, 1)).toBeLessThan(1e-6);
    expect(epsilonOf({ type: 'Gaussian', sigma: 4.530877117 }, 1e-6).epsilon).toBeLessThan(1);
  });

  test('dp_accounting PLD and PRV (docs/privacy.md): q=0.01, σ=1, T=1000, δ=1e-5 gives 1.828', () => {
    expect(epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1, steps: 1000 }), 1e-5).epsilon).toBeCloseTo(1.828, 3);
  });

  test('tiny ε: q = 0.001, σ = 5, one step gives about 3e-4 (no absolute error floor)', () => {
    const r = epsilonOf(dpSgdEvent({ q: 0.001, sigma: 5, steps: 1 }), 1e-5);
    expect(r.epsilon).toBeGreaterThan(2.9e-4);
    expect(r.epsilon).toBeLessThan(3.2e-4);
    expect(epsilonOf(dpSgdEvent({ q: 0.001, sigma: 5, steps: 1 }), 1e-5, { accountant: 'rdp' }).epsilon).toBeGreaterThan(r.epsilon);
  });

  test('huge ε: q = 0.2, σ = 0.5, 10^4 steps gives thousands, finite, below RDP', () => {
    const event = dpSgdEvent({ q: 0.2, sigma: 0.5, steps: 10_000 });
    const pld = epsilonOf(event, 1e-5);
    const rdp = epsilonOf(event, 1e-5, { accountant: 'rdp' });
    expect(pld.epsilon).toBeGreaterThan(1000);
    expect(pld.epsilon).toBeLessThanOrEqual(rdp.epsilon);
    expect(Number.isFinite(pld.epsilon)).toBe(true);
  });

  test('tiny δ below the FFT round-off floor falls back to RDP and says so', () => {
    const r = epsilonOf(dpSgdEvent({ q: 0.01, sigma: 1, steps: 100 }), 1e-15);
    expect(r.accountant).toBe('rdp');
    expect(r.fellBackFrom).toBe('pld');
    expect(r.warnings[0]).toMatch(/PLD accountant not used/);
    expect(Number.isFinite(r.epsilon)).toBe(true);
  });

  test('NonPrivate anywhere gives Infinity by declaration, without a fallback', () => {
    const r = epsilonOf(
      { type: 'Composed', events: [dpSgdEvent({ q: 0.01, sigma: 1, steps: 10 }), { type: 'NonPrivate', reason: 'raw counts' }] },
      1e-5,
    );
    expect(r.epsilon).toBe(Infinity);
    expect(r.nonPrivate).toBe('raw counts');
    expect(r.fellBackFrom).toBeUndefined();
    expect(r.warnings).toEqual([]);
  });

  test('heterogeneous: a DP teacher then a DP student compose, between each alone and their RDP sum', () => {
    const teacher = dpSgdEvent({ q: 0.01, sigma: 1, steps: 300 });
    const student = dpSgdEvent({ q: 0.05, sigma: 2, steps: 200 });
    const both = epsilonOf({ type: 'Composed', events: [teacher, student] }, 1e-5, fast).epsilon;
    expect(both).toBeGreaterThan(epsilonOf(teacher, 1e-5, fast).epsilon);
    expect(both).toBeGreaterThan(epsilonOf(student, 1e-5, fast).epsilon);
    expect(both).toBeLessThan(epsilonOf({ type: 'Composed', events: [teacher, student] }, 1e-5, { accountant: 'rdp' }).epsilon);
  });

  test('Laplace: one Laplace(b) at q = 1 has ε ≤ 1/b, and PLD matches basic composition bounds', () => {
    const r = epsilonOf({ type: 'Laplace', b: 2 }, 1e-6);
    expect(r.epsilon).toBeLessThanOrEqual(0.5 + 1e-3);
    expect(epsilonOf({ type: 'PoissonSampled', q: 0.1, event: { type: 'Laplace', b: 1 } }, 1e-6).epsilon).toBeLessThanOrEqual(
      Math.log1p(0.1 * Math.expm1(1)) + 1e-3,
    );
  });
});

const setting = fc.record({
  q: fc.double({ min: 0.002, max: 0.2, noNaN: true }),
  sigma: fc.double({ min: 0.7, max: 3, noNaN: true }),
  steps: fc.integer({ min: 1, max: 200 }),
});

describe('properties (fast-check)', () => {
  test('ε falls with σ and rises with q, steps and 1/δ (both accountants)', () => {
    fc.assert(
      fc.property(setting, fc.constantFrom<'rdp' | 'pld'>('rdp', 'pld'), ({ q, sigma, steps }, accountant) => {
        const o = { accountant, ...fast };
        const e = (qq: number, s: number, t: number, d = 1e-5) => epsilonOf(dpSgdEvent({ q: qq, sigma: s, steps: t }), d, o).epsilon;
        const base = e(q, sigma, steps);
        expect(e(q, sigma * 1.2, steps)).toBeLessThanOrEqual(base);
        expect(e(Math.min(1, q * 1.5), sigma, steps)).toBeGreaterThanOrEqual(base);
        expect(e(q, sigma, steps + 5)).toBeGreaterThanOrEqual(base);
        expect(e(q, sigma, steps, 1e-7)).toBeGreaterThanOrEqual(base);
      }),
      { numRuns: 8 },
    );
  });

  test('RDP ≥ PLD ≥ 0', () => {
    fc.assert(
      fc.property(setting, ({ q, sigma, steps }) => {
        const ev = dpSgdEvent({ q, sigma, steps });
        const pld = epsilonOf(ev, 1e-5).epsilon;
        expect(pld).toBeGreaterThanOrEqual(0);
        expect(epsilonOf(ev, 1e-5, { accountant: 'rdp' }).epsilon).toBeGreaterThanOrEqual(pld);
      }),
      { numRuns: 6 },
    );
  });

  test('composition is order-independent; merging equal consecutive events and NoOp change nothing', () => {
    fc.assert(
      fc.property(setting, setting, ({ q, sigma, steps }, b) => {
        const a1 = dpSgdEvent({ q, sigma, steps });
        const b1 = dpSgdEvent(b);
        for (const accountant of ['rdp', 'pld'] as const) {
          const o = { accountant, ...fast };
          const ab = epsilonOf({ type: 'Composed', events: [a1, b1] }, 1e-5, o).epsilon;
          expect(epsilonOf({ type: 'Composed', events: [b1, a1] }, 1e-5, o).epsilon).toBeCloseTo(ab, 9);
          expect(epsilonOf({ type: 'Composed', events: [a1, { type: 'NoOp' }, b1] }, 1e-5, o).epsilon).toBeCloseTo(ab, 9);
          const split: DpEvent = {
            type: 'Composed',
            events: [dpSgdEvent({ q, sigma, steps: 1 }), dpSgdEvent({ q, sigma, steps: steps - 1 }), b1],
          };
          expect(epsilonOf(simplifyEvent(split), 1e-5, o).epsilon).toBeCloseTo(epsilonOf(split, 1e-5, o).epsilon, 9);
        }
      }),
      { numRuns: 5 },
    );
  });

  test('ε(δ(ε0)) at the KL bound maps back to ε = 0, not through round-off (fast-check seed 1102514587)', () => {
    const ev = dpSgdEvent({ q: 0.002, sigma: 0.7, steps: 1 });
    const d = deltaOf(ev, 0.3, { accountant: 'rdp' });
    expect(epsilonOf(ev, d, { accountant: 'rdp' }).epsilon).toBe(0);
  });

  test('ε(δ(ε0)) where δ(ε) is flat at the PLD mass at +∞ falls back, answering more, never less (seed 1915270839)', () => {
    const ev = dpSgdEvent({ q: 0.002, sigma: 0.7, steps: 2 });
    const d = deltaOf(ev, 1.8, { accountant: 'pld' });
    expect(deltaOf(ev, 3, { accountant: 'pld' })).toBe(d);
    expect(epsilonOf(ev, d, { accountant: 'pld' }).epsilon).toBeGreaterThanOrEqual(1.8);
  });

  test('ε(δ(ε0)) ≈ ε0', () => {
    fc.assert(
      fc.property(setting, fc.double({ min: 0.3, max: 3, noNaN: true }), ({ q, sigma, steps }, eps0) => {
        const ev = dpSgdEvent({ q, sigma, steps });
        for (const accountant of ['rdp', 'pld'] as const) {
          const d = deltaOf(ev, eps0, { accountant });
          if (d < 1e-9 || d > 0.5) return;
          // Where δ(ε) is flat (PLD: δ is the mass at +∞, a floor it never goes below) it has no inverse.
          if (deltaOf(ev, eps0 + 0.1, { accountant }) >= d) return;
          const eps = epsilonOf(ev, d, { accountant }).epsilon;
          // When δ(ε0) comes from RDP's KL bound (which holds for every ε ≥ 0), the way back gives ε = 0:
          // the conversion is not invertible there, but never answers more than ε0.
          if (accountant === 'rdp' && eps === 0) expect(eps).toBeLessThanOrEqual(eps0);
          else expect(eps).toBeCloseTo(eps0, 3);
        }
      }),
      { numRuns: 6 },
    );
  });
});
