// Audit canaries (docs/audit.md): random secrets inserted into a private train split, each independently with
// probability 1/2, for the one-run audit of Steinke, Nasr & Jagielski (2023). How many are included is drawn
// from a generator seeded by the Dataset's params, so the plan knows the train size n (and with it DP-SGD's
// q and steps) before anything runs; which ones, and the secrets themselves, come from the OS CSPRNG. Over
// the seed the bits are exactly i.i.d. Bernoulli(1/2): P(S = s) = P(k = |s|) / C(m, |s|) = 2^-m. The guesser
// (Audit) never uses k. The bits live only in the `canaries` output, which only Audit reads.
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Document } from '@dpkd/data';
import { createRng, cryptoSource, type RandomSource } from '@dpkd/lm';
import { NodeInputError } from '@dpkd/graph';
import { tokenizer } from './common';

export const CANARIES_FORMAT = 'dpkd-canaries/1';

export interface CanaryParams {
  count: number;
  words: number;
  code: string;
  seed: number;
}

export interface Canary {
  key: string;
  /** The secret: `words` random words. */
  text: string;
  included: boolean;
}

export interface CanariesFile {
  format: typeof CANARIES_FORMAT;
  unit: string;
  /** The privacy unit's δ, which the audit tests at. */
  delta?: number;
  code: string;
  words: number;
  canaries: Canary[];
}

/** What the engine stores with a Canaries artifact: no inclusion bit. */
export interface CanariesMeta {
  unit: string;
  count: number;
  code: string;
  words: number;
}

/** How many of `count` canaries are included: Binomial(count, 1/2) from the params' seed (the plan needs it). */
export function includedCount(p: Pick<CanaryParams, 'count' | 'seed'>): number {
  const rng = createRng((p.seed ^ 0x43414e41) >>> 0);
  let k = 0;
  for (let i = 0; i < p.count; i++) if (rng.next() < 0.5) k++;
  return k;
}

/** A uniform integer in [0, n) from the source, without modulo bias (rejection). */
function uniformInt(source: RandomSource, n: number): number {
  const limit = Math.floor(4294967296 / n) * n;
  for (;;) {
    const x = source.uint32();
    if (x < limit) return x % n;
  }
}

let wordList: string[] | undefined;
/** The tokenizer's single-token lowercase words (a space and 3 to 12 letters): each secret word is one token. */
export function secretWords(): string[] {
  if (!wordList) {
    const tok = tokenizer();
    wordList = [];
    for (let id = 0; id < tok.vocabSize; id++) {
      if (id === tok.eos || id === tok.pad) continue;
      const text = tok.decode([id]);
      if (/^ [a-z]{3,12}$/.test(text)) wordList.push(text.slice(1));
    }
  }
  return wordList;
}

/** The canaries of a Dataset: secrets from the source, exactly `includedCount` of them included, chosen by the source. */
export function drawCanaries(p: CanaryParams, source: RandomSource = cryptoSource()): Canary[] {
  const words = secretWords();
  const k = includedCount(p);
  // A uniformly random k-subset: a Fisher-Yates shuffle of the indices driven by the source, first k in.
  const order = Array.from({ length: p.count }, (_, i) => i);
  for (let i = p.count - 1; i > 0; i--) {
    const j = uniformInt(source, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const included = new Set(order.slice(0, k));
  return Array.from({ length: p.count }, (_, i) => ({
    key: `canary-${i}`,
    text: Array.from({ length: p.words }, () => words[uniformInt(source, words.length)]!).join(' '),
    included: included.has(i),
  }));
}

/** The included canaries as train documents under the control code. */
export const canaryDocuments = (canaries: readonly Canary[], code: string): Document[] =>
  canaries.filter((c) => c.included).map((c) => ({ key: c.key, text: c.text, label: code }));

export async function writeCanariesFile(path: string, file: CanariesFile): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(file));
  await rename(tmp, path);
}

export function readCanariesFile(path: string): CanariesFile {
  let data: Partial<CanariesFile>;
  try {
    data = JSON.parse(readFileSync(path, 'utf8')) as Partial<CanariesFile>;
  } catch {
    throw new NodeInputError(`${path} is not a canaries file (it does not parse as JSON)`);
  }
  const ok =
    data.format === CANARIES_FORMAT &&
    typeof data.unit === 'string' &&
    typeof data.code === 'string' &&
    Array.isArray(data.canaries) &&
    data.canaries.every((c) => typeof c?.key === 'string' && typeof c.text === 'string' && typeof c.included === 'boolean');
  if (!ok)
    throw new NodeInputError(`${path} is not a canaries file (format '${CANARIES_FORMAT}' with {key, text, included} canaries expected)`);
  return data as CanariesFile;
}
