// HiddenAlign: the teacher's hidden states at chosen layers on a corpus (targets for hidden-state
// alignment), stored once for every student. Post-processing: no privacy().
import { join } from 'node:path';
import { chunk, hiddenBatch } from '@dpkd/lm';
import type { HiddenAlignParams, HiddenAlignPorts } from '@dpkd/schema';
import { NodeInputError, tokenizerInfo } from './common';
import { overTeacherBatches } from './teacher-pool';
import { writeHiddenStates } from './hidden-states-file';
import { withTeacherOnCorpus } from './teacher-on-corpus';
import { defineNode } from './define-node';

type Params = Required<Omit<HiddenAlignParams, 'seed'>>;

/** -1 = the final hidden state (after ln_f) = index `layers` of forward()'s hidden list. */
export const absoluteLayer = (layer: number, layers: number, what: string): number => {
  const index = layer === -1 ? layers : layer;
  if (!(index >= 0 && index <= layers))
    throw new NodeInputError(`${what} layer ${layer} is out of range: use -1 (final) or 0..${layers} (0 = embeddings)`);
  return index;
};

export const HiddenAlignNode = defineNode<Params, HiddenAlignPorts>({
  type: 'HiddenAlign',
  parallel: true,
  async run(ctx) {
    const p = ctx.params;
    return withTeacherOnCorpus(ctx, p.seqLen, async (model, sequences) => {
      const layers = [...new Set(p.layers.map((l) => absoluteLayer(l, model.config.layers, 'teacher')))];
      const { d } = model.config;
      const L = p.seqLen;
      const states = layers.map(() => new Float32Array(sequences.length * L * d));
      await overTeacherBatches(
        ctx,
        model,
        chunk(sequences, 16),
        {
          alone: (batch) => hiddenBatch(model, batch, layers),
          onPool: (pool, round) => pool.hidden(round, layers),
        },
        (perLayer, index) => layers.forEach((_, i) => states[i]!.set(perLayer[i]!, index * 16 * L * d)),
      );
      const file = join(ctx.scratchDir, 'hidden-states.bin');
      const meta = await writeHiddenStates(file, {
        sequences: sequences.length,
        seqLen: L,
        d,
        layers,
        teacherLayers: model.config.layers,
        tokenizer: tokenizerInfo(),
        tokens: Uint16Array.from(sequences.flat()),
        states,
      });
      return { outputs: { hidden: { file, meta } }, metrics: { ...meta } };
    });
  },
});
