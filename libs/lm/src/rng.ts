// Seeded randomness for initialisation, public-data shuffles and generation: reproducible from the graph's
// seed. sfc32 is a small, well-tested 128-bit-state generator; seeding goes through splitmix32 so nearby
// seeds diverge. DP sampling and noise do not come from here but from noise.ts (OS CSPRNG by default).
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
}

const splitmix32 = (seed: number) => () => {
  seed = (seed + 0x9e3779b9) | 0;
  let z = seed;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
};

/** The whole state of a seeded generator: sfc32's four words and Box-Muller's cached second normal. */
export interface RngState {
  sfc32: [number, number, number, number];
  spare?: number;
}

/** A seeded generator whose state can be saved (state()) and continued later (restoreRng): resumable training. */
export interface SeededRng extends Rng {
  state(): RngState;
}

export const createRng = (seed: number): SeededRng => {
  const init = splitmix32(seed >>> 0);
  return restoreRng({ sfc32: [init(), init(), init(), init()] });
};

/** A generator that continues exactly where the one that produced `saved` was. */
export const restoreRng = (saved: RngState): SeededRng => {
  let [a, b, c, d] = saved.sfc32;
  const next = (): number => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  const normal = withNormal(next, saved.spare);
  return {
    ...normal,
    state: () => ({ sfc32: [a | 0, b | 0, c | 0, d | 0], ...(normal.spare() !== undefined ? { spare: normal.spare() } : {}) }),
  };
};

const withNormal = (next: () => number, initialSpare?: number): Rng & { spare(): number | undefined } => {
  let spare = initialSpare;
  return {
    next,
    spare: () => spare,
    normal() {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = next();
      while (u === 0) u = next();
      const r = Math.sqrt(-2 * Math.log(u));
      const theta = 2 * Math.PI * next();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
  };
};

/** 0..n-1 in a uniformly random order (Fisher–Yates). */
export const shuffledIndices = (n: number, rng: Rng): number[] => {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
};
