import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli, workspaceRoot } from './run-cli';

const fixtures = join(workspaceRoot, 'libs/data/test/fixtures');
const scratch = mkdtempSync(join(tmpdir(), 'dpkd-cli-data-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of the fixture Debian cache (FOLDOC + fortunes), so the token-count cache lands in scratch. */
const fixtureCache = join(scratch, 'cache');
cpSync(join(fixtures, 'cache'), fixtureCache, { recursive: true, verbatimSymlinks: true });
const emptyCache = join(scratch, 'empty-cache');

describe('dpkd data list', () => {
  test('--json lists every corpus with its availability, and how to get a missing one', () => {
    const r = runCli(['data', 'list', '--json'], { env: { DPKD_DATA_CACHE: emptyCache } });
    expect(r.code).toBe(0);
    const { corpora } = JSON.parse(r.stdout);
    expect(corpora.map((c: { name: string }) => c.name)).toEqual(['imdb', 'wordnet', 'foldoc', 'spam', 'public-mix', 'fortunes']);
    const foldoc = corpora.find((c: { name: string }) => c.name === 'foldoc');
    expect(foldoc).toMatchObject({ available: false, privateByDefault: true, labelName: 'domain' });
    expect(foldoc.howToGet).toMatch(/npm run data:debian/);
    expect(corpora.find((c: { name: string }) => c.name === 'imdb').available).toBe(true);
  });

  test('the table says how to get a missing corpus', () => {
    const r = runCli(['data', 'list'], { env: { DPKD_DATA_CACHE: emptyCache } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/foldoc\s+missing\s+private/);
    expect(r.stdout).toMatch(/to get it: npm run data:debian/);
  });
});

describe('dpkd data info', () => {
  test('--json prints the committed digests for the FOLDOC fixture', () => {
    const r = runCli(['data', 'info', 'foldoc', '--json', '--validation', '1', '--test', '1'], { env: { DPKD_DATA_CACHE: fixtureCache } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const expected = JSON.parse(readFileSync(join(fixtures, 'expected-info.json'), 'utf8')).find(
      (i: { name: string }) => i.name === 'foldoc',
    );
    expect(JSON.parse(r.stdout)).toEqual(expected);
    expect(Object.keys(JSON.parse(r.stdout))).toEqual(['name', 'documents', 'characters', 'tokens', 'classes', 'content', 'splits']);
    // The fixture is not the pinned FOLDOC: info says so (a Dataset would refuse it).
    expect(JSON.parse(r.stdout).content).toMatchObject({ pinned: expect.stringMatching(/^[0-9a-f]{64}$/), matches: false });
  });

  test('the table shows counts and hashes, never document text', () => {
    const r = runCli(['data', 'info', 'foldoc', '--train', '3', '--validation', '2', '--test', '2'], {
      env: { DPKD_DATA_CACHE: fixtureCache },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/documents\s+9/);
    expect(r.stdout).toMatch(/train\s+3\s+sha256 [0-9a-f]{64}/);
    expect(r.stdout).not.toMatch(/LAN technology|multiuser|Tony Hoare/);
  });

  test('a missing corpus fails with one line saying how to get it', () => {
    const r = runCli(['data', 'info', 'foldoc', '--json'], { env: { DPKD_DATA_CACHE: emptyCache } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/corpus 'foldoc' is not available.*npm run data:debian/);
  });

  test('an unknown corpus or a bad size is invalid input (exit 2)', () => {
    const unknown = runCli(['data', 'info', 'yelp']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown corpus 'yelp'; known corpora: imdb/);
    const bad = runCli(['data', 'info', 'foldoc', '--test', '-3'], { env: { DPKD_DATA_CACHE: fixtureCache } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--test must be a whole number/);
    const tooBig = runCli(['data', 'info', 'foldoc', '--test', '100'], { env: { DPKD_DATA_CACHE: fixtureCache } });
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toMatch(/has 9 documents/);
  });
});
