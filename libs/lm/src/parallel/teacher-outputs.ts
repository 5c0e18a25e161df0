// A teacher's outputs on a batch of fixed-length sequences, as SoftLabel and HiddenAlign store them: computed
// the same on the leader and on each replica, so dealing batches across threads changes nothing in the result.
import * as tf from '@tensorflow/tfjs';
import { forward, type LanguageModel } from '../model';

/** Next-token distributions of every row: the full softmax (k = 0) or its top k values and their ids. */
export const softLabelBatch = (model: LanguageModel, batch: number[][], k: number): { values: Float32Array; indices?: Int32Array } => {
  const [values, indices] = tf.tidy(() => {
    const p = tf.softmax(forward(model, tf.tensor2d(batch, undefined, 'int32')).logits);
    if (k === 0) return [p];
    const top = tf.topk(p, k);
    return [top.values, top.indices];
  });
  const out = {
    values: (values!.dataSync() as Float32Array).slice(),
    ...(indices ? { indices: (indices.dataSync() as Int32Array).slice() } : {}),
  };
  tf.dispose(indices ? [values!, indices] : [values!]);
  return out;
};

/** The hidden states at `layers` (indices into forward()'s hidden list), each [B·T·d]. */
export const hiddenBatch = (model: LanguageModel, batch: number[][], layers: number[]): Float32Array[] => {
  const hidden = tf.tidy(() => forward(model, tf.tensor2d(batch, undefined, 'int32'), { hidden: true }).hidden!);
  const out = layers.map((l) => (hidden[l]!.dataSync() as Float32Array).slice());
  tf.dispose(hidden);
  return out;
};
