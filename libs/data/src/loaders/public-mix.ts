import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, parseJsonQuietly } from '../errors';
import type { RawDocument } from './raw';

export const publicMixSources = ['factbook', 'moby-dick', 'sotu'] as const;

const readJson = (file: string): unknown => parseJsonQuietly(readFileSync(file, 'utf8'), file);
const jsonFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();

/** One document per State of the Union address (data/<year>_<name>_<party>.json). */
export function loadSotu(dataDir: string): RawDocument[] {
  return jsonFiles(dataDir).map((file) => {
    const { text } = readJson(join(dataDir, file)) as { text?: unknown };
    if (typeof text !== 'string') throw new DataError(`${join(dataDir, file)}: no string field 'text'`);
    return { key: `sotu:${file.slice(0, -5)}`, text, label: 'sotu' };
  });
}

/** One document per Moby-Dick chapter (plus etymology, extracts, epilogue; not the contents page). */
export function loadMobyDick(dataDir: string): RawDocument[] {
  return jsonFiles(dataDir)
    .filter((file) => file !== 'file_list.json' && file !== 'contents.json')
    .map((file) => {
      const { text } = readJson(join(dataDir, file)) as { text?: unknown };
      if (typeof text !== 'string') throw new DataError(`${join(dataDir, file)}: no string field 'text'`);
      return { key: `moby-dick:${file.slice(0, -5)}`, text, label: 'moby-dick' };
    });
}

function flattenFactbook(value: unknown, path: string[], lines: string[]): void {
  if (value === null || typeof value !== 'object') return;
  for (const [field, inner] of Object.entries(value)) {
    if (field === 'text') {
      if (typeof inner === 'string' && inner.trim() !== '') lines.push(`${path.join(' - ')}: ${inner}`);
    } else flattenFactbook(inner, [...path, field], lines);
  }
}

/** One document per country and top-level section (Geography, Economy…): `Field - sub: text` lines. */
export function loadFactbook(packageDir: string): RawDocument[] {
  const docs: RawDocument[] = [];
  const regions = readdirSync(packageDir)
    .filter((d) => d !== 'meta' && d !== 'node_modules' && lstatSync(join(packageDir, d)).isDirectory())
    .sort();
  for (const region of regions) {
    for (const file of jsonFiles(join(packageDir, region))) {
      const country = readJson(join(packageDir, region, file)) as Record<string, unknown>;
      for (const [section, content] of Object.entries(country ?? {})) {
        const lines: string[] = [];
        flattenFactbook(content, [], lines);
        if (lines.length > 0)
          docs.push({
            key: `factbook:${region}/${file.slice(0, -5)}/${section}`,
            text: `${section}\n${lines.join('\n')}`,
            label: 'factbook',
          });
      }
    }
  }
  return docs;
}

export const fortunesDir = (debianRoot: string): string => join(debianRoot, 'usr/share/games/fortunes');

/**
 * Fortune files: items separated by lines holding only `%`. The `.dat` indexes and the `.u8`
 * symlinks are skipped. Keys come from the text (the same fortune sits in several files).
 */
export function loadFortunes(dir: string): RawDocument[] {
  const docs: RawDocument[] = [];
  for (const file of readdirSync(dir).sort()) {
    const path = join(dir, file);
    if (file.endsWith('.dat') || lstatSync(path).isSymbolicLink() || !lstatSync(path).isFile()) continue;
    for (const item of readFileSync(path, 'utf8').split(/^%[ \t]*$/m)) docs.push({ text: item, label: 'fortunes' });
  }
  return docs;
}

export const fortunesPresent = (debianRoot: string): boolean => existsSync(fortunesDir(debianRoot));
