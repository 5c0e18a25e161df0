// The fine-tuning text of the paper: control code + blank line + text + EOS (or text + EOS), padded to seqLen.
import { formatWithControlCode } from '@dpkd/data';
import type { Document } from '@dpkd/data';
import { encodeFixed } from './common';

export const fineTuneText = (doc: Document, controlCodes: boolean): string =>
  controlCodes && doc.label !== undefined ? formatWithControlCode([doc.label], doc.text) : doc.text;

export const fineTuneExamples = (docs: readonly Document[], seqLen: number, controlCodes: boolean): number[][] =>
  encodeFixed(
    docs.map((d) => fineTuneText(d, controlCodes)),
    seqLen,
    { eos: true },
  );
