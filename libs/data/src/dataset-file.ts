import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { corpusLabels, describeCorpus, isCorpusName } from './corpora';
import { DataError, parseJsonQuietly } from './errors';
import { splitDigest } from './split';
import { splitNames, type Document, type SplitName, type SplitSet } from './types';

/** A split corpus as one artifact: what the Dataset node writes and every consumer reads. */
export interface Dataset {
  corpus: string;
  /** Private splits are the ones DP mechanisms must account for. */
  private: boolean;
  labelName: string;
  /** Every label value the corpus can carry, sorted; empty for unlabelled corpora. */
  labels: string[];
  splits: SplitSet;
}

export const datasetFormat = 'dpkd-dataset/1';

interface DatasetFileHeader {
  format: typeof datasetFormat;
  corpus: string;
  private: boolean;
  labelName: string;
  labels: string[];
  sizes: Record<SplitName, number>;
  sha256: Record<SplitName, string>;
}

/** A Dataset for a known corpus, with its privacy and label set from the registry. */
export function makeDataset(corpus: string, splits: SplitSet, options: { private?: boolean } = {}): Dataset {
  const description = describeCorpus(corpus);
  const labels = isCorpusName(corpus) ? [...corpusLabels(corpus)].sort() : [];
  return { corpus, private: options.private ?? description.privateByDefault, labelName: description.labelName, labels, splits };
}

export function datasetHeader(dataset: Dataset): DatasetFileHeader {
  const sizes = {} as Record<SplitName, number>;
  const sha256 = {} as Record<SplitName, string>;
  for (const split of splitNames) {
    sizes[split] = dataset.splits[split].length;
    sha256[split] = splitDigest(dataset.splits[split]);
  }
  return {
    format: datasetFormat,
    corpus: dataset.corpus,
    private: dataset.private,
    labelName: dataset.labelName,
    labels: dataset.labels,
    sizes,
    sha256,
  };
}

/**
 * One JSON file: the header (corpus, privacy, label set, sizes, digests) then the splits. Written
 * to a temp file and renamed, so a reader never sees half a dataset.
 */
export function writeDatasetFile(path: string, dataset: Dataset): void {
  const body = { ...datasetHeader(dataset), splits: dataset.splits };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(body));
  renameSync(tmp, path);
}

const isDocument = (d: unknown): d is Document => {
  const doc = d as Document;
  return (
    typeof doc === 'object' &&
    doc !== null &&
    typeof doc.key === 'string' &&
    typeof doc.text === 'string' &&
    (doc.label === undefined || typeof doc.label === 'string')
  );
};

/** Reads and checks a dataset file: the format, every document's shape, and each split's digest. */
export function readDatasetFile(path: string): Dataset {
  const data = parseJsonQuietly(readFileSync(path, 'utf8'), path) as Partial<DatasetFileHeader & { splits: Record<string, unknown> }>;
  if (data?.format !== datasetFormat) throw new DataError(`${path} is not a dataset file (format '${datasetFormat}' expected)`);
  if (
    typeof data.corpus !== 'string' ||
    typeof data.private !== 'boolean' ||
    typeof data.labelName !== 'string' ||
    !Array.isArray(data.labels)
  ) {
    throw new DataError(`${path}: header lacks corpus, private, labelName or labels; rewrite it with writeDatasetFile`);
  }
  const splits = {} as SplitSet;
  for (const split of splitNames) {
    const docs = data.splits?.[split];
    if (!Array.isArray(docs)) throw new DataError(`${path}: split '${split}' is missing`);
    const bad = docs.findIndex((d) => !isDocument(d));
    if (bad >= 0) throw new DataError(`${path}: split '${split}' document #${bad} is not {key, text, label?}`);
    if (splitDigest(docs) !== data.sha256?.[split]) {
      throw new DataError(`${path}: split '${split}' does not match its recorded sha256; the file was changed or damaged, recreate it`);
    }
    splits[split] = docs;
  }
  return { corpus: data.corpus, private: data.private, labelName: data.labelName, labels: data.labels, splits };
}
