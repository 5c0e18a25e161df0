// SoftLabel: the teacher's next-token distributions on a corpus, stored once for every student.
// Post-processing of the teacher and the corpus: no privacy().
import { join } from 'node:path';
import { chunk, softLabelBatch } from '@dpkd/lm';
import type { SoftLabelParams, SoftLabelPorts } from '@dpkd/schema';
import { tokenizerInfo } from './common';
import { overTeacherBatches } from './teacher-pool';
import { writeSoftLabels } from './soft-labels-file';
import { withTeacherOnCorpus } from './teacher-on-corpus';
import { defineNode } from './define-node';

type Params = Required<Omit<SoftLabelParams, 'seed'>>;

export const SoftLabelNode = defineNode<Params, SoftLabelPorts>({
  type: 'SoftLabel',
  parallel: true,
  async run(ctx) {
    const p = ctx.params;
    return withTeacherOnCorpus(ctx, p.seqLen, async (model, sequences) => {
      const V = model.config.vocab;
      const L = p.seqLen;
      const S = sequences.length;
      const k = Math.min(p.topK, V);
      const probs = new Float32Array(S * L * (k === 0 ? V : k));
      const ids = k > 0 ? new Uint16Array(S * L * k) : undefined;
      const tail = k > 0 ? new Float32Array(S * L) : undefined;
      const batches = chunk(sequences, 16);
      await overTeacherBatches(
        ctx,
        model,
        batches,
        {
          alone: (batch) => softLabelBatch(model, batch, k),
          onPool: (pool, round) => pool.softLabels(round, k),
        },
        ({ values: v, indices: idx }, index) => {
          const rows = batches[index]!.length;
          const offset = index * 16 * L;
          probs.set(v, offset * (k === 0 ? V : k));
          if (k > 0) {
            ids!.set(idx!, offset * k);
            for (let r = 0; r < rows * L; r++) {
              let kept = 0;
              for (let j = 0; j < k; j++) kept += v[r * k + j]!;
              tail![offset + r] = Math.max(0, 1 - kept);
            }
          }
        },
      );
      const tokens = Uint16Array.from(sequences.flat());
      const file = join(ctx.scratchDir, 'soft-labels.bin');
      const meta = await writeSoftLabels(file, {
        sequences: S,
        seqLen: L,
        topK: k,
        vocab: V,
        tokenizer: tokenizerInfo(),
        tokens,
        probs,
        ids,
        tail,
      });
      ctx.log(`${S} sequences × ${L} positions, top-${k || 'all'}: ${meta.bytesPerToken} bytes per token`);
      return { outputs: { soft: { file, meta } }, metrics: { ...meta, bytes: meta.bytesPerToken * S * L } };
    });
  },
});
