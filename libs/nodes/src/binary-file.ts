// A small container for the SoftLabels and HiddenStates artifacts:
//   bytes 0..3   "DPKD"
//   bytes 4..7   u32 LE header length H
//   bytes 8..8+H JSON header { format, ..., sections: [{ name, dtype: "f32" | "u16", length }] }, space-padded
//                so that the data starts at a multiple of 4
//   then each section's raw little-endian values, in header order; f32 sections first, so all are aligned.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';

type Section = { name: string; data: Float32Array | Uint16Array };

const MAGIC = 'DPKD';

export async function writeSections(path: string, header: Record<string, unknown>, sections: Section[]): Promise<number> {
  const ordered = [...sections].sort((a, b) => Number(a.data instanceof Uint16Array) - Number(b.data instanceof Uint16Array));
  let json = JSON.stringify({
    ...header,
    sections: ordered.map((s) => ({ name: s.name, dtype: s.data instanceof Float32Array ? 'f32' : 'u16', length: s.data.length })),
  });
  json += ' '.repeat((4 - ((8 + Buffer.byteLength(json)) % 4)) % 4);
  const head = Buffer.alloc(8);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(Buffer.byteLength(json), 4);
  const parts: Uint8Array[] = [
    head,
    Buffer.from(json, 'utf8'),
    ...ordered.map((s) => new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength)),
  ];
  await writeFile(path, parts);
  return parts.reduce((a, p) => a + p.byteLength, 0);
}

export function readSections(
  path: string,
  format: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a file header is JSON whose fields each reader checks
): { header: Record<string, any>; sections: Map<string, Float32Array | Uint16Array> } {
  const bytes = readFileSync(path);
  if (bytes.length < 8 || bytes.toString('latin1', 0, 4) !== MAGIC)
    throw new Error(`${path} is not a dpkd binary artifact (no "${MAGIC}" magic)`);
  const length = bytes.readUInt32LE(4);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a file header is JSON whose fields each reader checks
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + length)) as Record<string, any>;
  if (header.format !== format) throw new Error(`${path} has format ${header.format}, expected ${format}`);
  const sections = new Map<string, Float32Array | Uint16Array>();
  let at = 8 + length;
  for (const s of header.sections as Array<{ name: string; dtype: 'f32' | 'u16'; length: number }>) {
    const size = s.length * (s.dtype === 'f32' ? 4 : 2);
    if (at + size > bytes.length) throw new Error(`${path}: section ${s.name} runs past the end of the file (truncated?)`);
    const copy = bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + size);
    sections.set(s.name, s.dtype === 'f32' ? new Float32Array(copy) : new Uint16Array(copy));
    at += size;
  }
  return { header, sections };
}
