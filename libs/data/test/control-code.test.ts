import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  controlCodePrompt,
  formatWithControlCode,
  loadCorpus,
  makeDataset,
  readDatasetFile,
  splitCorpus,
  splitDigest,
  writeDatasetFile,
} from '../src';
import { fixtureSources } from './fixtures';

const scratch = mkdtempSync(join(tmpdir(), 'dpkd-dataset-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('control codes (paper: labels joined by TAB, a blank line, the text; EOS added as a token)', () => {
  test('formats one and several label values', () => {
    expect(formatWithControlCode(['positive'], 'Great film.')).toBe('positive\n\nGreat film.');
    expect(formatWithControlCode(['Restaurants', '5'], 'Tasty.')).toBe('Restaurants\t5\n\nTasty.');
    expect(controlCodePrompt(['operating system'])).toBe('operating system\n\n');
  });

  test('no labels means no prefix', () => {
    expect(formatWithControlCode([], 'plain')).toBe('plain');
  });

  test('refuses label values containing the separators', () => {
    expect(() => formatWithControlCode(['a\tb'], 'x')).toThrow(/TAB or newline/);
  });
});

describe('dataset file', () => {
  const load = async () => {
    const docs = await loadCorpus('imdb', fixtureSources);
    return makeDataset('imdb', splitCorpus('imdb', docs, { validation: 2, test: 2 }));
  };

  test('round-trips with corpus, privacy, labels, sizes and digests in the header', async () => {
    const dataset = await load();
    const path = join(scratch, 'imdb.dataset.json');
    writeDatasetFile(path, dataset);
    const header = JSON.parse(readFileSync(path, 'utf8'));
    expect(header).toMatchObject({
      format: 'dpkd-dataset/1',
      corpus: 'imdb',
      private: true,
      labelName: 'sentiment',
      labels: ['negative', 'positive'],
      sizes: { train: 5, validation: 2, test: 2 },
      sha256: { test: splitDigest(dataset.splits.test) },
    });
    expect(readDatasetFile(path)).toEqual(dataset);
  });

  test('refuses a tampered split without quoting its text', async () => {
    const path = join(scratch, 'tampered.dataset.json');
    writeDatasetFile(path, await load());
    const body = JSON.parse(readFileSync(path, 'utf8'));
    body.splits.train[0].text = 'SECRET changed text';
    writeFileSync(path, JSON.stringify(body));
    expect(() => readDatasetFile(path)).toThrow(/split 'train' does not match its recorded sha256/);
    try {
      readDatasetFile(path);
    } catch (error) {
      expect(String(error)).not.toContain('SECRET');
    }
  });

  test('refuses a file of another format', () => {
    const path = join(scratch, 'other.json');
    writeFileSync(path, '{"hello": 1}');
    expect(() => readDatasetFile(path)).toThrow(/not a dataset file/);
  });
});
