// The noise of DP mechanisms (attacks 2 and 9): unpredictable by default, and the control-code histogram's
// integer noise is accounted soundly as the continuous Gaussian(σ) (and why it is not the discrete Gaussian).
import { describe, expect, test } from 'vitest';
import { gaussianDelta } from '@dpkd/privacy';
import { histogramSource, noisyHistogram } from '@dpkd/nodes';
import { cryptoSource, dpRandomness, secureNormal, uniform53 } from '@dpkd/lm';

/** Per-label counts of a private corpus (10 labels, so a chance match of all of them is ~1e-17). */
const counts = [812, 4, 97, 1033, 0, 56, 270, 9, 441, 3];
const differenceAttack = (a: number[], b: number[]) => a.map((x, i) => 2 * x - b[i]!);

describe('attack 2: two noisy histograms of one corpus', () => {
  test('with noise: "seeded" (the old default) the graph predicts the noise: seed in hand, the counts come out exactly', () => {
    const a = noisyHistogram(counts, 10, histogramSource('seeded', 1));
    const replay = noisyHistogram(
      counts.map(() => 0),
      10,
      histogramSource('seeded', 1),
    );
    expect(a.map((x, i) => x - replay[i]!)).toEqual(counts);
    // Same seed, σ 10 and 20: the same standard normals, rounded: 2A − B is within ±1 of the counts.
    const b = noisyHistogram(counts, 20, histogramSource('seeded', 1));
    expect(differenceAttack(a, b).every((x, i) => Math.abs(x - counts[i]!) <= 1)).toBe(true);
  });

  test('after (crypto, the default): neither the seed nor 2A − B reveals the counts', () => {
    const a = noisyHistogram(counts, 10, histogramSource('crypto', 1));
    const b = noisyHistogram(counts, 20, histogramSource('crypto', 1));
    const replay = noisyHistogram(
      counts.map(() => 0),
      10,
      histogramSource('crypto', 1),
    );
    expect(a.map((x, i) => x - replay[i]!)).not.toEqual(counts);
    expect(differenceAttack(a, b)).not.toEqual(counts);
    // 2A − B = counts + 2·Z₁ − Z₂: noise of variance 4·10² + 20² = 800 per label, not 0.
    const residual = differenceAttack(a, b).map((x, i) => x - counts[i]!);
    expect(residual.some((r) => r !== 0)).toBe(true);
  });
});

describe('attack 9: the DP-SGD sampler', () => {
  test('uniforms carry 53 bits (off the 2^-32 grid) and the Gaussian reaches past the old ±6.66 cap', () => {
    const source = cryptoSource();
    const u = Array.from({ length: 200 }, () => uniform53(source));
    expect(u.filter((x) => !Number.isInteger(x * 2 ** 32)).length).toBeGreaterThan(195);
    // The most extreme inputs the sampler can get (u1 = 2^-53, θ = 0 twice) give 8.57 > 6.66.
    const words = [0xffffffff, 0xffffffff, 0, 0];
    let i = 0;
    expect(secureNormal({ uint32: () => words[i++ % 4]! })).toBeGreaterThan(8.5);
  });

  test('DP-SGD draws from the OS CSPRNG unless asked for seeded noise', () => {
    const a = dpRandomness(undefined, 1).source;
    const b = dpRandomness(undefined, 1).source;
    expect([a.uint32(), a.uint32()]).not.toEqual([b.uint32(), b.uint32()]);
    const c = dpRandomness('seeded', 1).source;
    const d = dpRandomness('seeded', 1).source;
    expect([c.uint32(), c.uint32()]).toEqual([d.uint32(), d.uint32()]);
    // The CSPRNG hands out no generator, so a checkpoint has no noise state to save (or to leak).
    expect(dpRandomness(undefined, 1).seeded).toBeUndefined();
  });
});

describe('attack 9: the histogram noise is accounted soundly', () => {
  /** δ(ε) of integer noise with pmf p against its shift by one (a count differing by one), by summation. */
  function shiftDelta(p: (k: number) => number, K: number, eps: number): number {
    let delta = 0;
    for (let k = -K; k <= K + 1; k++) delta += Math.max(0, p(k) - Math.exp(eps) * p(k - 1));
    return delta;
  }
  const density = (t: number) => Math.exp(-(t * t) / 2) / Math.sqrt(2 * Math.PI);
  /** P(round(σZ) = k) by Simpson's rule on the normal density over [(k − ½)/σ, (k + ½)/σ]. */
  const rounded = (sigma: number) => (k: number) => {
    const [a, b] = [(k - 0.5) / sigma, (k + 0.5) / sigma];
    const m = 64;
    const h = (b - a) / m;
    let s = density(a) + density(b);
    for (let i = 1; i < m; i++) s += (i % 2 ? 4 : 2) * density(a + i * h);
    return (s * h) / 3;
  };
  const discrete = (sigma: number) => {
    const K = Math.ceil(40 * sigma) + 10;
    let norm = 0;
    for (let z = -K; z <= K; z++) norm += Math.exp(-(z * z) / (2 * sigma * sigma));
    return (k: number) => Math.exp(-(k * k) / (2 * sigma * sigma)) / norm;
  };

  test("rounded Gaussian noise (what Sample adds) never has a privacy profile above Gaussian(σ)'s (what the ledger charges)", () => {
    for (const sigma of [0.5, 1, 2, 3.7, 10, 20]) {
      for (const eps of [0, 0.05, 0.2, 0.5, 1, 2, 4]) {
        const K = Math.ceil(12 * sigma) + 10;
        expect(shiftDelta(rounded(sigma), K, eps), `σ ${sigma}, ε ${eps}`).toBeLessThanOrEqual(gaussianDelta(sigma, eps) + 1e-7); // quadrature error ~1e-8
      }
    }
  });

  test('why not the exact discrete Gaussian: at the same σ its profile is above Gaussian(σ) (charging it so would under-count)', () => {
    const K = 410;
    expect(shiftDelta(discrete(10), K, 0) - gaussianDelta(10, 0)).toBeGreaterThan(1e-5);
  });
});
