import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { defaultSplitSizes, splitCorpus, splitDigest, splitOrderKey, type Document } from '../src';

const corpusArb = fc
  .uniqueArray(fc.record({ key: fc.string({ minLength: 1, maxLength: 6 }), label: fc.constantFrom('a', 'b', 'c', undefined) }), {
    selector: (d) => d.key,
    minLength: 1,
    maxLength: 120,
  })
  .map((docs) =>
    docs.map((d): Document =>
      d.label === undefined ? { key: d.key, text: `t${d.key}` } : { key: d.key, text: `t${d.key}`, label: d.label },
    ),
  );

const sizesArb = (n: number) =>
  fc
    .tuple(fc.integer({ min: 0, max: n }), fc.integer({ min: 0, max: n }), fc.integer({ min: 0, max: n }), fc.boolean())
    .filter(([v, t, tr, capped]) => v + t + (capped ? tr : 0) <= n)
    .map(([validation, test, train, capped]) => (capped ? { validation, test, train } : { validation, test }));

describe('splitCorpus', () => {
  test('gives exact sizes, disjoint splits, and the rest to train when uncapped', () => {
    fc.assert(
      fc.property(
        corpusArb.chain((docs) => fc.tuple(fc.constant(docs), sizesArb(docs.length))),
        ([docs, sizes]) => {
          const s = splitCorpus('c', docs, sizes);
          expect(s.validation).toHaveLength(sizes.validation);
          expect(s.test).toHaveLength(sizes.test);
          expect(s.train).toHaveLength(sizes.train ?? docs.length - sizes.validation - sizes.test);
          const keys = [...s.train, ...s.validation, ...s.test].map((d) => d.key);
          expect(new Set(keys).size).toBe(keys.length);
          const all = new Set(docs.map((d) => d.key));
          for (const k of keys) expect(all.has(k)).toBe(true);
        },
      ),
    );
  });

  test('does not depend on the input order', () => {
    fc.assert(
      fc.property(corpusArb, fc.integer(), (docs, seed) => {
        const shuffled = [...docs].sort((a, b) => splitOrderKey(String(seed), a.key).localeCompare(splitOrderKey(String(seed), b.key)));
        const sizes = defaultSplitSizes(docs.length);
        expect(splitCorpus('c', shuffled, sizes)).toEqual(splitCorpus('c', docs, sizes));
      }),
    );
  });

  test('is stratified: each label gets its proportional share, within one document', () => {
    fc.assert(
      fc.property(
        corpusArb.chain((docs) => fc.tuple(fc.constant(docs), sizesArb(docs.length))),
        ([docs, sizes]) => {
          const s = splitCorpus('c', docs, sizes);
          const n = docs.length;
          for (const label of ['a', 'b', 'c', undefined]) {
            const share = docs.filter((d) => d.label === label).length / n;
            const inTest = s.test.filter((d) => d.label === label).length;
            expect(Math.abs(inTest - share * sizes.test)).toBeLessThanOrEqual(1 + 1e-9);
          }
        },
      ),
    );
  });

  test('orders each split by sha256(name | key), and the name changes the split', () => {
    const docs = Array.from({ length: 200 }, (_, i): Document => ({ key: `k${i}`, text: `text ${i}`, label: i % 3 === 0 ? 'x' : 'y' }));
    const s = splitCorpus('one', docs, { validation: 20, test: 20 });
    const order = s.train.map((d) => splitOrderKey('one', d.key));
    expect(order).toEqual([...order].sort());
    expect(splitCorpus('two', docs, { validation: 20, test: 20 }).test).not.toEqual(s.test);
  });

  test('a train cap takes a prefix-like, stratified subset and leaves the held-out splits alone', () => {
    const docs = Array.from({ length: 300 }, (_, i): Document => ({ key: `k${i}`, text: `t${i}`, label: i % 4 === 0 ? 'x' : 'y' }));
    const full = splitCorpus('c', docs, { validation: 30, test: 30 });
    const capped = splitCorpus('c', docs, { validation: 30, test: 30, train: 100 });
    expect(capped.test).toEqual(full.test);
    expect(capped.validation).toEqual(full.validation);
    expect(capped.train.filter((d) => d.label === 'x')).toHaveLength(25);
    const fullKeys = new Set(full.train.map((d) => d.key));
    for (const d of capped.train) expect(fullKeys.has(d.key)).toBe(true);
  });

  test('refuses sizes larger than the corpus, naming the numbers', () => {
    const docs: Document[] = [
      { key: 'a', text: 'x' },
      { key: 'b', text: 'y' },
    ];
    expect(() => splitCorpus('c', docs, { validation: 2, test: 1 })).toThrow(/has 2 documents.*validation 2 \+ test 1/);
    expect(() => splitCorpus('c', docs, { validation: 0.5, test: 0 })).toThrow(/whole number/);
  });

  test('refuses repeated keys', () => {
    expect(() =>
      splitCorpus(
        'c',
        [
          { key: 'a', text: 'x' },
          { key: 'a', text: 'y' },
        ],
        { validation: 0, test: 0 },
      ),
    ).toThrow(/repeats/);
  });
});

describe('defaultSplitSizes and splitDigest', () => {
  test('held-out splits are min(5000, 10 %)', () => {
    expect(defaultSplitSizes(49_580)).toEqual({ validation: 4958, test: 4958 });
    expect(defaultSplitSizes(73_486)).toEqual({ validation: 5000, test: 5000 });
    expect(defaultSplitSizes(9)).toEqual({ validation: 0, test: 0 });
  });

  test('the digest covers key, label, text and order', () => {
    const a: Document = { key: 'a', text: 'x', label: 'p' };
    const b: Document = { key: 'b', text: 'y' };
    const base = splitDigest([a, b]);
    expect(splitDigest([a, b])).toBe(base);
    expect(splitDigest([b, a])).not.toBe(base);
    expect(splitDigest([{ ...a, label: 'q' }, b])).not.toBe(base);
    expect(splitDigest([{ ...a, text: 'z' }, b])).not.toBe(base);
    expect(splitDigest([])).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
