import { join } from 'node:path';
import type { SourceOverrides } from '../src';

export const fixtureDir = join(import.meta.dirname, 'fixtures');

/** Every corpus read from the tiny checked-in fixtures, so no test needs apt or the big packages. */
export const fixtureSources: SourceOverrides = {
  imdbFile: join(fixtureDir, 'imdb/reviews.json'),
  wordnetDir: join(fixtureDir, 'wordnet'),
  spamDir: join(fixtureDir, 'spam'),
  sotuDir: join(fixtureDir, 'sotu'),
  mobyDickDir: join(fixtureDir, 'moby-dick'),
  factbookDir: join(fixtureDir, 'factbook'),
  cacheDir: join(fixtureDir, 'cache'),
};
