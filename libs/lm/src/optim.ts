import * as tf from '@tensorflow/tfjs';

export type Schedule = { kind: 'constant' } | { kind: 'linear' | 'cosine'; warmup?: number; total: number; minFactor?: number };

/** Learning rate at 0-based `step`: linear warmup over `warmup` steps, then linear or cosine decay to minFactor*lr at `total`. */
export const learningRate = (lr: number, schedule: Schedule, step: number): number => {
  if (schedule.kind === 'constant') return lr;
  const warmup = schedule.warmup ?? 0;
  const min = schedule.minFactor ?? 0;
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const span = Math.max(1, schedule.total - warmup);
  const progress = Math.min(1, (step - warmup) / span);
  const factor = schedule.kind === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return lr * (min + (1 - min) * factor);
};

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
  /** Which parameters get weight decay; default: all but biases and LayerNorm parameters (as HF's Trainer). */
  decays?: (name: string) => boolean;
}

const defaultDecays = (name: string) => !/\.b$/.test(name) && !/(^|\.)ln\w*\.g$/.test(name);

export interface AdamWState {
  t: number;
  moments: Map<string, { m: Float32Array; v: Float32Array; shape: number[] }>;
}

/**
 * AdamW (decoupled weight decay, bias-corrected moments) with moments keyed by parameter name:
 * tfjs's own optimizers key slots by position in the gradient list, which silently mixes moments up
 * when the order changes (docs/wasm-backend.md), and tfjs has no AdamW.
 */
export class AdamW {
  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  private t = 0;
  private readonly o: Required<AdamWOptions>;

  constructor(options: AdamWOptions = {}) {
    this.o = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, decays: defaultDecays, ...options };
  }

  get steps(): number {
    return this.t;
  }

  step(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number): void {
    this.t += 1;
    const { beta1, beta2, epsilon, weightDecay, decays } = this.o;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`AdamW: gradient for unknown parameter '${name}'`);
      let slot = this.moments.get(name);
      if (!slot) {
        slot = tf.tidy(() => ({ m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) }));
        this.moments.set(name, slot);
      }
      const { m, v } = slot;
      tf.tidy(() => {
        const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        m.assign(m1);
        v.assign(v1);
        let update = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), epsilon));
        if (weightDecay > 0 && decays(name)) update = tf.add(update, tf.mul(p, weightDecay));
        p.assign(tf.sub(p, tf.mul(update, lr)));
      });
    }
  }

  /** The step count and a copy of every moment, by parameter name (for a resumable training checkpoint). */
  exportState(): AdamWState {
    const moments = new Map<string, { m: Float32Array; v: Float32Array; shape: number[] }>();
    for (const [name, { m, v }] of this.moments)
      moments.set(name, { m: (m.dataSync() as Float32Array).slice(), v: (v.dataSync() as Float32Array).slice(), shape: m.shape });
    return { t: this.t, moments };
  }

  /** Continues from an exported state: the next step is exactly the one the exporting optimiser would have taken. */
  importState(state: AdamWState): void {
    this.dispose();
    this.t = state.t;
    for (const [name, { m, v, shape }] of state.moments) {
      this.moments.set(
        name,
        tf.tidy(() => ({ m: tf.variable(tf.tensor(m, shape), false), v: tf.variable(tf.tensor(v, shape), false) })),
      );
    }
  }

  dispose(): void {
    this.moments.forEach(({ m, v }) => tf.dispose([m, v]));
    this.moments.clear();
  }
}

/** Scales grads in place so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export const clipByGlobalNorm = (grads: Map<string, tf.Tensor>, maxNorm: number): number => {
  const squared = tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
  const norm = Math.sqrt(squared.dataSync()[0]!);
  squared.dispose();
  if (norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, scale));
      g.dispose();
    }
  }
  return norm;
};

/**
 * One optimiser step from a summed gradient: global-norm clipping when clipNorm is finite (it replaces entries
 * of `grads`), then AdamW. gradientStep, the data-parallel leader and every replica all step through this
 * function, so that they apply the same ops in the same order.
 */
export const applyGradient = (
  params: Map<string, tf.Variable>,
  optimizer: AdamW,
  grads: Map<string, tf.Tensor>,
  o: { lr: number; clipNorm?: number },
): void => {
  if (o.clipNorm !== undefined && Number.isFinite(o.clipNorm)) clipByGlobalNorm(grads, o.clipNorm);
  optimizer.step(params, grads, o.lr);
};

/** AdamW options as data another thread can rebuild: undefined when a custom `decays` function is set (a closure cannot cross). */
export const portableAdamWOptions = (o: AdamWOptions = {}): Omit<AdamWOptions, 'decays'> | undefined => {
  if (o.decays) return undefined;
  // Only the keys given: an explicit undefined would override the constructor's defaults.
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Omit<AdamWOptions, 'decays'>;
};
