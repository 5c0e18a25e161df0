import { describe, expect, test } from 'vitest';
import { createModel, createRng, generate, generateText, perplexity, sampleToken, streamPerplexity, tf } from '../src';
import { TINY, useWasm } from './helpers';

useWasm();

describe('generation', () => {
  test('greedy output is identical with and without the KV cache (prompts of different lengths)', () => {
    const m = createModel(TINY, { seed: 12 });
    const prompts = [[1, 2, 3], [4], [5, 6, 7, 8, 9]];
    const before = tf.memory().numTensors;
    const withCache = generate(m, prompts, { greedy: true, maxLength: 16 });
    expect(tf.memory().numTensors).toBe(before);
    const without = generate(m, prompts, { greedy: true, maxLength: 16, kvCache: false });
    expect(withCache).toEqual(without);
    expect(withCache.map((s) => s.length)).toEqual([13, 15, 11]);
    m.dispose();
  });

  test('seeded sampling reproduces; EOS stops; no-repeat-n-gram holds; top-k 1 is greedy', () => {
    const m = createModel(TINY, { seed: 13 });
    const prompts = [
      [1, 2],
      [3, 4],
    ];
    const a = generate(m, prompts, { seed: 5, topK: 10, topP: 0.9, temperature: 1.5 });
    expect(generate(m, prompts, { seed: 5, topK: 10, topP: 0.9, temperature: 1.5 })).toEqual(a);
    expect(generate(m, prompts, { seed: 6, topK: 10, topP: 0.9, temperature: 1.5 })).not.toEqual(a);
    expect(generate(m, prompts, { topK: 1, seed: 9 })).toEqual(generate(m, prompts, { greedy: true }));
    const noRepeat = generate(m, prompts, { greedy: true, noRepeatNgram: 2 });
    noRepeat.forEach((cont, b) => {
      const seq = [...prompts[b]!, ...cont];
      const bigrams = seq.slice(1).map((t, i) => `${seq[i]},${t}`);
      expect(new Set(bigrams).size).toBe(bigrams.length);
    });
    const eos = generate(m, prompts, { greedy: true })[0]![2]!; // make the 3rd greedy token the EOS
    const stopped = generate(m, prompts, { greedy: true, eos });
    expect(stopped[0]!.length).toBeLessThanOrEqual(2);
    expect(stopped.every((s) => !s.includes(eos))).toBe(true);
    m.dispose();
  });

  test('sampling filters: top-k and top-p never pick outside the kept set', () => {
    const logits = Float32Array.from([5, 4, 3, -1, -2]);
    const rng = createRng(1);
    for (let i = 0; i < 200; i++) {
      expect(sampleToken(logits, [], { topK: 2 }, rng)).toBeLessThan(2);
      expect(sampleToken(logits, [], { topP: 0.5 }, rng)).toBe(0); // p(0) = 0.66 >= 0.5
    }
  });

  test('generateText encodes control-code prompts and decodes continuations', () => {
    const m = createModel(TINY, { seed: 14 });
    const codec = { encode: (s: string) => Array.from(s, (c) => c.charCodeAt(0) % 38), decode: (ids: number[]) => ids.join(' '), eos: 38 };
    const out = generateText(m, codec, ['Stars: 5\t\n\n', ''], { maxLength: 20, seed: 1 });
    expect(out).toHaveLength(2);
    expect(out.every((s) => typeof s === 'string')).toBe(true);
    m.dispose();
  });
});

describe('perplexity', () => {
  test('a model whose output is uniform has PPL = vocabulary size (both reductions)', () => {
    const m = createModel({ ...TINY, ctx: 8 }, { seed: 1 });
    m.params.get('wte')!.assign(tf.zerosLike(m.params.get('wte')!)); // tied head: every logit is 0
    const ids = Array.from({ length: 21 }, (_, i) => (i * 7) % TINY.vocab);
    const r = streamPerplexity(m, ids, { window: 8 });
    expect(r.windows).toBe(3); // 8 + 8 + 5 tokens
    expect(r.tokens).toBe(7 + 7 + 4);
    expect(r.perplexity).toBeCloseTo(TINY.vocab, 3);
    expect(r.tokenWeighted).toBeCloseTo(TINY.vocab, 3);
    m.dispose();
  });

  test("paper's mean of window means differs from the token-weighted value when windows differ", () => {
    const m = createModel({ ...TINY, ctx: 8 }, { seed: 2 });
    const codec = { encode: (s: string) => Array.from(s, (c) => c.charCodeAt(0) % 39) };
    const r = perplexity(m, codec, ['abcdefghij', 'klm'], { window: 8 }); // 15 chars: windows of 8 and 7
    expect(r.windows).toBe(2);
    expect(r.perplexity).not.toBeCloseTo(r.tokenWeighted, 6);
    expect(r.perplexity).toBeGreaterThan(1);
    m.dispose();
  });
});
