import { createHash } from 'node:crypto';
import { gpt2ByteSymbols, gpt2MergeLines, GPT2_MERGE_COUNT, GPT2_SOURCE } from './gpt2-files';
import { GPT2_SPLIT_PATTERN, preTokenize } from './pretokenize';

export interface Tokenizer {
  /** Token ids of `text` (no EOS is added). Lossless for any well-formed Unicode string. */
  encode(text: string): number[];
  /** Text of `ids`; EOS and PAD decode to nothing. Throws on an id outside 0..vocabSize-1. */
  decode(ids: number[]): string;
  /** Base vocabulary + EOS + PAD. */
  readonly vocabSize: number;
  readonly eos: number;
  readonly pad: number;
  /** sha256 (hex) of everything that defines the id mapping: use it in cache keys. */
  readonly fingerprint: string;
  /** e.g. "gpt2-bpe-4096" or "byte-256": the size of the base vocabulary, without EOS/PAD. */
  readonly name: string;
}

export interface TokenizerOptions {
  /** 'bpe' (default): GPT-2's byte-level BPE truncated to its first `merges` merges. 'byte': raw UTF-8 bytes. */
  kind?: 'bpe' | 'byte';
  /** Number of GPT-2 merges kept (0..50000), default 3840 so that the base vocabulary is 4096. Ignored for 'byte'. */
  merges?: number;
}

export const DEFAULT_MERGES = 3840;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const utf8 = new TextEncoder();
const CACHE_LIMIT = 200_000;
/** Ids are < 65536, so a pair packs into one exact double. */
const PAIR = 65_536;

/**
 * A tokenizer whose merge tables load on first use, so creating one is free. Both kinds share the
 * decode path: every id expands to a fixed byte string, and the concatenation is decoded as UTF-8.
 */
export const createTokenizer = (options: TokenizerOptions = {}): Tokenizer => {
  const kind = options.kind ?? 'bpe';
  if (kind !== 'bpe' && kind !== 'byte') throw new Error(`unknown tokenizer kind '${String(kind)}': use 'bpe' or 'byte'`);
  const merges = kind === 'byte' ? 0 : (options.merges ?? DEFAULT_MERGES);
  if (!Number.isInteger(merges) || merges < 0 || merges > GPT2_MERGE_COUNT) {
    throw new Error(`tokenizer merges must be an integer in 0..${GPT2_MERGE_COUNT}, got ${merges}`);
  }
  const base = 256 + merges;
  const eos = base;
  const pad = base + 1;
  const name = kind === 'byte' ? 'byte-256' : `gpt2-bpe-${base}`;
  return kind === 'byte' ? byteTokenizer(name, eos, pad) : bpeTokenizer(name, merges, eos, pad);
};

const decodeWith = (bytesOf: () => Uint8Array[], vocabSize: number, eos: number, pad: number) => {
  const decoder = new TextDecoder('utf-8');
  return (ids: number[]): string => {
    const table = bytesOf();
    let length = 0;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new Error(`token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
      if (id !== eos && id !== pad) length += table[id]!.length;
    }
    const out = new Uint8Array(length);
    let at = 0;
    for (const id of ids) {
      if (id === eos || id === pad) continue;
      out.set(table[id]!, at);
      at += table[id]!.length;
    }
    return decoder.decode(out);
  };
};

const byteTokenizer = (name: string, eos: number, pad: number): Tokenizer => {
  const table = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  const fingerprint = sha256(JSON.stringify({ kind: 'byte', ids: 'utf8-byte-value', eos, pad }));
  return {
    encode: (text) => Array.from(utf8.encode(text)),
    decode: decodeWith(() => table, pad + 1, eos, pad),
    vocabSize: pad + 1,
    eos,
    pad,
    fingerprint,
    name,
  };
};

interface BpeTables {
  /** GPT-2 id (0..255) of each byte value. */
  idOfByte: Int32Array;
  /** rank of the merge of the pair (a, b), keyed a * PAIR + b. */
  rankOfPair: Map<number, number>;
  firstOf: Int32Array;
  secondOf: Int32Array;
  bytesOf: Uint8Array[];
  mergesSha256: string;
}

const loadBpeTables = (merges: number): BpeTables => {
  const { symbolOfByte, byteOfId } = gpt2ByteSymbols();
  const idOfSymbol = new Map<string, number>();
  const idOfByte = new Int32Array(256);
  const bytesOf: Uint8Array[] = [];
  byteOfId.forEach((b, id) => {
    idOfSymbol.set(symbolOfByte[b]!, id);
    idOfByte[b] = id;
    bytesOf.push(Uint8Array.of(b));
  });
  const lines = gpt2MergeLines().slice(0, merges);
  const rankOfPair = new Map<number, number>();
  const firstOf = new Int32Array(merges);
  const secondOf = new Int32Array(merges);
  lines.forEach((line, rank) => {
    const [left, right] = line.split(' ');
    const a = idOfSymbol.get(left!);
    const b = idOfSymbol.get(right!);
    // Holds for GPT-2's file: each merge uses only symbols made by earlier merges.
    if (a === undefined || b === undefined) throw new Error(`vocab.bpe line ${rank + 2} ('${line}') uses an unknown symbol`);
    const id = 256 + rank;
    idOfSymbol.set(left! + right!, id);
    rankOfPair.set(a * PAIR + b, rank);
    firstOf[rank] = a;
    secondOf[rank] = b;
    const bytes = new Uint8Array(bytesOf[a]!.length + bytesOf[b]!.length);
    bytes.set(bytesOf[a]!);
    bytes.set(bytesOf[b]!, bytesOf[a]!.length);
    bytesOf.push(bytes);
  });
  return { idOfByte, rankOfPair, firstOf, secondOf, bytesOf, mergesSha256: sha256(lines.join('\n')) };
};

/** GPT-2's `bpe()`: repeatedly merge every occurrence of the lowest-ranked adjacent pair. */
const applyMerges = (start: number[], t: BpeTables): number[] => {
  let ids = start;
  while (ids.length > 1) {
    let best = Infinity;
    for (let i = 0; i + 1 < ids.length; i++) {
      const rank = t.rankOfPair.get(ids[i]! * PAIR + ids[i + 1]!);
      if (rank !== undefined && rank < best) best = rank;
    }
    if (best === Infinity) break;
    const a = t.firstOf[best]!;
    const b = t.secondOf[best]!;
    const merged: number[] = [];
    for (let i = 0; i < ids.length;) {
      if (ids[i] === a && ids[i + 1] === b) {
        merged.push(256 + best);
        i += 2;
      } else {
        merged.push(ids[i]!);
        i += 1;
      }
    }
    ids = merged;
  }
  return ids;
};

const bpeTokenizer = (name: string, merges: number, eos: number, pad: number): Tokenizer => {
  let tables: BpeTables | undefined;
  const load = (): BpeTables => (tables ??= loadBpeTables(merges));
  let cache = new Map<string, number[]>();
  let fingerprint: string | undefined;

  const encodeWord = (word: string, t: BpeTables): number[] => {
    const cached = cache.get(word);
    if (cached) return cached;
    const start: number[] = [];
    for (const b of utf8.encode(word)) start.push(t.idOfByte[b]!);
    const ids = applyMerges(start, t);
    // A bounded cache: text with unbounded distinct words (e.g. hex dumps) must not grow memory forever.
    if (cache.size >= CACHE_LIMIT) cache = new Map();
    cache.set(word, ids);
    return ids;
  };

  return {
    encode(text) {
      const t = load();
      const out: number[] = [];
      for (const word of preTokenize(text)) {
        for (const id of encodeWord(word, t)) out.push(id);
      }
      return out;
    },
    decode: decodeWith(() => load().bytesOf, pad + 1, eos, pad),
    vocabSize: pad + 1,
    eos,
    pad,
    get fingerprint() {
      fingerprint ??= sha256(
        JSON.stringify({
          kind: 'bpe',
          source: GPT2_SOURCE,
          merges,
          mergesSha256: load().mergesSha256,
          pattern: GPT2_SPLIT_PATTERN.source,
          ids: 'gpt2-byte-order-then-merge-rank',
          eos,
          pad,
        }),
      );
      return fingerprint;
    },
    name,
  };
};
