// The one-run audit estimator (Steinke, Nasr & Jagielski 2023): reference values, a closed form, and its
// behaviour on synthetic score distributions whose true ε is known.
import { describe, expect, test } from 'vitest';
import { epsilonOf } from '../src/accountant';
import { exposure, guessFromScores, guessRules, oneRunAudit, oneRunEpsilonLowerBound, oneRunPValue } from '../src/audit';

/** A small seeded generator for synthetic experiments (mulberry32). */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, normal };
}

describe('oneRunPValue and oneRunEpsilonLowerBound', () => {
  // Reference values: the procedure of Steinke et al.'s Appendix D (p_value_DP_audit / get_eps_audit),
  // transcribed to Python with scipy 1.17.1's binom.sf / binom.pmf, bisection run to 60 steps.
  test.each([
    [1000, 100, 80, 1.0, 0, 0.07155624680483674],
    [1000, 100, 80, 1.0, 1e-5, 0.07300911594917776],
    [1000, 500, 400, 0.5, 1e-6, 1.7894996784769568e-5],
    [400, 40, 38, 2.0, 2e-6, 0.12940381921250732],
    [10, 10, 10, 0, 0, 2 ** -10],
  ])('p-value m %i, %i guesses, %i correct, ε %f, δ %f = scipy reference', (m, guesses, correct, epsilon, delta, expected) => {
    expect(oneRunPValue({ m, guesses, correct }, epsilon, delta)).toBeCloseTo(expected, 12);
    expect(Math.abs(oneRunPValue({ m, guesses, correct }, epsilon, delta) / expected - 1)).toBeLessThan(1e-9);
  });

  test.each([
    [1000, 100, 80, 0, 0.958392045292099],
    [1000, 100, 80, 1e-5, 0.9553185349552558],
    [1000, 500, 400, 1e-6, 1.1985778807736054],
    [400, 40, 38, 2e-6, 1.7401959709669117],
    [10000, 1000, 900, 1e-5, 2.015194485406982],
    [1000, 1000, 520, 0, 0],
  ])('lower bound m %i, %i guesses, %i correct, δ %f at 95 %% = scipy reference', (m, guesses, correct, delta, expected) => {
    expect(oneRunEpsilonLowerBound({ m, guesses, correct }, delta)).toBeCloseTo(expected, 7);
  });

  test('all r guesses correct, δ = 0: the bound is the closed form ln(q/(1−q)) with q^r = 0.05', () => {
    for (const r of [5, 20, 100, 300]) {
      const q = 0.05 ** (1 / r);
      expect(oneRunEpsilonLowerBound({ m: 1000, guesses: r, correct: r }, 0)).toBeCloseTo(Math.log(q / (1 - q)), 7);
    }
  });

  test('the δ term only lowers the bound, and the p-value increases with ε', () => {
    const counts = { m: 2000, guesses: 300, correct: 240 };
    expect(oneRunEpsilonLowerBound(counts, 1e-4)).toBeLessThan(oneRunEpsilonLowerBound(counts, 0));
    let last = 0;
    for (let e = 0; e <= 6; e += 0.25) {
      const p = oneRunPValue(counts, e, 1e-5);
      expect(p).toBeGreaterThanOrEqual(last - 1e-12); // summation round-off where p is ~1
      last = p;
    }
  });

  test('bad counts are refused with the numbers', () => {
    expect(() => oneRunPValue({ m: 10, guesses: 5, correct: 6 }, 1, 0)).toThrow(/correct 6/);
    expect(() => oneRunPValue({ m: 10, guesses: 11, correct: 1 }, 1, 0)).toThrow(/guesses 11/);
  });
});

describe('guesses from scores', () => {
  test('"in" for the highest scores, "out" for the lowest, ties by index', () => {
    const scores = [0.9, 0.1, 0.5, 0.8, 0.2, 0.5];
    const included = [true, false, true, false, true, false];
    // in: 0 (yes), 3 (no); out: 1 (yes), 4 (no)
    expect(guessFromScores(scores, included, { guessIn: 2, guessOut: 2 })).toEqual({ m: 6, guesses: 4, correct: 2 });
    // ties at 0.5: index 2 comes before 5
    expect(guessFromScores(scores, included, { guessIn: 3, guessOut: 0 })).toEqual({ m: 6, guesses: 3, correct: 2 });
  });

  test('the rules of the fractions are distinct and fit m', () => {
    const rules = guessRules(100, [0.1, 0.5, 1]);
    expect(rules).toEqual([
      { guessIn: 10, guessOut: 0 },
      { guessIn: 5, guessOut: 5 },
      { guessIn: 50, guessOut: 0 },
      { guessIn: 25, guessOut: 25 },
      { guessIn: 100, guessOut: 0 },
      { guessIn: 50, guessOut: 50 },
    ]);
    expect(() => guessRules(100, [0])).toThrow(/fractions/);
  });
});

describe('oneRunAudit on synthetic scores with a known ε', () => {
  /** Randomized response: the score is the inclusion bit, flipped with probability 1/(1+e^ε0): exactly ε0-DP per canary. */
  const randomizedResponse = (m: number, epsilon0: number, seed: number) => {
    const r = rng(seed);
    const included = Array.from({ length: m }, () => r.next() < 0.5);
    const flip = 1 / (1 + Math.exp(epsilon0));
    const scores = included.map((b) => (r.next() < flip !== b ? 1 : 0) + 1e-3 * r.next());
    return { scores, included };
  };

  test('randomized response at ε0 = 2 with 20,000 canaries: the bound is close to ε0 and not above it', () => {
    const { scores, included } = randomizedResponse(20_000, 2, 1);
    const audit = oneRunAudit(scores, included, { delta: 0 });
    expect(audit.epsilon).toBeLessThanOrEqual(2);
    expect(audit.epsilon).toBeGreaterThan(1.7);
  });

  test('a valid ε-DP mechanism is flagged (bound > ε0) in at most about 5 % of 200 audits', () => {
    let over = 0;
    for (let trial = 0; trial < 200; trial++) {
      const { scores, included } = randomizedResponse(500, 1, 100 + trial);
      if (oneRunAudit(scores, included, { delta: 0, fractions: [1] }).epsilon > 1) over++;
    }
    expect(over).toBeLessThanOrEqual(20); // the expectation is at most 10 (5 %); 20 is 3.4 standard deviations above
  });

  test('scores that carry no membership (ε0 = 0) give a bound of 0 in at least 90 % of audits', () => {
    let zero = 0;
    for (let trial = 0; trial < 50; trial++) {
      const { scores, included } = randomizedResponse(400, 0, 500 + trial);
      if (oneRunAudit(scores, included, { delta: 1e-5 }).epsilon === 0) zero++;
    }
    expect(zero).toBeGreaterThanOrEqual(45);
  });

  test('Gaussian scores (μ-GDP): the bound stays below the mechanism ε at δ and grows with μ', () => {
    const delta = 1e-5;
    const bounds = [0.5, 2, 4].map((mu) => {
      const r = rng(7 + mu);
      const included = Array.from({ length: 5000 }, () => r.next() < 0.5);
      const scores = included.map((b) => r.normal() + (b ? mu : 0));
      const audit = oneRunAudit(scores, included, { delta });
      // The Gaussian mechanism with sensitivity μ and σ = 1 is the μ-GDP curve: its exact ε at δ.
      const truth = epsilonOf({ type: 'Gaussian', sigma: 1 / mu }, delta, { accountant: 'pld' }).epsilon;
      expect(audit.epsilon).toBeLessThanOrEqual(truth);
      return audit.epsilon;
    });
    expect(bounds[0]).toBeLessThan(bounds[1]!);
    expect(bounds[1]).toBeLessThan(bounds[2]!);
    expect(bounds[2]).toBeGreaterThan(1);
  });
});

describe('exposure', () => {
  test('log2(|R|) − log2(rank), ties against the canary', () => {
    const refs = [1, 2, 3, 4, 5, 6, 7];
    expect(exposure(0.5, refs)).toBe(3); // rank 1 of 8
    expect(exposure(4, refs)).toBeCloseTo(3 - Math.log2(5), 12); // 1, 2, 3, 4 <= 4
    expect(exposure(10, refs)).toBe(0);
  });
});
