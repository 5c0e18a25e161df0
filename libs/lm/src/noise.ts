// The randomness of DP mechanisms, in one place: Poisson sampling, DP-SGD's Gaussian noise and the
// control-code histogram's noise. By default it comes from the OS CSPRNG (crypto.getRandomValues), so
// nothing in the graph file (its seed) predicts it. A seeded source stays available for reproducibility
// studies only; the engine marks such mechanisms as a gap and refuses them under a budget unless allowed.
// Non-DP randomness (initialisation, public shuffles, generation) stays in rng.ts, seeded.
//
// Samplers (see docs/privacy.md, "Noise"):
// - uniforms have 53 random bits (every double in [0, 1) of the form k·2^-53), not 32;
// - continuous Gaussian noise (DP-SGD) is the sum of four independent Box–Muller normals, halved
//   (Holohan & Braghin 2021, section 5.1, as Opacus's secure_mode): a floating-point attack in the style of
//   Mironov 2012 / Jin et al. 2022 must invert a sum of four transcendental outputs (≈2^159 work), and
//   |z| is no longer capped at 6.66 (32-bit Box–Muller) but at 2·8.57;
// - integer noise (the histogram) is that Gaussian rounded to an integer (roundedGaussian): post-processing
//   of the Gaussian mechanism, so its cost is exactly Gaussian(σ)'s, and no float bits are released.

/** A source of uniform 32-bit words. */
export interface RandomSource {
  uint32(): number;
}

/** Which source a DP mechanism draws from. */
export type NoiseSource = 'crypto' | 'seeded';

/** The OS CSPRNG, buffered (getRandomValues returns at most 65,536 bytes per call). */
export function cryptoSource(): RandomSource {
  const buffer = new Uint32Array(16_384);
  let at = buffer.length;
  return {
    uint32() {
      if (at === buffer.length) {
        globalThis.crypto.getRandomValues(buffer);
        at = 0;
      }
      return buffer[at++]!;
    },
  };
}

/** A seeded source from a generator of uniforms in [0, 1) with 32-bit resolution (rng.ts's createRng). */
export function seededSource(rng: { next(): number }): RandomSource {
  return { uint32: () => Math.floor(rng.next() * 4294967296) >>> 0 };
}

/** Uniform on [0, 1) with 53 random bits: k · 2^-53, k uniform in [0, 2^53). */
export function uniform53(source: RandomSource): number {
  const high = source.uint32() >>> 5; // 27 bits
  const low = source.uint32() >>> 6; // 26 bits
  return (high * 67108864 + low) / 9007199254740992;
}

/** One standard normal by Box–Muller on 53-bit uniforms (u1 in (0, 1], so no log 0). */
function boxMuller(source: RandomSource): [number, number] {
  const u1 = 1 - uniform53(source);
  const u2 = uniform53(source);
  const r = Math.sqrt(-2 * Math.log(u1));
  const theta = 2 * Math.PI * u2;
  return [r * Math.cos(theta), r * Math.sin(theta)];
}

/** A standard normal as (z1 + z2 + z3 + z4) / 2 of independent normals (Holohan & Braghin, n = 2). */
export function secureNormal(source: RandomSource): number {
  const [a, b] = boxMuller(source);
  const [c, d] = boxMuller(source);
  return (a + b + c + d) / 2;
}

/** n values of N(0, std²) as float32 (the precision of the gradients they are added to). */
export function gaussianNoise(source: RandomSource, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = secureNormal(source) * std;
  return out;
}

/**
 * Integer Gaussian noise for counts: round(σ·z), z from secureNormal. A count plus this is exactly
 * round(count + σ·z): post-processing of the Gaussian mechanism, so it costs what Gaussian(σ) costs. (The
 * exact discrete Gaussian of Canonne, Kamath & Steinke 2020 was the other candidate; at the same σ its
 * privacy profile is above the continuous one at small ε, e.g. δ(0) higher by 1.7e-5 at σ = 10, so
 * charging it as Gaussian(σ) would under-count: test/privacy-attacks/noise.test.ts.) Rounding also drops
 * the low-order float bits that the Mironov-style attacks read.
 */
export function roundedGaussian(source: RandomSource, sigma: number): number {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new RangeError(`sigma must be a positive finite number, got ${sigma}`);
  return Math.round(sigma * secureNormal(source));
}
