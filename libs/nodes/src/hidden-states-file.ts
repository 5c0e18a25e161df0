// HiddenStates artifact (format dpkd-hidden-states/1), in the container of binary-file.ts.
// Header: { format, sequences S, seqLen L, d, layers (absolute indices into the teacher's hidden list:
// 0 = embeddings, i = after block i, teacherLayers = ln_f output), teacherLayers, tokenizer }.
// Sections: tokens u16 [S·L]; layer<i> f32 [S·L·d] per kept layer.
import { readSections, writeSections } from './binary-file';

export const HIDDEN_STATES_FORMAT = 'dpkd-hidden-states/1';

export interface HiddenStates {
  sequences: number;
  seqLen: number;
  d: number;
  layers: number[];
  teacherLayers: number;
  tokenizer: { name: string; fingerprint: string };
  tokens: Uint16Array;
  states: Float32Array[];
}

export interface HiddenStatesMeta {
  layers: number[];
  d: number;
  seqLen: number;
  sequences: number;
  teacherLayers: number;
  bytesPerToken: number;
}

export async function writeHiddenStates(path: string, h: HiddenStates): Promise<HiddenStatesMeta> {
  const { tokens, states, ...header } = h;
  await writeSections(path, { format: HIDDEN_STATES_FORMAT, ...header }, [
    { name: 'tokens', data: tokens },
    ...states.map((data, i) => ({ name: `layer${h.layers[i]}`, data })),
  ]);
  return {
    layers: h.layers,
    d: h.d,
    seqLen: h.seqLen,
    sequences: h.sequences,
    teacherLayers: h.teacherLayers,
    bytesPerToken: 2 + 4 * h.d * h.layers.length,
  };
}

export function readHiddenStates(path: string): HiddenStates {
  const { header, sections } = readSections(path, HIDDEN_STATES_FORMAT);
  return {
    sequences: header.sequences,
    seqLen: header.seqLen,
    d: header.d,
    layers: header.layers,
    teacherLayers: header.teacherLayers,
    tokenizer: header.tokenizer,
    tokens: sections.get('tokens') as Uint16Array,
    states: (header.layers as number[]).map((l) => sections.get(`layer${l}`) as Float32Array),
  };
}

/** One layer's states of some sequences (by index), [rows·L, d] flattened. */
export function hiddenRowsOf(h: HiddenStates, layerPosition: number, rows: number[]): Float32Array {
  const span = h.seqLen * h.d;
  const out = new Float32Array(rows.length * span);
  const all = h.states[layerPosition]!;
  rows.forEach((r, b) => out.set(all.subarray(r * span, (r + 1) * span), b * span));
  return out;
}
