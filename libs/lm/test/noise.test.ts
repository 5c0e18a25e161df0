// The DP samplers of noise.ts: 53-bit uniforms, the Holohan–Braghin Gaussian, the rounded Gaussian for counts.
import { describe, expect, test } from 'vitest';
import { createRng, cryptoSource, type RandomSource, roundedGaussian, secureNormal, seededSource, uniform53 } from '../src';

const replay = (words: number[]): RandomSource => {
  let i = 0;
  return { uint32: () => words[i++ % words.length]! };
};

describe('noise sources and samplers', () => {
  test('uniform53 has 53 random bits: values off the 2^-32 grid, within [0, 1)', () => {
    const source = cryptoSource();
    const draws = Array.from({ length: 1000 }, () => uniform53(source));
    expect(draws.every((u) => u >= 0 && u < 1)).toBe(true);
    expect(draws.filter((u) => !Number.isInteger(u * 2 ** 32)).length).toBeGreaterThan(990);
    expect(uniform53(replay([0xffffffff]))).toBe(1 - 2 ** -53);
    expect(uniform53(replay([0]))).toBe(0);
  });

  test('secureNormal: mean 0, variance 1; its tail is not cut at 6.66 (the 32-bit Box–Muller cap)', () => {
    const source = cryptoSource();
    const n = 40_000;
    const z = Array.from({ length: n }, () => secureNormal(source));
    const mean = z.reduce((a, b) => a + b, 0) / n;
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.04);
    // The smallest u1 (2^-53) and θ = 0 in both pairs: (r + 0 + r + 0)/2 = r = sqrt(106 ln 2) ≈ 8.57.
    const extreme = secureNormal(replay([0xffffffff, 0xffffffff, 0, 0]));
    expect(extreme).toBeCloseTo(Math.sqrt(-2 * Math.log(2 ** -53)), 10);
    expect(extreme).toBeGreaterThan(6.67);
  });

  test('the crypto source is not reproducible; the seeded one is', () => {
    const a = cryptoSource();
    const b = cryptoSource();
    expect(Array.from({ length: 8 }, () => a.uint32())).not.toEqual(Array.from({ length: 8 }, () => b.uint32()));
    const s1 = seededSource(createRng(5));
    const s2 = seededSource(createRng(5));
    expect(Array.from({ length: 8 }, () => secureNormal(s1))).toEqual(Array.from({ length: 8 }, () => secureNormal(s2)));
  });

  test('roundedGaussian: integers with the law of round(σ·N(0,1)) (σ = 1.5, chi-square over |k| ≤ 4)', () => {
    const sigma = 1.5;
    const source = cryptoSource();
    const n = 30_000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const k = roundedGaussian(source, sigma);
      expect(Number.isInteger(k)).toBe(true);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    // P(k) = Φ((k + ½)/σ) − Φ((k − ½)/σ), Φ by a fine Riemann sum of the density (no erf in the test).
    const phi = (x: number) => {
      let s = 0;
      const h = 1e-4;
      for (let t = -12; t < x; t += h) s += Math.exp(-(t * t) / 2) * h;
      return s / Math.sqrt(2 * Math.PI);
    };
    let chi2 = 0;
    for (let k = -4; k <= 4; k++) {
      const expected = n * (phi((k + 0.5) / sigma) - phi((k - 0.5) / sigma));
      chi2 += ((counts.get(k) ?? 0) - expected) ** 2 / expected;
    }
    // 9 cells: P(χ²_8 > 30) ≈ 2e-4.
    expect(chi2).toBeLessThan(30);
  });
});
