// HiddenAlign: the teacher's hidden states at chosen layers on a corpus (targets for hidden-state
// alignment), stored once for every student. Post-processing: no privacy().
import { join } from 'node:path';
import { chunk, forward, tf } from '@dpkd/lm';
import type { HiddenAlignParams, HiddenAlignPorts } from '@dpkd/schema';
import { abortIfStopped, NodeInputError, tokenizerInfo } from './common';
import { writeHiddenStates } from './hidden-states-file';
import { withTeacherOnCorpus } from './teacher-on-corpus';
import { defineNode } from './define-node';

type Params = Required<Omit<HiddenAlignParams, 'seed'>>;

/** -1 = the final hidden state (after ln_f) = index `layers` of forward()'s hidden list. */
export const absoluteLayer = (layer: number, layers: number, what: string): number => {
  const index = layer === -1 ? layers : layer;
  if (!(index >= 0 && index <= layers)) throw new NodeInputError(`${what} layer ${layer} is out of range: use -1 (final) or 0..${layers} (0 = embeddings)`);
  return index;
};

export const HiddenAlignNode = defineNode<Params, HiddenAlignPorts>({
  type: 'HiddenAlign',
  async run(ctx) {
    const p = ctx.params;
    return withTeacherOnCorpus(ctx, p.seqLen, async (model, sequences) => {
      const layers = [...new Set(p.layers.map((l) => absoluteLayer(l, model.config.layers, 'teacher')))];
      const { d } = model.config;
      const L = p.seqLen;
      const states = layers.map(() => new Float32Array(sequences.length * L * d));
      chunk(sequences.map((_, i) => i), 16).forEach((rows) => {
        abortIfStopped(ctx);
        const hidden = tf.tidy(() => forward(model, tf.tensor2d(rows.map((r) => sequences[r]!), undefined, 'int32'), { hidden: true }).hidden!);
        layers.forEach((l, i) => states[i]!.set(hidden[l]!.dataSync() as Float32Array, rows[0]! * L * d));
        tf.dispose(hidden);
      });
      const file = join(ctx.scratchDir, 'hidden-states.bin');
      const meta = await writeHiddenStates(file, {
        sequences: sequences.length, seqLen: L, d, layers, teacherLayers: model.config.layers, tokenizer: tokenizerInfo(), tokens: Uint16Array.from(sequences.flat()), states,
      });
      return { outputs: { hidden: { file, meta } }, metrics: { ...meta } };
    });
  },
});
