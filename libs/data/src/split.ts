import { createHash } from 'node:crypto';
import { DataError } from './errors';
import { sha256Hex } from './hash';
import type { Document, SplitSet, SplitSizes } from './types';

/** The order every split follows: sha256(corpus name | key), so it depends on content only. */
export const splitOrderKey = (corpus: string, key: string): string => sha256Hex(`${corpus}|${key}`);

/** validation = test = min(5000, ⌊10 % of n⌋), train = the rest (the paper held out 5,000 / 5,000). */
export function defaultSplitSizes(documents: number): SplitSizes {
  const heldOut = Math.min(5000, Math.floor(documents / 10));
  return { validation: heldOut, test: heldOut };
}

/**
 * Splits `total` over classes in proportion to their sizes, exactly (largest remainder, ties to
 * the smaller label), never giving a class more than its `capacity`.
 */
function apportion(total: number, classSizes: Map<string, number>, capacity: Map<string, number>): Map<string, number> {
  const population = [...classSizes.values()].reduce((a, b) => a + b, 0);
  const quota = new Map<string, number>();
  const remainder = new Map<string, number>();
  let given = 0;
  for (const [label, size] of classSizes) {
    const ideal = population === 0 ? 0 : (total * size) / population;
    const whole = Math.min(Math.floor(ideal), capacity.get(label)!);
    quota.set(label, whole);
    remainder.set(label, ideal - whole);
    given += whole;
  }
  // What rounding (or a full class) left goes one at a time to the class with room whose share
  // was cut most; the caller has checked that the total fits.
  const byRemainder = [...classSizes.keys()].sort((a, b) => remainder.get(b)! - remainder.get(a)! || (a < b ? -1 : 1));
  while (given < total) {
    const before = given;
    for (const label of byRemainder) {
      if (given === total) break;
      if (quota.get(label)! < capacity.get(label)!) {
        quota.set(label, quota.get(label)! + 1);
        given++;
      }
    }
    if (given === before) break;
  }
  return quota;
}

/**
 * Stratified deterministic split. Within each label (unlabelled documents form one stratum), the
 * documents are ordered by sha256(corpus | key); the first go to test, the next to validation,
 * the next (up to the train cap) to train. Per-label counts are proportional to the label's share
 * and sum to exactly the requested sizes; the splits are disjoint, and each is returned in hash
 * order. Nothing depends on the input's order.
 */
export function splitCorpus(corpus: string, documents: readonly Document[], sizes: SplitSizes): SplitSet {
  const n = documents.length;
  for (const [name, size] of Object.entries(sizes)) {
    if (size !== undefined && (!Number.isInteger(size) || size < 0))
      throw new DataError(`split size '${name}' must be a whole number >= 0, got ${size}`);
  }
  const train = sizes.train ?? n - sizes.validation - sizes.test;
  if (sizes.validation + sizes.test + train > n || train < 0) {
    throw new DataError(
      `corpus '${corpus}' has ${n} documents, fewer than train ${sizes.train ?? '(rest)'} + validation ${sizes.validation} + test ${sizes.test}; ask for smaller splits`,
    );
  }
  const strata = new Map<string, { order: string; doc: Document }[]>();
  const seenKeys = new Set<string>();
  for (const doc of documents) {
    if (seenKeys.has(doc.key))
      throw new DataError(`corpus '${corpus}': key of document #${seenKeys.size} repeats; keys must be unique (use loadCorpus)`);
    seenKeys.add(doc.key);
    const label = doc.label ?? '';
    if (!strata.has(label)) strata.set(label, []);
    strata.get(label)!.push({ order: splitOrderKey(corpus, doc.key), doc });
  }
  for (const members of strata.values()) members.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  const sizesByLabel = new Map([...strata].map(([label, members]) => [label, members.length]));
  const left = new Map(sizesByLabel);
  const take = (total: number) => {
    const quota = apportion(total, sizesByLabel, left);
    for (const [label, q] of quota) left.set(label, left.get(label)! - q);
    return quota;
  };
  const testQuota = take(sizes.test);
  const validationQuota = take(sizes.validation);
  const trainQuota = take(train);
  const result: Record<keyof SplitSet, { order: string; doc: Document }[]> = { train: [], validation: [], test: [] };
  for (const [label, members] of strata) {
    const t = testQuota.get(label)!;
    const v = validationQuota.get(label)!;
    result.test.push(...members.slice(0, t));
    result.validation.push(...members.slice(t, t + v));
    result.train.push(...members.slice(t + v, t + v + trainQuota.get(label)!));
  }
  const inHashOrder = (items: { order: string; doc: Document }[]) =>
    items.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0)).map((item) => item.doc);
  return { train: inHashOrder(result.train), validation: inHashOrder(result.validation), test: inHashOrder(result.test) };
}

/**
 * sha256 over the split in its order, one canonical JSON line per document: [key, label|null, text].
 * Two machines with the same package versions get the same digest.
 */
export function splitDigest(documents: readonly Document[]): string {
  const hash = createHash('sha256');
  for (const doc of documents) hash.update(`${JSON.stringify([doc.key, doc.label ?? null, doc.text])}\n`, 'utf8');
  return hash.digest('hex');
}
