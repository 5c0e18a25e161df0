import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors';
import type { RawDocument } from './raw';

/** lex_filenum → noun lexicographer class (lexnames(5WN)). */
const nounClasses: Record<number, string> = {
  3: 'Tops',
  4: 'act',
  5: 'animal',
  6: 'artifact',
  7: 'attribute',
  8: 'body',
  9: 'cognition',
  10: 'communication',
  11: 'event',
  12: 'feeling',
  13: 'food',
  14: 'group',
  15: 'location',
  16: 'motive',
  17: 'object',
  18: 'person',
  19: 'phenomenon',
  20: 'plant',
  21: 'possession',
  22: 'process',
  23: 'quantity',
  24: 'relation',
  25: 'shape',
  26: 'state',
  27: 'substance',
  28: 'time',
};

/**
 * The 14 largest noun classes of WordNet 3.1 (counted in data-sources.md), fixed rather than
 * recomputed so a fixture or another WordNet build keeps the same label set, as DBpedia-14 does.
 */
export const wordnetLabels = [
  'act',
  'animal',
  'artifact',
  'attribute',
  'body',
  'cognition',
  'communication',
  'food',
  'group',
  'location',
  'person',
  'plant',
  'state',
  'substance',
] as const;
const kept = new Set<string>(wordnetLabels);

/**
 * One document per noun synset: `lemma, lemma: gloss`. Key `n:<synset offset>`, which is stable
 * for a WordNet version. Lines starting with two spaces are the licence header.
 */
export function loadWordnet(dictDir: string): RawDocument[] {
  const file = join(dictDir, 'data.noun');
  const docs: RawDocument[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, index) => {
    if (line === '' || line.startsWith('  ')) return;
    const bar = line.indexOf(' | ');
    const fields = (bar < 0 ? line : line.slice(0, bar)).split(' ');
    const [offset, lexFile, , wordCountHex] = fields;
    const wordCount = parseInt(wordCountHex ?? '', 16);
    if (bar < 0 || !/^\d{8}$/.test(offset ?? '') || !Number.isFinite(wordCount)) {
      throw new DataError(`${file}: line ${index + 1} is not a WordNet data line (offset lex_filenum ss_type w_cnt … | gloss)`);
    }
    const label = nounClasses[Number(lexFile)];
    if (label === undefined || !kept.has(label)) return;
    const lemmas = Array.from({ length: wordCount }, (_, i) => (fields[4 + 2 * i] ?? '').replace(/_/g, ' '));
    docs.push({ key: `n:${offset}`, text: `${lemmas.join(', ')}: ${line.slice(bar + 3)}`, label });
  });
  return docs;
}
