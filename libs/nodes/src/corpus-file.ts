// Corpus artifact: JSONL of { text, label }.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';

export interface CorpusRecord {
  text: string;
  label?: string;
}

export interface CorpusMeta {
  count: number;
  perLabel: Record<string, number>;
}

export async function writeCorpusFile(path: string, records: CorpusRecord[]): Promise<CorpusMeta> {
  await writeFile(path, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const perLabel: Record<string, number> = {};
  for (const r of records) if (r.label !== undefined) perLabel[r.label] = (perLabel[r.label] ?? 0) + 1;
  return { count: records.length, perLabel };
}

export function readCorpusFile(path: string): CorpusRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line, i) => {
      const r = JSON.parse(line) as CorpusRecord;
      if (typeof r.text !== 'string') throw new Error(`${path}:${i + 1}: a corpus line needs a string "text"`);
      return r;
    });
}
