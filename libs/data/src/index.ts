export type { CorpusDescription, CorpusName, Document, SourceOverrides, SplitName, SplitSet, SplitSizes } from './types';
export { splitNames } from './types';
export { CorpusContentMismatchError, CorpusUnavailableError, DataError } from './errors';
export { corpusPins, type CorpusPin } from './pins';
export { decodeHtmlEntities, normaliseText, stripHtml } from './normalise';
export { finaliseDocuments, type FinaliseStats } from './documents';
export {
  checkPinnedContent,
  corpusDigest,
  corpusLabels,
  corpusNames,
  CorpusUnknownError,
  describeCorpus,
  isCorpusName,
  loadCorpus,
  loadCorpusWithStats,
  loadPinnedCorpus,
  type LoadedCorpus,
} from './corpora';
export { defaultSplitSizes, splitCorpus, splitDigest, splitOrderKey } from './split';
export { controlCodePrompt, formatWithControlCode } from './control-code';
export { countCharacters, countTokens, datasetInfo, type DatasetInfo, type DatasetInfoOptions } from './info';
export { datasetFormat, datasetHeader, makeDataset, readDatasetFile, writeDatasetFile, type Dataset } from './dataset-file';
export { dataCacheDir, workspaceRoot } from './sources';
