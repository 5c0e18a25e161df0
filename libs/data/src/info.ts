import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTokenizer, type Tokenizer } from '@dpkd/tokenizer';
import { corpusDigest, loadCorpus } from './corpora';
import { corpusPins } from './pins';
import { defaultSplitSizes, splitCorpus, splitDigest } from './split';
import { dataCacheDir } from './sources';
import { splitNames, type Document, type SourceOverrides, type SplitName, type SplitSizes } from './types';

/** The shape `dpkd data info NAME --json` prints. */
export interface DatasetInfo {
  name: string;
  documents: number;
  /** Unicode code points of the normalised texts. */
  characters: number;
  /** Tokens of the texts alone (no control code, no EOS) under the project tokenizer. */
  tokens: number;
  classes: Record<string, number>;
  /**
   * The content digest of the whole corpus (corpusDigest), the pinned one (pins.ts) and whether they match:
   * a Dataset refuses a corpus that does not match its pin.
   */
  content: { sha256: string; pinned: string; matches: boolean };
  splits: Record<SplitName, { documents: number; sha256: string }>;
}

export interface DatasetInfoOptions {
  sources?: SourceOverrides;
  /** Default: the project tokenizer, createTokenizer() from @dpkd/tokenizer. */
  tokenizer?: Tokenizer;
  /**
   * Keep token counts in <cache>/info/ keyed by the corpus digest and the tokenizer fingerprint
   * (counting IMDb's 64 M characters takes seconds; the cache holds numbers only, no text).
   * Default true.
   */
  cacheTokens?: boolean;
}

const surrogatePairs = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;
/** Code points, not UTF-16 units, so an emoji counts once. */
export const countCharacters = (text: string): number => text.length - (text.match(surrogatePairs)?.length ?? 0);

export function countTokens(documents: readonly Document[], tokenizer: Tokenizer): number {
  let tokens = 0;
  for (const doc of documents) tokens += tokenizer.encode(doc.text).length;
  return tokens;
}

function cachedTokenCount(cacheDir: string, file: string, count: () => number): number {
  const path = join(cacheDir, 'info', file);
  try {
    const cached = JSON.parse(readFileSync(path, 'utf8')) as { tokens?: unknown };
    if (typeof cached.tokens === 'number') return cached.tokens;
  } catch {
    // No cache entry yet (or an unreadable one): count and write it.
  }
  const tokens = count();
  try {
    mkdirSync(join(cacheDir, 'info'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ tokens })}\n`);
    renameSync(tmp, path);
  } catch {
    // A read-only cache only costs the recount next time.
  }
  return tokens;
}

/** The numbers `dpkd data info` prints; sizes default to defaultSplitSizes(n). */
export async function datasetInfo(name: string, sizes: Partial<SplitSizes> = {}, options: DatasetInfoOptions = {}): Promise<DatasetInfo> {
  const documents = await loadCorpus(name, options.sources);
  const splits = splitCorpus(name, documents, { ...defaultSplitSizes(documents.length), ...definedOnly(sizes) });
  const classes: Record<string, number> = {};
  let characters = 0;
  for (const doc of documents) {
    characters += countCharacters(doc.text);
    if (doc.label !== undefined) classes[doc.label] = (classes[doc.label] ?? 0) + 1;
  }
  const sortedClasses = Object.fromEntries(Object.entries(classes).sort(([a], [b]) => (a < b ? -1 : 1)));
  const tokenizer = options.tokenizer ?? createTokenizer();
  const count = () => countTokens(documents, tokenizer);
  const tokens =
    options.cacheTokens === false
      ? count()
      : cachedTokenCount(
          dataCacheDir(options.sources?.cacheDir),
          `${name}.${splitDigest(documents).slice(0, 16)}.${tokenizer.fingerprint.slice(0, 16)}.tokens.json`,
          count,
        );
  const splitInfo = Object.fromEntries(
    splitNames.map((split) => [split, { documents: splits[split].length, sha256: splitDigest(splits[split]) }]),
  ) as DatasetInfo['splits'];
  const sha256 = corpusDigest(documents);
  const pinned = corpusPins[name as keyof typeof corpusPins].sha256;
  const content = { sha256, pinned, matches: sha256 === pinned };
  return { name, documents: documents.length, characters, tokens, classes: sortedClasses, content, splits: splitInfo };
}

function definedOnly(sizes: Partial<SplitSizes>): Partial<SplitSizes> {
  return Object.fromEntries(Object.entries(sizes).filter(([, v]) => v !== undefined));
}
