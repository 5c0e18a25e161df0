// Dataset: loads a corpus, splits it deterministically, writes @dpkd/data's dataset file.
import { join } from 'node:path';
import type { DatasetDescription, NodeImplementation } from '@dpkd/graph';
import { type Dataset, describeCorpus, type Document, loadCorpus, makeDataset, splitCorpus, writeDatasetFile } from '@dpkd/data';
import type { DatasetParams } from '@dpkd/schema';

/** The loaded corpus per process: describeDataset (plan time) and run share it. */
const corpora = new Map<string, Promise<Document[]>>();
const loadCached = (corpus: string): Promise<Document[]> => {
  let hit = corpora.get(corpus);
  if (!hit) {
    hit = loadCorpus(corpus);
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
      const documents = await loadCached(params.corpus);
      const splits = splitCorpus(params.corpus, documents, { train: params.train, validation: params.validation ?? 1000, test: params.test ?? 1000 });
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

const isPrivate = (params: DatasetParams): boolean => params.private ?? describeCorpus(params.corpus).privateByDefault;

/** What the engine stores with a Dataset artifact. */
export interface DatasetMeta {
  unit: string;
  private: boolean;
  n: number;
  labels: string[];
  corpus: string;
  sizes: { train: number; validation: number; test: number };
}

export const DatasetNode: NodeImplementation = {
  type: 'Dataset',
  async describeDataset(raw): Promise<DatasetDescription> {
    const params = raw as unknown as DatasetParams;
    const dataset = await buildDataset(params);
    return { unit: params.corpus, private: dataset.private, n: dataset.splits.train.length };
  },
  async run(ctx) {
    const params = ctx.params as unknown as DatasetParams;
    const dataset = await buildDataset(params);
    const file = join(ctx.scratchDir, 'dataset.json');
    writeDatasetFile(file, dataset);
    const sizes = { train: dataset.splits.train.length, validation: dataset.splits.validation.length, test: dataset.splits.test.length };
    const meta: DatasetMeta = { unit: params.corpus, private: dataset.private, n: sizes.train, labels: dataset.labels, corpus: params.corpus, sizes };
    ctx.log(`${params.corpus}: train ${sizes.train}, validation ${sizes.validation}, test ${sizes.test} (${dataset.private ? 'private' : 'public'})`);
    return { outputs: { dataset: { file, meta } }, metrics: { ...sizes, private: dataset.private } };
  },
};
