// Differentiable building blocks written around tfjs-on-wasm's speed cliffs (see
// shared/notes/tfjs-on-wasm.md): explicit transposes instead of matMul transpose flags, a gather
// embedding whose gradient is scatterND (UnsortedSegmentSum does not exist on wasm). Every parameter
// passes through one of these customGrad ops, so a Tape can capture each layer's input A and output
// gradient G for exact per-example gradient norms (DP-SGD "book-keeping").
import * as tf from '@tensorflow/tfjs';

type T = tf.Tensor;
type T2 = tf.Tensor2D;

/** Per-layer activations and output gradients captured during one backward pass (DP book-keeping mode). */
export interface Tape {
  batch: number;
  seq: number;
  linear: Map<string, { A: T2; G: T2 }>;
  /** Per-example LayerNorm gain / bias gradients, [B, d]. */
  affine: Map<string, { dg: T2; db: T2 }>;
  emb?: { ids: T; G: T2 };
  head?: { A: T2; G: T2 };
  /** Per-example positional-embedding gradients, [B, T*d]. */
  pos?: T2;
}

export const createTape = (batch: number, seq: number): Tape => ({ batch, seq, linear: new Map(), affine: new Map() });

export const disposeTape = (tape: Tape): void => {
  for (const { A, G } of tape.linear.values()) tf.dispose([A, G]);
  for (const { dg, db } of tape.affine.values()) tf.dispose([dg, db]);
  if (tape.emb) tf.dispose([tape.emb.ids, tape.emb.G]);
  if (tape.head) tf.dispose([tape.head.A, tape.head.G]);
  if (tape.pos) tf.dispose(tape.pos);
  tape.linear.clear();
  tape.affine.clear();
  tape.emb = tape.head = tape.pos = undefined;
};

const kept = <X extends T>(x: X): X => tf.keep(x.clone()) as X;

/** y = x W + b for x [N, din], W [din, dout]. */
export const linear = (x: T2, w: T2, b: tf.Tensor1D, name: string, tape?: Tape): T2 => {
  const op = tf.customGrad((xi: any, wi: any, bi: any, save: any) => {
    save([xi, wi]);
    return {
      value: tf.add(tf.matMul(xi, wi), bi),
      gradFunc: (dy: any, [sx, sw]: any) => {
        const dx = tf.matMul(dy, tf.transpose(sw));
        if (tape) {
          tape.linear.set(name, { A: kept(sx), G: kept(dy) });
          return [dx, tf.zerosLike(sw), tf.zerosLike(bi)];
        }
        return [dx, tf.matMul(tf.transpose(sx), dy), tf.sum(dy, 0)];
      },
    };
  });
  return op(x, w, b) as T2;
};

/** y = xhat * g + b (the parameterised half of LayerNorm). */
const affine = (xhat: T2, g: tf.Tensor1D, b: tf.Tensor1D, name: string, tape?: Tape): T2 => {
  const op = tf.customGrad((xi: any, gi: any, bi: any, save: any) => {
    save([xi, gi]);
    return {
      value: tf.add(tf.mul(xi, gi), bi),
      gradFunc: (dy: any, [sx, sg]: any) => {
        const dx = tf.mul(dy, sg);
        const dyx = tf.mul(dy, sx);
        if (tape) {
          const d = sg.shape[0];
          const perExample = (t: T) => tf.keep(tf.sum(tf.reshape(t, [tape.batch, tape.seq, d]), 1)) as T2;
          tape.affine.set(name, { dg: perExample(dyx), db: perExample(dy) });
          return [dx, tf.zerosLike(sg), tf.zerosLike(sg)];
        }
        return [dx, tf.sum(dyx, 0), tf.sum(dy, 0)];
      },
    };
  });
  return op(xhat, g, b) as T2;
};

export const layerNorm = (x: T2, g: tf.Tensor1D, b: tf.Tensor1D, name: string, tape?: Tape): T2 => {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  const xhat = tf.mul(centred, tf.rsqrt(tf.add(variance, 1e-5))) as T2;
  return affine(xhat, g, b, name, tape);
};

/** Token embedding rows wte[ids] for flat int32 ids [N]; gradient by scatterND (sums repeated ids). */
export const embed = (wte: T2, ids: tf.Tensor1D, tape?: Tape): T2 => {
  const op = tf.customGrad((wi: any, ii: any, save: any) => {
    save([ii]);
    return {
      value: tf.gather(wi, ii),
      gradFunc: (dy: any, [sids]: any) => {
        if (tape) {
          tape.emb = { ids: kept(sids), G: kept(dy) };
          return [tf.zerosLike(wi), tf.zerosLike(sids)];
        }
        return [tf.scatterND(tf.reshape(sids, [-1, 1]), dy, wi.shape), tf.zerosLike(sids)];
      },
    };
  });
  return op(wte, ids) as T2;
};

/** x [B*T, d] + wpe[start .. start+T). */
export const addPositions = (x: T2, wpe: T2, batch: number, seq: number, start: number, tape?: Tape): T2 => {
  const [ctx, d] = wpe.shape;
  if (start + seq > ctx) throw new Error(`sequence positions ${start}..${start + seq - 1} exceed the model context ${ctx}`);
  const op = tf.customGrad((xi: any, wi: any) => ({
    value: tf.reshape(tf.add(tf.reshape(xi, [batch, seq, d]), tf.slice(wi, [start, 0], [seq, d])), [batch * seq, d]),
    gradFunc: (dy: any) => {
      if (tape) {
        tape.pos = tf.keep(tf.reshape(dy, [batch, seq * d])) as T2;
        return [dy, tf.zerosLike(wi)];
      }
      const summed = tf.sum(tf.reshape(dy, [batch, seq, d]), 0);
      return [dy, tf.pad(summed, [[start, ctx - start - seq], [0, 0]])];
    },
  }));
  return op(x, wpe) as T2;
};

/** Tied output head: logits = h wte^T for h [N, d], wte [V, d]. */
export const tiedHead = (h: T2, wte: T2, tape?: Tape): T2 => {
  const op = tf.customGrad((hi: any, wi: any, save: any) => {
    save([hi, wi]);
    return {
      value: tf.matMul(hi, tf.transpose(wi)),
      gradFunc: (dy: any, [sh, sw]: any) => {
        const dh = tf.matMul(dy, sw);
        if (tape) {
          tape.head = { A: kept(sh), G: kept(dy) };
          return [dh, tf.zerosLike(sw)];
        }
        // [d, N] x [N, V] then one [d, V] transpose: cheaper than transposing the [N, V] gradient.
        return [dh, tf.transpose(tf.matMul(tf.transpose(sh), dy))];
      },
    };
  });
  return op(h, wte) as T2;
};

export const gelu = (x: T, kind: 'tanh' | 'sigmoid' = 'tanh'): T => {
  if (kind === 'sigmoid') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
  // GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
};
