// Checkpoints in the safetensors layout: u64 little-endian header length, a JSON header
// { name: { dtype: "F32", shape, data_offsets: [begin, end] }, "__metadata__": { string: string } },
// then the raw little-endian float32 data. The model config is in __metadata__.config (JSON).
import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { type ModelConfig, parameterShapes } from './config';
import { type LanguageModel, modelFromTensors } from './model';

export const CHECKPOINT_FORMAT = 'dpkd-lm/1';

export const encodeCheckpoint = (model: LanguageModel, metadata: Record<string, string> = {}): Uint8Array => {
  const header: Record<string, unknown> = {
    __metadata__: { ...metadata, format: CHECKPOINT_FORMAT, config: JSON.stringify(model.config) },
  };
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name] of parameterShapes(model.config)) {
    const p = model.params.get(name)!;
    const data = p.dataSync() as Float32Array;
    header[name] = { dtype: 'F32', shape: p.shape, data_offsets: [offset, offset + data.byteLength] };
    chunks.push(data);
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const data of chunks) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
};

export const decodeCheckpoint = (bytes: Uint8Array): { model: LanguageModel; metadata: Record<string, string> } => {
  const fail = (why: string) => new Error(`not a dpkd-lm checkpoint (safetensors): ${why}`);
  if (bytes.length < 8) throw fail('file shorter than 8 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw fail(`header length ${headerLength} exceeds the file`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8'));
  } catch {
    throw fail('header is not JSON');
  }
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (!metadata.config) throw fail('no __metadata__.config');
  const config = JSON.parse(metadata.config) as ModelConfig;
  const base = 8 + headerLength;
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (entry.dtype !== 'F32') throw fail(`tensor '${name}' has dtype ${entry.dtype}, only F32 is supported`);
    const [begin, end] = entry.data_offsets as [number, number];
    if (base + end > bytes.length || end - begin !== 4 * entry.shape.reduce((a: number, b: number) => a * b, 1)) throw fail(`tensor '${name}' has bad offsets`);
    const copy = new Float32Array(bytes.slice(base + begin, base + end).buffer); // copy: alignment
    tensors.set(name, tf.tensor(copy, entry.shape));
  }
  try {
    return { model: modelFromTensors(config, tensors), metadata };
  } catch (error) {
    tensors.forEach((t) => t.isDisposed || t.dispose());
    throw error;
  }
};

export const saveCheckpoint = async (model: LanguageModel, path: string, metadata: Record<string, string> = {}): Promise<void> =>
  writeFile(path, encodeCheckpoint(model, metadata));

export const loadCheckpoint = async (path: string): Promise<{ model: LanguageModel; metadata: Record<string, string> }> =>
  decodeCheckpoint(new Uint8Array(await readFile(path)));
