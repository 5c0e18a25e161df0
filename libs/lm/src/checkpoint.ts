// Checkpoints in the safetensors layout: u64 little-endian header length, a JSON header
// { name: { dtype: "F32" | "F16", shape, data_offsets: [begin, end] }, "__metadata__": { string: string } },
// then the raw little-endian data. A model checkpoint keeps its config in __metadata__.config (JSON);
// a training state (train.ts) uses the same container for parameters, optimiser moments and its cursor.
import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { type ModelConfig, parameterShapes } from './config';
import { type LanguageModel, modelFromTensors } from './model';

export const CHECKPOINT_FORMAT = 'dpkd-lm/1';

/** A float array with its shape, independent of any tfjs backend. */
export interface NamedArray {
  data: Float32Array;
  shape: number[];
}

/** F32 stores floats exactly; F16 (IEEE half, round to nearest even) halves the size of a published model. */
export type StorageDtype = 'F32' | 'F16';

const BYTES: Record<StorageDtype, number> = { F32: 4, F16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of x, rounded to nearest even; throws on a finite value beyond the half range. */
export const toHalf = (x: number): number => {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) throw new Error(`value ${x} does not fit in float16 (max 65504): store this tensor as F32`);
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry into the exponent is still correct
  if ((half & 0x7c00) === 0x7c00) throw new Error(`value ${x} does not fit in float16 (max 65504): store this tensor as F32`);
  return sign | half;
};

/** The float value of binary16 bits. */
export const fromHalf = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? Number.NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
};

/** safetensors bytes of named float arrays (in the given order), stored as `dtype`, with string metadata. */
export const encodeSafetensors = (
  tensors: Iterable<[string, NamedArray]>,
  metadata: Record<string, string>,
  dtype: StorageDtype = 'F32',
): Uint8Array => {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { data, shape }] of tensors) {
    let bytes: Uint8Array;
    if (dtype === 'F32') {
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else {
      const half = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) half[i] = toHalf(data[i]!);
      bytes = new Uint8Array(half.buffer);
    }
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const bytes of chunks) {
    out.set(bytes, at);
    at += bytes.byteLength;
  }
  return out;
};

/** The named arrays (as float32, whatever the stored dtype) and the metadata of safetensors bytes. */
export const decodeSafetensors = (
  bytes: Uint8Array,
): { tensors: Map<string, NamedArray>; metadata: Record<string, string>; dtypes: Set<StorageDtype> } => {
  const fail = (why: string) => new Error(`not a dpkd-lm checkpoint (safetensors): ${why}`);
  if (bytes.length < 8) throw fail('file shorter than 8 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw fail(`header length ${headerLength} exceeds the file`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the safetensors header is JSON, checked entry by entry below
  let header: Record<string, any>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8'));
  } catch {
    throw fail('header is not JSON');
  }
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const base = 8 + headerLength;
  const tensors = new Map<string, NamedArray>();
  const dtypes = new Set<StorageDtype>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = entry.dtype as StorageDtype;
    if (!(dtype in BYTES)) throw fail(`tensor '${name}' has dtype ${entry.dtype}; only F32 and F16 are supported`);
    const [begin, end] = entry.data_offsets as [number, number];
    const count = (entry.shape as number[]).reduce((a, b) => a * b, 1);
    if (base + end > bytes.length || end - begin !== BYTES[dtype] * count) throw fail(`tensor '${name}' has bad offsets`);
    const raw = bytes.slice(base + begin, base + end).buffer; // a copy: the source may be unaligned
    const data = dtype === 'F32' ? new Float32Array(raw) : Float32Array.from(new Uint16Array(raw), fromHalf);
    tensors.set(name, { data, shape: entry.shape });
    dtypes.add(dtype);
  }
  return { tensors, metadata, dtypes };
};

/** The parameters of a model as named arrays, in the canonical order. */
export const modelArrays = (model: LanguageModel): Array<[string, NamedArray]> =>
  parameterShapes(model.config).map(([name]) => {
    const p = model.params.get(name)!;
    return [name, { data: p.dataSync() as Float32Array, shape: p.shape }];
  });

export const encodeCheckpoint = (model: LanguageModel, metadata: Record<string, string> = {}, dtype: StorageDtype = 'F32'): Uint8Array =>
  encodeSafetensors(modelArrays(model), { ...metadata, format: CHECKPOINT_FORMAT, config: JSON.stringify(model.config) }, dtype);

export const decodeCheckpoint = (bytes: Uint8Array): { model: LanguageModel; metadata: Record<string, string> } => {
  const { tensors: arrays, metadata } = decodeSafetensors(bytes);
  if (!metadata.config) throw new Error('not a dpkd-lm checkpoint (safetensors): no __metadata__.config');
  const config = JSON.parse(metadata.config) as ModelConfig;
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, { data, shape }] of arrays) tensors.set(name, tf.tensor(data, shape));
  try {
    return { model: modelFromTensors(config, tensors), metadata };
  } catch (error) {
    tensors.forEach((t) => t.isDisposed || t.dispose());
    throw error;
  }
};

export const saveCheckpoint = async (
  model: LanguageModel,
  path: string,
  metadata: Record<string, string> = {},
  dtype: StorageDtype = 'F32',
): Promise<void> => writeFile(path, encodeCheckpoint(model, metadata, dtype));

export const loadCheckpoint = async (path: string): Promise<{ model: LanguageModel; metadata: Record<string, string> }> =>
  decodeCheckpoint(new Uint8Array(await readFile(path)));
