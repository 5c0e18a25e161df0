// Per graph node (type + base id), the key material of earlier actions: what `plan` compares a miss against.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex, writeFileAtomic, type Store } from '@dpkd/store';
import { keyIndexDir } from './layout';
import type { KeyMaterial } from './key-material';

interface IndexEntry {
  key: string;
  material: KeyMaterial;
  at: string;
}

/** Enough history to find a close neighbour; older entries add little and slow every plan. */
const MAX_ENTRIES = 64;

const indexPath = (store: Store, type: string, baseId: string) =>
  join(keyIndexDir(store), `${type.replace(/[^A-Za-z0-9_-]/g, '_')}-${sha256Hex(baseId).slice(0, 16)}.json`);

export async function readKeyIndex(store: Store, type: string, baseId: string): Promise<IndexEntry[]> {
  try {
    return JSON.parse(await readFile(indexPath(store, type, baseId), 'utf8')) as IndexEntry[];
  } catch {
    return [];
  }
}

export async function recordKey(store: Store, baseId: string, key: string, material: KeyMaterial): Promise<void> {
  await mkdir(keyIndexDir(store), { recursive: true });
  await store.withLock('key-index', async () => {
    const entries = (await readKeyIndex(store, material.type, baseId)).filter((e) => e.key !== key);
    entries.push({ key, material, at: new Date().toISOString() });
    await writeFileAtomic(indexPath(store, material.type, baseId), JSON.stringify(entries.slice(-MAX_ENTRIES)));
  });
}
