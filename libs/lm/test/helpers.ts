import { beforeAll, expect } from 'vitest';
import { initBackend, type ModelConfig, tf } from '../src';

export const useWasm = () =>
  beforeAll(async () => {
    expect(await initBackend()).toBe('wasm');
  });

export const TINY: ModelConfig = { vocab: 40, ctx: 16, layers: 2, d: 16, heads: 2, mlp: 32 };
export const PAD = 39;

export const randomBatch = (B: number, T: number, vocab: number, seed: number): number[][] => {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % vocab;
  return Array.from({ length: B }, () => Array.from({ length: T }, next));
};

export const maxRelDiff = (a: Float32Array | number[], b: Float32Array | number[]): number => {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
};

export const values = (t: tf.Tensor) => t.dataSync() as Float32Array;
