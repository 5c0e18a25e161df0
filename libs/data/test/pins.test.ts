// The committed pins (src/pins.ts) are the content of the corpora from the pinned packages. A corpus
// whose source is not on this machine (the Debian ones without `npm run data:debian`) is checked to refuse
// loading with the command that gets it. Regenerate deliberately with
// `DPKD_UPDATE_PINS=1 npx vitest run test/pins.test.ts` (rewrites src/pins.ts for the corpora present).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  CorpusContentMismatchError,
  checkPinnedContent,
  corpusDigest,
  corpusNames,
  corpusPins,
  describeCorpus,
  loadCorpus,
  loadPinnedCorpus,
} from '../src';
import { fixtureSources } from './fixtures';

const update = process.env.DPKD_UPDATE_PINS === '1';
const pinsFile = join(import.meta.dirname, '../src/pins.ts');

describe('pinned corpus content', () => {
  for (const name of corpusNames) {
    const { available, howToGet } = describeCorpus(name);
    if (!available) {
      // Not skipped: a corpus whose source is absent (the Debian ones on a clean clone) must refuse to
      // load and say how to get it, never load something else.
      test(`${name} is not on this machine: loading it is refused with the command that gets it`, async () => {
        await expect(loadCorpus(name)).rejects.toThrow(howToGet!);
      }, 60_000);
      continue;
    }
    test(`${name} matches its pin`, async () => {
      const documents = await loadCorpus(name);
      const actual = { documents: documents.length, sha256: corpusDigest(documents) };
      if (update) {
        const text = readFileSync(pinsFile, 'utf8');
        const line = new RegExp(`(\\n  ${name.includes('-') ? `'${name}'` : name}: )\\{[^}]*\\}`);
        expect(text).toMatch(line);
        writeFileSync(pinsFile, text.replace(line, `$1{ documents: ${actual.documents}, sha256: '${actual.sha256}' }`));
      } else {
        expect(actual).toEqual(corpusPins[name]);
      }
    }, 60_000);
  }
});

describe('content that is not the pinned one', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'dpkd-pins-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('is refused with both digests and the fix', async () => {
    // The fixtures are a stand-in for "another package version": same loader, different documents.
    const documents = await loadCorpus('public-mix', fixtureSources);
    let error: unknown;
    try {
      checkPinnedContent('public-mix', documents);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CorpusContentMismatchError);
    const message = (error as Error).message;
    expect(message).toContain(corpusDigest(documents));
    expect(message).toContain(corpusPins['public-mix'].sha256);
    expect(message).toMatch(/to get the pinned content: npm ci/);
  });

  test('an edited Debian cache is refused on load, naming the re-fetch command', async () => {
    const fortunes = join(scratch, 'deb/usr/share/games/fortunes');
    (await import('node:fs')).mkdirSync(fortunes, { recursive: true });
    writeFileSync(join(fortunes, 'edited'), 'Not the Debian fortune you pinned.\n%\nNor this one.\n');
    await expect(loadPinnedCorpus('fortunes', { cacheDir: scratch })).rejects.toThrow(
      /corpus 'fortunes' has content sha256 [0-9a-f]{64}, but dpkd pins [0-9a-f]{64}; to get the pinned content: rm -rf data\/cache\/deb .*npm run data:debian/,
    );
  });
});
