// The speed-ups (real-input FFT, underflow skipping in the spectral power, one-point composition,
// coarse-then-fine calibration) against the straightforward paths they replaced.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibrateSigma, dpSgdEvent, epsilonOf } from '../src/index';
import { circularSelfConvolve, circularSelfConvolveComplex, irfft, naiveDft, nextFftSize, rfft } from '../src/fft';
import { composedPmfs } from '../src/accountant';
import type { DpEvent } from '../src/events';
import { composePmfs, fftRoundoff, leafPmfs, type Pmf, pmfEpsilon, selfComposePmf, unitPmf } from '../src/pld';
import { leavesOf } from '../src/rdp';

describe('FFT lengths 3·2^k', () => {
  test('nextFftSize is the smallest 2^k or 3·2^k (k ≥ 1) at or above n', () => {
    const sizes: number[] = [];
    for (let p = 2; p <= 2 ** 14; p *= 2) sizes.push(p, 3 * p);
    for (let n = 1; n <= 5000; n++) expect(nextFftSize(n)).toBe(Math.min(...sizes.filter((s) => s >= n)));
  });
});

describe('real-input FFT', () => {
  test('rfft equals the naive DFT on bins 0..n/2 (with zero padding), and irfft inverts it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.boolean(),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 128 }),
        (logN, three, values) => {
          const n = three ? 3 * 2 ** logN : 2 ** logN;
          const x = Float64Array.from(values.slice(0, n));
          const padded = new Float64Array(n);
          padded.set(x);
          const expected = naiveDft(padded, new Float64Array(n));
          const got = rfft(x, n);
          expect(got.re.length).toBe(n / 2 + 1);
          for (let k = 0; k <= n / 2; k++) {
            expect(Math.abs(got.re[k] - expected.re[k])).toBeLessThan(1e-12);
            expect(Math.abs(got.im[k] - expected.im[k])).toBeLessThan(1e-12);
          }
          const back = irfft(got.re, got.im, n);
          for (let t = 0; t < n; t++) expect(Math.abs(back[t] - padded[t])).toBeLessThan(1e-13);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('the circular n-fold self-convolution equals the complex-FFT reference (incl. underflowed bins, 3·2^k)', () => {
    const pmf = leafPmfs({ kind: 'gaussian', q: 0.05, sigma: 1.3 }, 1e-3).remove;
    for (const [size, n] of [
      [2 ** 12, 2],
      [3 * 2 ** 12, 7],
      [2 ** 14, 50],
      [2 ** 16, 3000],
      [3 * 2 ** 15, 3000],
    ] as const) {
      const fast = circularSelfConvolve(pmf.p, size, n);
      const slow = circularSelfConvolveComplex(pmf.p, size, n);
      let max = 0;
      for (const v of slow) max = Math.max(max, Math.abs(v));
      for (let k = 0; k < size; k++) expect(Math.abs(fast[k] - slow[k])).toBeLessThan(1e-12 * max);
    }
  });
});

describe('fast PLD path equals the reference path', () => {
  // The two paths differ only by FFT round-off (noise of ~1e-16 × the largest bin in every bin; they
  // also use different transform lengths). Both differ from an exact composition (direct convolution,
  // checked with a dev script on the two Δ = 1e-3 cases) by about as much as from each other, in either
  // direction: ≲3e-9 in ε at δ = 1e-5 and ≲2e-6 at δ = 1e-8, where a given noise mass weighs 1000× more.
  test.each([
    [0.01, 1, 1000, 1e-4],
    [0.05, 2, 300, 1e-3],
    [0.2, 0.8, 50, 1e-3],
  ])('q=%f σ=%f T=%i Δ=%f: ε agrees to round-off in both directions', (q, sigma, steps, interval) => {
    const one = leafPmfs({ kind: 'gaussian', q, sigma }, interval);
    for (const pmf of [one.remove, one.add]) {
      const fast = selfComposePmf(pmf, steps);
      const slow = selfComposePmf(pmf, steps, undefined, circularSelfConvolveComplex);
      expect(Math.abs(pmfEpsilon(fast, 1e-5) - pmfEpsilon(slow, 1e-5))).toBeLessThan(1e-8);
      expect(Math.abs(pmfEpsilon(fast, 1e-8) - pmfEpsilon(slow, 1e-8))).toBeLessThan(5e-6);
      expect(Math.abs(fast.inf - slow.inf)).toBeLessThan(1e-15);
    }
  });

  test('composing with a one-point PMF of mass 1 is a shift (no FFT), as the convolution would give', () => {
    const b = leafPmfs({ kind: 'gaussian', q: 0.1, sigma: 1 }, 1e-3).remove;
    const shift: Pmf = { start: 7, p: Float64Array.of(1), inf: 0, interval: 1e-3 };
    for (const c of [composePmfs(shift, b), composePmfs(b, shift)]) {
      expect(c.start).toBe(b.start + 7);
      expect(c.inf).toBe(b.inf);
      expect(Array.from(c.p)).toEqual(Array.from(b.p));
    }
  });

  test('the per-leaf discretisation is cached and re-used as is', () => {
    const leaf = { kind: 'gaussian', q: 0.03, sigma: 1.7 } as const;
    expect(leafPmfs({ ...leaf }, 1e-3)).toBe(leafPmfs({ ...leaf }, 1e-3));
    expect(leafPmfs(leaf, 1e-3)).not.toBe(leafPmfs(leaf, 2e-3));
  });
});

describe('coarse-then-fine σ calibration', () => {
  test.each([
    [8, 0.02, 2000, 1e-5],
    [0.5, 0.1, 50, 1e-6],
  ])('ε = %f, q = %f, T = %i, δ = %f: ε ≤ target on the fine grid, and 2e-4 less σ exceeds it', (epsilon, q, steps, delta) => {
    const r = calibrateSigma({ epsilon, delta, q, steps });
    const fine = (sigma: number) => epsilonOf(dpSgdEvent({ q, sigma, steps }), delta).epsilon;
    expect(r.accountant).toBe('pld');
    expect(r.epsilon).toBe(fine(r.sigma));
    expect(r.epsilon).toBeLessThanOrEqual(epsilon);
    expect(fine(r.sigma * (1 - 2e-4))).toBeGreaterThan(epsilon);
    expect(r.sigma).toBeLessThan(calibrateSigma({ epsilon, delta, q, steps, accountant: 'rdp' }).sigma);
  });
});

describe('FFT round-off never makes the PLD optimistic', () => {
  /** Exact n-fold self-convolution by direct summation (O(N²) per step; the reference for small cases). */
  const directPower = (p: Float64Array, size: number, n: number): Float64Array => {
    let acc = Float64Array.of(1);
    for (let step = 0; step < n; step++) {
      const next = new Float64Array(acc.length + p.length - 1);
      for (let i = 0; i < acc.length; i++) {
        const a = acc[i];
        if (a === 0) continue;
        for (let j = 0; j < p.length; j++) next[i + j] += a * p[j];
      }
      acc = next;
    }
    const out = new Float64Array(size); // fold onto the circle, as the FFT power does
    for (let k = 0; k < acc.length; k++) out[k % size] += acc[k];
    return out;
  };

  test.each([
    [0.05, 1, 4],
    [0.2, 0.8, 3],
  ])('q=%f σ=%f T=%i: ε(δ) with the FFT ≥ ε(δ) with exact convolution, down to δ = 1e-10', (q, sigma, steps) => {
    const one = leafPmfs({ kind: 'gaussian', q, sigma }, 1e-3);
    for (const pmf of [one.remove, one.add]) {
      const fft = selfComposePmf(pmf, steps);
      let size = 0;
      const withAllowance = selfComposePmf(pmf, steps, undefined, (p, n, k) => directPower(p, (size = n), k));
      // The exact composition needs no round-off allowance: take it back out of its mass at +∞.
      const exact: Pmf = { ...withAllowance, inf: withAllowance.inf - fftRoundoff(size) };
      for (const delta of [1e-5, 1e-8, 1e-10]) expect(pmfEpsilon(fft, delta)).toBeGreaterThanOrEqual(pmfEpsilon(exact, delta));
      // Without the allowance the FFT result sits within round-off of the exact one (on either side).
      const bare: Pmf = { ...fft, inf: fft.inf - fftRoundoff(size) };
      expect(Math.abs(pmfEpsilon(bare, 1e-8) - pmfEpsilon(exact, 1e-8))).toBeLessThan(1e-7);
    }
  });
});

describe('symmetric mechanisms: one PLD for both directions', () => {
  const interval = 1e-3;
  /** The straightforward path: every leaf composed in each direction separately, no sharing. */
  const twoDirections = (e: DpEvent) => {
    let remove = unitPmf(interval);
    let add = unitPmf(interval);
    for (const { leaf, count } of leavesOf(e)) {
      const one = leafPmfs(leaf, interval);
      remove = composePmfs(remove, selfComposePmf(one.remove, count));
      add = composePmfs(add, selfComposePmf(one.add, count));
    }
    return { remove, add };
  };
  const same = (a: Pmf, b: Pmf) => {
    expect(a.start).toBe(b.start);
    expect(a.inf).toBe(b.inf);
    expect(Array.from(a.p)).toEqual(Array.from(b.p));
  };

  test('unsampled Gaussian and Laplace: computed once (add === remove), equal to both directions computed apart', () => {
    const e: DpEvent = {
      type: 'Composed',
      events: [
        { type: 'Gaussian', sigma: 2 },
        { type: 'Laplace', b: 3 },
        { type: 'SelfComposed', event: { type: 'Laplace', b: 5 }, count: 3 },
      ],
    };
    const got = composedPmfs(e, interval);
    expect(got.add).toBe(got.remove);
    const want = twoDirections(e);
    same(got.remove, want.remove);
    same(got.remove, want.add);
  });

  test('a sampled leaf makes the directions differ from then on, and each still equals its separate composition', () => {
    for (const events of [
      [
        { type: 'Gaussian', sigma: 2 },
        { type: 'PoissonSampled', q: 0.1, event: { type: 'Gaussian', sigma: 1 } },
      ],
      [
        { type: 'PoissonSampled', q: 0.1, event: { type: 'Gaussian', sigma: 1 } },
        { type: 'Laplace', b: 3 },
      ],
    ] as DpEvent[][]) {
      const e: DpEvent = { type: 'Composed', events };
      const got = composedPmfs(e, interval);
      expect(got.add).not.toBe(got.remove);
      const want = twoDirections(e);
      same(got.remove, want.remove);
      same(got.add, want.add);
    }
  });
});
