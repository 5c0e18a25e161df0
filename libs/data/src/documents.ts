import { normaliseText } from './normalise';
import { sha256Hex } from './hash';
import type { RawDocument } from './loaders/raw';
import type { Document } from './types';

export interface FinaliseStats {
  /** Documents that were empty after normalisation. */
  empty: number;
  /** Exact duplicates (same normalised text) removed. */
  duplicates: number;
}

const byKey = (a: Document, b: Document): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * Normalises, drops empty documents and exact duplicates, and sorts by key. Which duplicate
 * survives depends only on content (the smallest key wins), never on the package's array order,
 * so the result is the same however the source is ordered. A missing key becomes the first 128
 * bits of sha256(normalised text). Keys must be unique after dedup
 * (loaders derive them so); a clash is a loader bug and throws, naming no text.
 */
export function finaliseDocuments(raw: Iterable<RawDocument>, corpus: string): { documents: Document[]; stats: FinaliseStats } {
  const stats: FinaliseStats = { empty: 0, duplicates: 0 };
  const byText = new Map<string, Document>();
  for (const doc of raw) {
    const text = normaliseText(doc.text);
    if (text === '') {
      stats.empty++;
      continue;
    }
    // Texts without a natural id are keyed by their normalised text.
    const key = doc.key ?? sha256Hex(text).slice(0, 32);
    const normalised: Document = doc.label === undefined ? { key, text } : { key, text, label: doc.label };
    const seen = byText.get(text);
    if (seen === undefined) byText.set(text, normalised);
    else {
      stats.duplicates++;
      if (normalised.key < seen.key) byText.set(text, normalised);
    }
  }
  const documents = [...byText.values()].sort(byKey);
  for (let i = 1; i < documents.length; i++) {
    if (documents[i]!.key === documents[i - 1]!.key) {
      throw new Error(`corpus '${corpus}': two different documents share key #${i} after dedup; the loader must derive unique keys`);
    }
  }
  return { documents, stats };
}
