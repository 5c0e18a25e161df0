import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../errors';
import type { RawDocument } from './raw';

/**
 * FOLDOC's domain tags folded into 9 groups playing Big Patent's 9 CPC sections (groups as in
 * data-sources.md §4). Entries whose first tag is not listed are dropped.
 */
const groupOfTag: Record<string, string> = {};
const groups: Record<string, string[]> = {
  language: ['language'],
  programming: ['programming', 'algorithm', 'tool', 'library', 'software', 'testing', 'compiler', 'application', 'simulation'],
  networking: ['networking', 'communications', 'protocol', 'web', 'messaging', 'chat', 'security', 'cryptography', 'hypertext'],
  hardware: ['hardware', 'processor', 'storage', 'architecture', 'electronics', 'computer', 'parallel', 'printer', 'benchmark'],
  'operating system': ['operating system', 'file system', 'memory management'],
  jargon: ['jargon', 'humour', 'spelling', 'abuse', 'games'],
  organisation: ['company', 'person', 'body', 'job', 'business', 'education', 'project', 'publication', 'legal'],
  mathematics: ['mathematics', 'theory', 'logic', 'artificial intelligence', 'complexity', 'statistics', 'probability'],
  data: [
    'database',
    'standard',
    'file format',
    'character',
    'data',
    'text',
    'graphics',
    'filename extension',
    'unit',
    'compression',
    'audio',
    'video',
    'multimedia',
  ],
};
for (const [group, tags] of Object.entries(groups)) for (const tag of tags) groupOfTag[tag] = group;
export const foldocLabels = Object.keys(groups).sort();

export const foldocFiles = (debianRoot: string) => ({
  index: join(debianRoot, 'usr/share/dictd/foldoc.index'),
  dict: join(debianRoot, 'usr/share/dictd/foldoc.dict.dz'),
});

const base64Digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** dictd's index numbers are base-64 positional numbers, not RFC 4648 base64. */
function dictdNumber(text: string): number {
  let value = 0;
  for (const c of text) {
    const digit = base64Digits.indexOf(c);
    if (digit < 0) return NaN;
    value = value * 64 + digit;
  }
  return value;
}

/**
 * One document per tagged entry: `Headword\n` + the body with the domain tags, the `{…}`
 * cross-reference braces and the trailing `(YYYY-MM-DD)` edit date removed, and the 65-column
 * wrapping undone. Several index lines (synonyms) point at one entry; it is read once. The key
 * is the entry's own headword line, lower-cased.
 */
export function loadFoldoc(debianRoot: string): RawDocument[] {
  const files = foldocFiles(debianRoot);
  // dictzip is gzip with random-access extras, so plain gunzip reads it whole.
  let dict: Buffer;
  try {
    dict = gunzipSync(readFileSync(files.dict));
  } catch (error) {
    throw new DataError(
      `${files.dict} could not be decompressed (${(error as { code?: string }).code ?? 'corrupt'}); run 'npm run data:debian' again`,
    );
  }
  const entries = new Map<string, [number, number]>();
  readFileSync(files.index, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line === '') return;
      const [, offset, length] = line.split('\t');
      const start = dictdNumber(offset ?? '');
      const size = dictdNumber(length ?? '');
      if (!Number.isFinite(start) || !Number.isFinite(size) || start + size > dict.length) {
        throw new DataError(`${files.index}: line ${index + 1} is not 'headword TAB offset TAB length' within ${files.dict}`);
      }
      entries.set(`${start},${size}`, [start, size]);
    });
  const docs: RawDocument[] = [];
  const keysSeen = new Map<string, number>();
  // Dictionary order (by offset) makes the suffix of a repeated headword stable.
  for (const [start, size] of [...entries.values()].sort((a, b) => a[0] - b[0])) {
    const entry = dict.subarray(start, start + size).toString('utf8');
    // The headword block (the headword and its synonyms, one a line) ends at the first blank line.
    const blank = entry.indexOf('\n\n');
    const headword = entry.slice(0, entry.indexOf('\n') < 0 ? entry.length : entry.indexOf('\n')).trim();
    const body = blank < 0 ? '' : entry.slice(blank + 2);
    // The first domain tag decides, also when the entry has numbered senses ("1. <character> …").
    const tag = /<([a-z][a-z ,]*)>/.exec(body);
    const label = tag ? groupOfTag[tag[1]!.split(',')[0]!.trim()] : undefined;
    if (label === undefined) continue;
    const text = body
      .replace(/<[a-z][a-z ,]*>\s*/g, '')
      .replace(/\{([^{}]*)\}/g, '$1')
      .replace(/\(\d{4}-\d{2}-\d{2}\)\s*$/, '')
      .split(/\n\s*\n/)
      .map((paragraph) => paragraph.replace(/\s*\n\s*/g, ' ').trim())
      .filter((paragraph) => paragraph !== '')
      .join('\n');
    const base = headword.toLowerCase();
    const seen = keysSeen.get(base) ?? 0;
    keysSeen.set(base, seen + 1);
    docs.push({ key: seen === 0 ? base : `${base}#${seen + 1}`, text: `${headword}\n${text}`, label });
  }
  return docs;
}
