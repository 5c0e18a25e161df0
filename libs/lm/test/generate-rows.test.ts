// Generation that does not depend on how the rows are batched: each row samples from its own stream
// (rowRng(seed, global row index)), and on wasm a row's logits are bitwise the same in any batch, so a shard
// that knows its first row (and the whole batch's prefill length) samples exactly what those rows would in
// the whole batch; ReplicaPool.generate on 2 threads returns one thread's token ids.
import { describe, expect, test } from 'vitest';
import { createModel, forward, generate, type GenerateOptions, ReplicaPool, tf } from '../src';
import { PAD, TINY, useWasm } from './helpers';

useWasm();

/** Sampled, not greedy, with every filter and an EOS that ends some rows early. */
const SAMPLED: GenerateOptions = { seed: 7, topK: 12, topP: 0.95, temperature: 1.3, noRepeatNgram: 3, eos: 5, maxLength: 16 };
const SAME = Array.from({ length: 7 }, () => [1, 2]);
const MIXED = [[1, 2], [3, 4, 5, 6], [7], [8, 9, 10], [11, 12], [13, 14, 15, 16, 17], [18]];

describe('per-row random streams', () => {
  test("on wasm a row's logits are bitwise equal in a batch of 7 and in a shard of 3 (what token equality rests on)", () => {
    const m = createModel(TINY, { seed: 21 });
    const rows = MIXED.map((p) => [...p, ...new Array<number>(6 - p.length).fill(PAD)].slice(0, 6));
    const logits = (batch: number[][]) =>
      tf.tidy(() => forward(m, tf.tensor2d(batch, undefined, 'int32')).logits.dataSync() as Float32Array);
    const whole = logits(rows);
    const shard = logits(rows.slice(4));
    expect(shard).toEqual(whole.subarray(4 * 6 * TINY.vocab));
    m.dispose();
  });

  test("rows of identical prompts differ, and a row is not a neighbouring seed's row", () => {
    const m = createModel(TINY, { seed: 22 });
    const rows = generate(m, SAME, SAMPLED).map(String);
    expect(new Set(rows).size).toBeGreaterThan(4);
    // seed + 1, row 0 must not replay seed's row 1 (consecutive Sample rounds use consecutive seeds).
    expect(String(generate(m, [SAME[0]!], { ...SAMPLED, seed: SAMPLED.seed! + 1 })[0])).not.toBe(rows[1]);
    m.dispose();
  });

  test('shards given their first row (and the batch prefill) sample what the whole batch samples', () => {
    const m = createModel(TINY, { seed: 23 });
    for (const prompts of [SAME, MIXED]) {
      const whole = generate(m, prompts, SAMPLED);
      const prefill = Math.min(...prompts.map((p) => p.length));
      const shards = [
        generate(m, prompts.slice(0, 3), { ...SAMPLED, prefill }),
        generate(m, prompts.slice(3), { ...SAMPLED, firstRow: 3, prefill }),
      ];
      expect(shards.flat()).toEqual(whole);
      // The offset matters: without it the second shard replays rows 0.. (the test can fail).
      expect(generate(m, prompts.slice(3), { ...SAMPLED, prefill })).not.toEqual(whole.slice(3));
    }
    m.dispose();
  });
});

describe('ReplicaPool.generate', () => {
  test('2 threads return the token ids of 1 thread: sampled, uneven shards, mixed prompt lengths, an empty shard', async () => {
    const m = createModel(TINY, { seed: 24 });
    const pool = await ReplicaPool.start({ threads: 2, model: m, loss: { kind: 'ce', pad: PAD } });
    try {
      // 7 rows: shards of 4 and 3.
      expect(await pool.generate(SAME, SAMPLED)).toEqual(generate(m, SAME, SAMPLED));
      expect(await pool.generate(MIXED, SAMPLED)).toEqual(generate(m, MIXED, SAMPLED));
      // A caller's own row offset carries through; one row leaves the worker's shard empty.
      expect(await pool.generate(MIXED.slice(2, 3), { ...SAMPLED, firstRow: 9 })).toEqual(
        generate(m, MIXED.slice(2, 3), { ...SAMPLED, firstRow: 9 }),
      );
    } finally {
      await pool.dispose();
      m.dispose();
    }
  });
});
