import { describe, expect, test } from 'vitest';
import { createModel, decodeCheckpoint, encodeCheckpoint, forward, MODEL_PRESETS, parameterCount, presetConfig, tf } from '../src';
import { TINY, useWasm } from './helpers';

useWasm();

describe('model', () => {
  test('presets and parameter count', () => {
    expect(Object.keys(MODEL_PRESETS)).toEqual(['tiny', 'student-xs', 'student-s', 'teacher-s', 'teacher-m']);
    const c = presetConfig('student-s', 4098);
    // wte + wpe + per layer (2 LN + qkv + proj + fc + proj) + ln_f; the head is tied.
    const perLayer = 4 * 128 + (128 * 384 + 384) + (128 * 128 + 128) + (128 * 512 + 512) + (512 * 128 + 128);
    expect(parameterCount(c)).toBe(4098 * 128 + 128 * 128 + 2 * perLayer + 256);
    const m = createModel(TINY);
    expect([...m.params.values()].reduce((s, p) => s + p.size, 0)).toBe(parameterCount(TINY));
    m.dispose();
  });

  test('forward: logits and hidden-state shapes; causal (a later token does not change earlier logits)', () => {
    const m = createModel(TINY, { seed: 1 });
    const a = [[1, 2, 3, 4, 5]];
    const b = [[1, 2, 3, 9, 9]];
    tf.tidy(() => {
      const ra = forward(m, tf.tensor2d(a, undefined, 'int32'), { hidden: true });
      expect(ra.logits.shape).toEqual([5, TINY.vocab]);
      expect(ra.hidden!.length).toBe(TINY.layers + 1);
      const rb = forward(m, tf.tensor2d(b, undefined, 'int32'));
      const la = ra.logits.arraySync();
      const lb = rb.logits.arraySync();
      for (let t = 0; t < 3; t++) for (let v = 0; v < TINY.vocab; v++) expect(la[t]![v]).toBeCloseTo(lb[t]![v]!, 5);
      expect(Math.abs(la[3]![0]! - lb[3]![0]!)).toBeGreaterThan(0);
    });
    m.dispose();
  });

  test('checkpoint round trip is bit-exact (safetensors layout)', () => {
    const m = createModel(TINY, { seed: 7 });
    const bytes = encodeCheckpoint(m, { note: 'hello' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString());
    expect(header.wte).toEqual({ dtype: 'F32', shape: [40, 16], data_offsets: [0, 40 * 16 * 4] });
    expect((8 + headerLength) % 8).toBe(0);
    const { model: back, metadata } = decodeCheckpoint(bytes);
    expect(metadata.note).toBe('hello');
    expect(back.config).toEqual(TINY);
    for (const [name, p] of m.params) {
      expect(
        Buffer.from((back.params.get(name)!.dataSync() as Float32Array).buffer).equals(Buffer.from((p.dataSync() as Float32Array).buffer)),
      ).toBe(true);
    }
    expect(Buffer.from(encodeCheckpoint(back, { note: 'hello' })).equals(Buffer.from(bytes))).toBe(true);
    expect(() => decodeCheckpoint(bytes.subarray(0, 20))).toThrow(/not a dpkd-lm checkpoint/);
    m.dispose();
    back.dispose();
  });
});
