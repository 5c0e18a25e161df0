// What SoftLabel and HiddenAlign share: the teacher run over a corpus's fixed-length token sequences.
import type { NodeRunResult } from '@dpkd/graph';
import type { NodeContext } from './define-node';
import type { LanguageModel } from '@dpkd/lm';
import { backend, encodeFixed, inputOf, loadModelInput, requireSeqLen } from './common';
import { readCorpusFile } from './corpus-file';

/** What students, SoftLabel and HiddenAlign see: the raw synthetic text, no control code, no EOS, padded. */
export const corpusSequences = (path: string, seqLen: number): number[][] =>
  encodeFixed(
    readCorpusFile(path).map((r) => r.text),
    seqLen,
  );

/**
 * Loads the `teacher` input and the `corpus` input's sequences, lets `use` compute the node's outputs,
 * records the backend in the provenance and releases the teacher.
 */
export async function withTeacherOnCorpus<Result extends Pick<NodeRunResult, 'outputs' | 'provenance'>>(
  ctx: NodeContext,
  seqLen: number,
  use: (teacher: LanguageModel, sequences: number[][]) => Promise<Result>,
): Promise<Result> {
  const backendName = await backend();
  const sequences = corpusSequences(inputOf(ctx, 'corpus').path, seqLen);
  const { model } = await loadModelInput(ctx, 'teacher');
  try {
    requireSeqLen(ctx, seqLen, model, 'teacher');
    const result = await use(model, sequences);
    return { ...result, provenance: { ...result.provenance, backend: backendName } };
  } finally {
    model.dispose();
  }
}
