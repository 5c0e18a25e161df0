import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createTokenizer, GPT2_MERGE_COUNT, preTokenize } from '../src';

const require = createRequire(import.meta.url);
const reference = require('gpt-3-encoder') as { encode(text: string): number[] };

const tricky = [
  '',
  'Hello world',
  "It's the users' choice: they're done, we'll see, I'd go, you've won, I'm in.",
  'Emoji 👩‍👩‍👧‍👦 🇫🇷 ✌🏽 and a lone combining mark \u0301 at the start: \u0301a',
  '中文字符和日本語のテキスト、한국어 텍스트',
  'control \u0000\u0001\u0007\b\t\n\u000b\f\r\u001b[0m\u007f\u0085\u2028 chars',
  '  leading and trailing spaces   \n\n\n  ',
  'Business Category: Restaurants | Review Stars: 5.0\n\nGreat tacos!!! 10/10 $$$',
  'ÿ\u0100\u{10FFFF}\u{1F600}\uFEFF zero\u200Bwidth',
];

describe('tokenizer', () => {
  const bpe = createTokenizer();
  const byte = createTokenizer({ kind: 'byte' });
  const full = createTokenizer({ merges: GPT2_MERGE_COUNT });
  const none = createTokenizer({ merges: 0 });

  test('default sizes: 4096 base tokens, then EOS and PAD', () => {
    expect([bpe.vocabSize, bpe.eos, bpe.pad, bpe.name]).toEqual([4098, 4096, 4097, 'gpt2-bpe-4096']);
    expect([byte.vocabSize, byte.eos, byte.pad, byte.name]).toEqual([258, 256, 257, 'byte-256']);
    expect(createTokenizer({ merges: 100 }).vocabSize).toBe(358);
  });

  test.each(tricky.map((t) => [JSON.stringify(t).slice(0, 40), t]))('round trip %s', (_, text) => {
    for (const tok of [bpe, byte, full, none]) expect(tok.decode(tok.encode(text))).toBe(text);
  });

  test('round trip on arbitrary Unicode (property)', () => {
    const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 30 }));
    fc.assert(
      fc.property(anyText, (text) => {
        for (const tok of [bpe, byte, none]) {
          const ids = tok.encode(text);
          expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.eos)).toBe(true);
          expect(tok.decode(ids)).toBe(text);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('with all 50,000 merges it reproduces GPT-2 (gpt-3-encoder) exactly', () => {
    for (const text of tricky) expect(full.encode(text)).toEqual(reference.encode(text));
  });

  test('a truncated vocabulary keeps GPT-2 ids and only uses ids below its size', () => {
    const text = 'The quick brown fox jumps over the lazy dog; extraordinary tokenization!';
    const ids = bpe.encode(text);
    expect(Math.max(...ids)).toBeLessThan(4096);
    expect(ids.length).toBeGreaterThan(full.encode(text).length); // fewer merges, more tokens
    expect(ids.length).toBeLessThan(byte.encode(text).length);
    expect(bpe.encode(' the')).toEqual(reference.encode(' the')); // a frequent word is one early merge
    expect(none.encode('ab')).toEqual(reference.encode('a').concat(reference.encode('b')));
  });

  test('byte kind: ids are the UTF-8 bytes', () => {
    expect(byte.encode('é!')).toEqual([0xc3, 0xa9, 0x21]);
  });

  test('decode drops EOS and PAD, rejects unknown ids', () => {
    const ids = bpe.encode('hi there');
    expect(bpe.decode([...ids, bpe.eos, bpe.pad, bpe.pad])).toBe('hi there');
    expect(() => bpe.decode([4098])).toThrow(/outside the vocabulary/);
    expect(() => byte.decode([-1])).toThrow(/outside the vocabulary/);
  });

  test('fingerprint: sha256, stable per definition, differs between definitions', () => {
    expect(bpe.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(createTokenizer().fingerprint).toBe(bpe.fingerprint);
    const prints = new Set([bpe, byte, full, none, createTokenizer({ merges: 3839 })].map((t) => t.fingerprint));
    expect(prints.size).toBe(5);
  });

  test('rejects invalid options with a message that says what is allowed', () => {
    expect(() => createTokenizer({ merges: 50_001 })).toThrow(/0\.\.50000/);
    expect(() => createTokenizer({ merges: 1.5 })).toThrow(/integer/);
    expect(() => createTokenizer({ kind: 'word' as 'bpe' })).toThrow(/'bpe' or 'byte'/);
  });

  test('GPT-2 pre-tokenizer splits like GPT-2 and loses no character', () => {
    expect(preTokenize("He's  here, 42 times!\n")).toEqual(['He', "'s", ' ', ' here', ',', ' 42', ' times', '!', '\n']);
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => preTokenize(text).join('') === text));
  });
});
