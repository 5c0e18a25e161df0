/* eslint-disable @typescript-eslint/no-explicit-any -- tf.customGrad hands its inputs, saved tensors and dy over untyped */
// Differentiable building blocks written around tfjs-on-wasm's speed cliffs (see
// docs/wasm-backend.md): explicit transposes instead of matMul transpose flags, a gather
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

type T3 = tf.Tensor3D;

/**
 * Column sums of x [N, k] as one XNNPACK matmul ones[1, N] x: tf.sum over axis 0 transposes and then
 * runs a scalar loop on wasm (measured 8 ms against 0.09 ms for [2048, 512]).
 */
export const sumRows = (x: T2): tf.Tensor1D => tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]);

/**
 * Per-example sums of rows, x [B*T, k] -> [B, k] (book-keeping only: not differentiable). Summed in JS
 * from one read: tf.sum over an axis transposes first on wasm, and a block-diagonal ones matmul packs x
 * as XNNPACK weights on every call.
 */
export const sumPerExample = (x: T2, batch: number): T2 => {
  const [rows, k] = x.shape;
  const per = rows / batch;
  const data = x.dataSync() as Float32Array;
  const out = new Float32Array(batch * k);
  for (let b = 0; b < batch; b++) {
    const o = b * k;
    for (let r = b * per; r < (b + 1) * per; r++) {
      const base = r * k;
      for (let j = 0; j < k; j++) out[o + j]! += data[base + j]!;
    }
  }
  return tf.tensor2d(out, [batch, k]);
};

/** The n slices along axis 0 of t [n, ...] as 2-D tensors [rows, cols]: one read, no tf.slice (which copies its whole input per slice on wasm). */
export const slices2d = (t: T, rows: number, cols: number): T2[] => {
  const data = t.dataSync() as Float32Array;
  const size = rows * cols;
  const n = t.size / size;
  return Array.from({ length: n }, (_, i) => tf.tensor2d(data.subarray(i * size, (i + 1) * size), [rows, cols]));
};

/**
 * xᵀ dy for x [N, din], dy [N, dout] with explicit transposes (transpose flags fall off XNNPACK);
 * transposes whichever operand is narrower (a [N, k] transpose costs ~7 ns per element).
 */
const weightGrad = (x: T2, dy: T2): T2 =>
  x.shape[1] <= dy.shape[1] ? tf.matMul(tf.transpose(x), dy) : (tf.transpose(tf.matMul(tf.transpose(dy), x)) as T2);

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
        return [dx, weightGrad(sx, dy), sumRows(dy)];
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
          const perExample = (t: T) => tf.keep(sumPerExample(t as T2, tape.batch));
          tape.affine.set(name, { dg: perExample(dyx), db: perExample(dy) });
          return [dx, tf.zerosLike(sg), tf.zerosLike(sg)];
        }
        return [dx, sumRows(dyx as T2), sumRows(dy)];
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
      const summed = tf.reshape(sumRows(tf.reshape(dy, [batch, seq * d]) as T2), [seq, d]);
      return [
        dy,
        tf.pad(summed, [
          [start, ctx - start - seq],
          [0, 0],
        ]),
      ];
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

const GELU_K = 2 * Math.sqrt(2 / Math.PI);

/**
 * GPT-2's gelu_new 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) written as x σ(2 sqrt(2/pi) (x + 0.044715 x³))
 * (the same function: 0.5 (1 + tanh u) = σ(2u)): wasm's Sigmoid is XNNPACK-vectorised, its Tanh a scalar
 * loop (2.5 ms against 17 ms for [2048, 512]). Hand-written gradient: one fused expression instead of
 * autodiff through the cube.
 */
export const gelu = (x: T, kind: 'tanh' | 'sigmoid' = 'tanh'): T => {
  if (kind === 'sigmoid') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
  const op = tf.customGrad((xi: any, save: any) => {
    const x2 = tf.square(xi);
    const s = tf.sigmoid(tf.mul(tf.mul(xi, tf.add(tf.mul(x2, 0.044715), 1)), GELU_K));
    save([xi, s]);
    return {
      value: tf.mul(xi, s),
      gradFunc: (dy: any, [sx, ss]: any) => {
        // d/dx x σ(u) = σ + x σ (1 - σ) u',  u' = K (1 + 3·0.044715 x²)
        const du = tf.mul(tf.add(tf.mul(tf.square(sx), 3 * 0.044715), 1), GELU_K);
        const ds = tf.mul(tf.mul(ss, tf.sub(1, ss)), tf.mul(sx, du));
        return tf.mul(dy, tf.add(ss, ds));
      },
    };
  });
  return op(x);
};

/**
 * softmax(q kᵀ · scale + mask) v for q [BH, T, dh], k and v [BH, S, dh], mask [T, S], as BH separate 2-D
 * matmuls: any rank-3 matmul runs on wasm's scalar fallback (~3 GFLOP/s) while 2-D matmuls without
 * transpose flags run on XNNPACK (~20 GFLOP/s); the slices come from one read each (slices2d), and the
 * transposes are done once on the rank-3 tensors. Forward and backward are ~3x faster at T = 128 (see
 * README); for a handful of query rows (KV-cache decoding) the per-op overhead dominates, use the batched form.
 */
export const splitAttention = (q: T3, k: T3, v: T3, mask: T2, scale: number): T3 => {
  const [BH, T, dh] = q.shape;
  const S = k.shape[1];
  const op = tf.customGrad((qi: any, ki: any, vi: any, save: any) => {
    const qs = slices2d(tf.mul(qi, scale), T, dh);
    const kts = slices2d(tf.transpose(ki, [0, 2, 1]), dh, S);
    const vs = slices2d(vi, S, dh);
    const probs: T2[] = [];
    const outs: T2[] = [];
    for (let i = 0; i < BH; i++) {
      const p = tf.softmax(tf.add(tf.matMul(qs[i]!, kts[i]!), mask)) as T2;
      probs.push(p);
      outs.push(tf.matMul(p, vs[i]!));
    }
    save([qi, ki, vi, ...probs]);
    return {
      value: tf.stack(outs),
      gradFunc: (dy: any, [sq, sk, sv, ...sp]: any) => {
        const dys = slices2d(dy, T, dh);
        const dyts = slices2d(tf.transpose(dy, [0, 2, 1]), dh, T);
        const vts = slices2d(tf.transpose(sv, [0, 2, 1]), dh, S);
        const ks = slices2d(sk, S, dh);
        const qts = slices2d(tf.transpose(sq, [0, 2, 1]), dh, T);
        const dq: T2[] = [];
        const dkt: T2[] = [];
        const dvt: T2[] = [];
        for (let i = 0; i < BH; i++) {
          const p = sp[i] as T2;
          const dp = tf.matMul(dys[i]!, vts[i]!);
          const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))) as T2;
          dq.push(tf.matMul(ds, ks[i]!));
          dkt.push(tf.matMul(qts[i]!, ds)); // (dsᵀ q)ᵀ, so that no per-slice transpose is needed
          dvt.push(tf.matMul(dyts[i]!, p)); // (pᵀ dy)ᵀ
        }
        return [tf.mul(tf.stack(dq), scale), tf.mul(tf.transpose(tf.stack(dkt), [0, 2, 1]), scale), tf.transpose(tf.stack(dvt), [0, 2, 1])];
      },
    };
  });
  return op(q, k, v) as T3;
};

/**
 * Σ_n weights[n] · (-log softmax(h wteᵀ)[n, targets[n]]): the tied head fused with the cross-entropy, so
 * that the [N, V] logits are never returned and one softmax serves the loss and the gradient (the
 * unfused path runs two exp passes over [N, V], ~45 ms each at N 2048, V 4098, plus a one-hot).
 * log softmax(z)_t = z_t - max z + log max softmax(z): max softmax(z) = 1 / Σ exp(z - max z) >= 1/V never
 * underflows, so the value is as accurate as logSumExp. The gradient is (softmax - onehot) · weight,
 * with the one-hot subtraction done as a scatter of N values. In tape mode the logits gradient goes to
 * tape.head like tiedHead's.
 * The weight gradient hᵀ·G ([d, N] x [N, V]) costs about twice the same-FLOP logits matmul, because XNNPACK
 * packs its fresh [N, V] right operand on every call. Computing it in row blocks (Σ_b h_bᵀ G_b, 128 or 256
 * rows each) packs the same 34 MB in pieces and measured no faster (README, Speed); the transposed form
 * G_bᵀ h_b would need G transposed (8.4 M elements), and matMul's transpose flags leave XNNPACK.
 */
export const tiedHeadNll = (h: T2, wte: T2, targets: tf.Tensor1D, weights: tf.Tensor1D, tape?: Tape): tf.Scalar => {
  const [n] = h.shape;
  const v = wte.shape[0];
  const flatIndex = (t: T) => tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), t);
  const op = tf.customGrad((hi: any, wi: any, ti: any, wti: any, save: any) => {
    const logits = tf.matMul(hi, tf.transpose(wi));
    const p = tf.softmax(logits);
    const zt = tf.gather(tf.reshape(logits, [n * v]), flatIndex(ti));
    const nll = tf.sub(tf.sub(tf.max(logits, -1), zt), tf.log(tf.max(p, -1)));
    save([hi, wi, ti, wti, p]);
    return {
      value: tf.sum(tf.mul(nll, wti)),
      gradFunc: (dy: any, [sh, sw, st, sweights, sp]: any) => {
        const w = tf.mul(sweights, dy);
        const pt = tf.gather(tf.reshape(sp, [n * v]), flatIndex(st));
        const at = tf.stack([tf.range(0, n, 1, 'int32'), st], 1);
        const g = tf.tensorScatterUpdate(tf.mul(sp, tf.reshape(w, [n, 1])), at, tf.mul(tf.sub(pt, 1), w)) as T2;
        const dh = tf.matMul(g, sw);
        const zeros = [tf.zerosLike(st), tf.zerosLike(sweights)];
        if (tape) {
          tape.head = { A: kept(sh), G: kept(g) };
          return [dh, tf.zerosLike(sw), ...zeros];
        }
        return [dh, tf.transpose(tf.matMul(tf.transpose(sh), g)), ...zeros];
      },
    };
  });
  return op(h, wte, targets, weights) as tf.Scalar;
};
