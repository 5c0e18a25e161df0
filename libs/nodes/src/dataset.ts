// Dataset: loads a corpus, splits it deterministically, writes @dpkd/data's dataset file. With `canaries`, it
// also adds audit canaries to the train split (canaries.ts) and writes their inclusion bits to `canaries`.
import { join } from 'node:path';
import { type DatasetDescription, NodeInputError } from '@dpkd/graph';
import {
  CorpusContentMismatchError,
  corpusPins,
  CorpusUnavailableError,
  type CorpusName,
  type Dataset,
  DataError,
  describeCorpus,
  type Document,
  loadPinnedCorpus,
  makeDataset,
  splitCorpus,
  writeDatasetFile,
} from '@dpkd/data';
import { defaultUnitDelta } from '@dpkd/privacy';
import type { DatasetParams, DatasetPorts } from '@dpkd/schema';
import { defineNode } from './define-node';
import { type CanariesMeta, type CanaryParams, canaryDocuments, drawCanaries, includedCount, writeCanariesFile } from './canaries';

/** The loaded corpus per process, checked against its pin: describeDataset (plan time) and run share it. */
const corpora = new Map<string, Promise<Document[]>>();
const loadCached = (corpus: string): Promise<Document[]> => {
  let hit = corpora.get(corpus);
  if (!hit) {
    hit = loadPinnedCorpus(corpus);
    hit.catch(() => corpora.delete(corpus));
    corpora.set(corpus, hit);
  }
  return hit;
};

const datasets = new Map<string, Promise<Dataset>>();

/** The split dataset of these params, memoised per process. */
export function buildDataset(params: DatasetParams): Promise<Dataset> {
  const id = JSON.stringify(params);
  let hit = datasets.get(id);
  if (!hit) {
    hit = (async () => {
      const documents = await loadCached(params.corpus).catch((error: unknown) => {
        // A missing or different corpus is the user's to fix (the message says how), at the `corpus` field.
        if (error instanceof CorpusUnavailableError || error instanceof CorpusContentMismatchError)
          throw new NodeInputError(error.message, 'corpus');
        throw error;
      });
      const sizes = { train: params.train, validation: params.validation ?? 1000, test: params.test ?? 1000 };
      let splits;
      try {
        splits = splitCorpus(params.corpus, documents, sizes);
      } catch (error) {
        if (error instanceof DataError) throw new NodeInputError(error.message, oversizedSplit(sizes, documents.length));
        throw error;
      }
      const cut = params.maxLength;
      if (cut !== undefined) {
        for (const split of ['train', 'validation', 'test'] as const) {
          splits[split] = splits[split].map((d) => (d.text.length > cut ? { ...d, text: d.text.slice(0, cut) } : d));
        }
      }
      return makeDataset(params.corpus, splits, { private: isPrivate(params) });
    })();
    hit.catch(() => datasets.delete(id));
    datasets.set(id, hit);
  }
  return hit;
}

/** The split size to point at when the sizes do not fit the corpus: one that alone is too big, else train if set. */
function oversizedSplit(sizes: { train?: number | undefined; validation: number; test: number }, n: number): string {
  const alone = (['train', 'validation', 'test'] as const).find((s) => (sizes[s] ?? 0) > n);
  return alone ?? (sizes.train !== undefined ? 'train' : 'validation');
}

const isPrivate = (params: DatasetParams): boolean => params.private ?? describeCorpus(params.corpus).privateByDefault;

/**
 * Who the records are about, and the privacy unit's δ: the budget's (params.unitDelta, which the graph lib
 * puts in every Dataset of a budgeted unit, so it is in the key) or the default 1/(10·N), N = the corpus.
 */
function unitDescription(params: DatasetParams, dataset: Dataset, corpusSize: number): DatasetDescription {
  const budgetDelta = (params as { unitDelta?: number }).unitDelta;
  const canaries = canaryParams(params);
  // n counts the included canaries (known at plan time); N stays the corpus, so the unit's δ is the same for
  // every Dataset over it, canaries or not.
  return {
    unit: params.corpus,
    private: dataset.private,
    n: dataset.splits.train.length + (canaries ? includedCount(canaries) : 0),
    corpusSize,
    ...(dataset.private ? { delta: budgetDelta ?? defaultUnitDelta(corpusSize) } : {}),
    ...(canaries ? { canaries: canaries.count } : {}),
  };
}

/** The canary params with their defaults (the schema fills them in; tests may call with the bare count). */
const canaryParams = (params: DatasetParams): CanaryParams | undefined =>
  params.canaries ? { words: 8, code: 'canary', seed: 0, ...params.canaries } : undefined;

/** What the engine stores with a Dataset artifact (DP nodes read the unit's δ from it at run time). */
export interface DatasetMeta {
  unit: string;
  private: boolean;
  n: number;
  corpusSize: number;
  delta?: number;
  /** Audit canaries in the train split's population (each included with probability 1/2, counted in n when included). */
  canaries?: number;
  labels: string[];
  corpus: string;
  sizes: { train: number; validation: number; test: number };
}

export const DatasetNode = defineNode<DatasetParams, DatasetPorts>({
  type: 'Dataset',
  // The pinned digest enters the key; loadPinnedCorpus refuses any other content at plan and run time.
  externalContent: (params) => ({ corpus: corpusPins[params.corpus as CorpusName].sha256 }),
  async describeDataset(params): Promise<DatasetDescription> {
    const dataset = await buildDataset(params);
    return unitDescription(params, dataset, (await loadCached(params.corpus)).length);
  },
  async run(ctx) {
    const params = ctx.params;
    const split = await buildDataset(params);
    const description = unitDescription(params, split, (await loadCached(params.corpus)).length);
    const canaries = canaryParams(params);
    const drawn = canaries ? drawCanaries(canaries) : [];
    // Included canaries join the train split (order does not matter: training samples or shuffles).
    const dataset: Dataset = canaries
      ? { ...split, splits: { ...split.splits, train: [...split.splits.train, ...canaryDocuments(drawn, canaries.code)] } }
      : split;
    if (dataset.splits.train.length !== description.n)
      throw new Error(`Dataset: ${dataset.splits.train.length} train documents, but the plan was told ${description.n}`);
    const file = join(ctx.scratchDir, 'dataset.json');
    writeDatasetFile(file, dataset);
    const sizes = { train: dataset.splits.train.length, validation: dataset.splits.validation.length, test: dataset.splits.test.length };
    const meta: DatasetMeta = { ...description, labels: dataset.labels, corpus: params.corpus, sizes };
    ctx.log(
      `${params.corpus}: train ${sizes.train}, validation ${sizes.validation}, test ${sizes.test} (${dataset.private ? 'private' : 'public'})`,
    );
    // Every Dataset has the port; without canaries it holds none (and an Audit refuses it at plan time).
    const canaryFile = join(ctx.scratchDir, 'canaries.json');
    const code = canaries?.code ?? 'canary';
    const words = canaries?.words ?? 0;
    await writeCanariesFile(canaryFile, {
      format: 'dpkd-canaries/1',
      unit: params.corpus,
      ...(description.delta !== undefined ? { delta: description.delta } : {}),
      code,
      words,
      canaries: drawn,
    });
    const canaryMeta: CanariesMeta = { unit: params.corpus, count: drawn.length, code, words };
    if (canaries) ctx.log(`${canaries.count} audit canaries, ${description.n - split.splits.train.length} of them in the train split`);
    return {
      outputs: { dataset: { file, meta }, canaries: { file: canaryFile, meta: canaryMeta } },
      metrics: { ...sizes, private: dataset.private, ...(canaries ? { canaries: canaries.count } : {}) },
    };
  },
});
