// SoftLabels artifact (format dpkd-soft-labels/1), in the container of binary-file.ts.
// Header: { format, sequences S, seqLen L, topK k, vocab V, tokenizer: {name, fingerprint} }.
// Sections: tokens u16 [S·L] (the token ids the teacher saw); topK > 0: ids u16 [S·L·k], probs f32 [S·L·k]
// (the k most likely next tokens, not renormalised), tail f32 [S·L] (1 − Σ probs); topK = 0: probs f32 [S·L·V].
import type { SoftTargets } from '@dpkd/lm';
import { readSections, writeSections } from './binary-file';

export const SOFT_LABELS_FORMAT = 'dpkd-soft-labels/1';

export interface SoftLabels {
  sequences: number;
  seqLen: number;
  topK: number;
  vocab: number;
  tokenizer: { name: string; fingerprint: string };
  tokens: Uint16Array;
  probs: Float32Array;
  ids?: Uint16Array;
  tail?: Float32Array;
}

export interface SoftLabelsMeta {
  topK: number;
  seqLen: number;
  sequences: number;
  vocab: number;
  bytesPerToken: number;
  tokenizer: { name: string; fingerprint: string };
}

/** Stored bytes per token position: the input id plus k·(id + prob) + tail, or V probabilities. */
export const bytesPerToken = (topK: number, vocab: number): number => 2 + (topK === 0 ? 4 * vocab : 6 * topK + 4);

export async function writeSoftLabels(path: string, s: SoftLabels): Promise<SoftLabelsMeta> {
  const { tokens, probs, ids, tail, ...header } = s;
  const sections = [
    { name: 'tokens', data: tokens },
    { name: 'probs', data: probs },
  ];
  if (s.topK > 0) sections.push({ name: 'ids', data: ids! }, { name: 'tail', data: tail! });
  await writeSections(path, { format: SOFT_LABELS_FORMAT, ...header }, sections);
  return {
    topK: s.topK,
    seqLen: s.seqLen,
    sequences: s.sequences,
    vocab: s.vocab,
    bytesPerToken: bytesPerToken(s.topK, s.vocab),
    tokenizer: s.tokenizer,
  };
}

export function readSoftLabels(path: string): SoftLabels {
  const { header, sections } = readSections(path, SOFT_LABELS_FORMAT);
  const get = <T>(name: string) => sections.get(name) as T;
  return {
    sequences: header.sequences,
    seqLen: header.seqLen,
    topK: header.topK,
    vocab: header.vocab,
    tokenizer: header.tokenizer,
    tokens: get<Uint16Array>('tokens'),
    probs: get<Float32Array>('probs'),
    ids: get<Uint16Array | undefined>('ids'),
    tail: get<Float32Array | undefined>('tail'),
  };
}

/** The targets of some sequences (by index), as one batch for softTargetKl. */
export function softTargetsOf(s: SoftLabels, rows: number[]): SoftTargets {
  const L = s.seqLen;
  const width = s.topK === 0 ? s.vocab : s.topK;
  const probs = new Float32Array(rows.length * L * width);
  const ids = s.topK > 0 ? new Uint16Array(rows.length * L * width) : undefined;
  const tail = s.topK > 0 ? new Float32Array(rows.length * L) : undefined;
  rows.forEach((r, b) => {
    probs.set(s.probs.subarray(r * L * width, (r + 1) * L * width), b * L * width);
    ids?.set(s.ids!.subarray(r * L * width, (r + 1) * L * width), b * L * width);
    tail?.set(s.tail!.subarray(r * L, (r + 1) * L), b * L);
  });
  return { topK: s.topK, vocab: s.vocab, probs, ...(ids ? { ids, tail } : {}) };
}
