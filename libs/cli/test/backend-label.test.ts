// The backend entry of every action key: a model trained on tfjs-node-gpu is never reused as one trained on
// tfjs-node (both register the tfjs backend name 'tensorflow'), and the wasm entry keeps its form (existing keys).
import { describe, expect, test } from 'vitest';
import { backendLabel } from '../src/registry';

describe('backendLabel', () => {
  test('tfjs-node and tfjs-node-gpu get different entries; wasm and cpu keep name@version', () => {
    expect(backendLabel('tensorflow', '@tensorflow/tfjs-node-gpu', '4.22.0')).toBe('tensorflow-gpu@4.22.0');
    expect(backendLabel('tensorflow', '@tensorflow/tfjs-node', '4.22.0')).toBe('tensorflow@4.22.0');
    expect(backendLabel('wasm', '@tensorflow/tfjs-backend-wasm', '4.22.0')).toBe('wasm@4.22.0');
    expect(backendLabel('cpu', '@tensorflow/tfjs-backend-cpu', '4.22.0')).toBe('cpu@4.22.0');
  });
});
