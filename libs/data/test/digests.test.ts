// Split digests must be the same on every machine with the same package versions. The expected
// values are committed; regenerate them deliberately (after a change that is meant to move the
// splits) with `DPKD_UPDATE_DIGESTS=1 npx vitest run test/digests.test.ts`, and say why in the commit.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { corpusNames, datasetInfo, defaultSplitSizes, loadCorpus, splitCorpus, splitDigest, splitNames } from '../src';
import { fixtureDir, fixtureSources } from './fixtures';

const update = process.env.DPKD_UPDATE_DIGESTS === '1';

function expectCommitted(file: string, actual: unknown): void {
  const path = join(fixtureDir, file);
  if (update || !existsSync(path)) {
    if (!update) throw new Error(`${path} is missing; create it with DPKD_UPDATE_DIGESTS=1`);
    writeFileSync(path, `${JSON.stringify(actual, null, 2)}\n`);
  }
  expect(actual).toEqual(JSON.parse(readFileSync(path, 'utf8')));
}

describe('datasetInfo on the fixtures', () => {
  test('matches the committed documents, characters, tokens, classes and split digests', async () => {
    const infos = [];
    for (const name of corpusNames) {
      infos.push(await datasetInfo(name, { validation: 1, test: 1 }, { sources: fixtureSources, cacheTokens: false }));
    }
    expectCommitted('expected-info.json', infos);
    const imdb = infos[0]!;
    expect(imdb.splits.train.documents + imdb.splits.validation.documents + imdb.splits.test.documents).toBe(imdb.documents);
  });
});

describe('the real corpora from the pinned npm packages', () => {
  // One bounded test (about 5 s idle): loads imdb, wordnet, spam and public-mix (npm sources only) and
  // compares split digests. The timeout is for a loaded machine: CI once took over 60 s here at load ~6.
  test('split digests match the committed ones', async () => {
    const noCache = { cacheDir: join(fixtureDir, 'no-such-cache') };
    const digests: Record<string, Record<string, { documents: number; sha256: string }>> = {};
    for (const name of ['imdb', 'wordnet', 'spam', 'public-mix']) {
      const docs = await loadCorpus(name, noCache);
      const splits = splitCorpus(name, docs, defaultSplitSizes(docs.length));
      digests[name] = Object.fromEntries(splitNames.map((s) => [s, { documents: splits[s].length, sha256: splitDigest(splits[s]) }]));
    }
    expectCommitted('real-digests.json', digests);
  }, 300_000);
});
