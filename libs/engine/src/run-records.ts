// Run records: what `dpkd status` and `report` read. One JSON file per run, rewritten atomically as the run progresses.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive, writeFileAtomic, type Store } from '@dpkd/store';
import { runsDir } from './layout';
import type { ArtifactRef } from './manifest';
import type { PrivacyPlan } from './privacy-plan';

export type NodeStatus = 'ran' | 'cached' | 'failed' | 'skipped' | 'pending' | 'running' | 'interrupted';

export interface NodeRecord {
  id: string;
  type: string;
  key: string;
  status: NodeStatus;
  seconds: number;
  attempts: Array<{ attempt: number; seconds: number; error?: string }>;
  log?: string;
  error?: string;
  /** The node's own input check failed at run time: the JSON pointer of what to fix in the graph (exit 2). */
  invalidInput?: { pointer: string };
  outputs?: Record<string, ArtifactRef>;
  metrics?: Record<string, unknown>;
  /** ε of this node's output lineage per unit (from its manifest when it ran or was cached). */
  epsilon?: Record<string, number | null>;
}

export interface RunRecord {
  recordFormat: 1;
  id: string;
  graph: { name: string; file?: string };
  status: 'running' | 'succeeded' | 'failed' | 'interrupted' | 'crashed';
  startedAt: string;
  finishedAt?: string;
  seconds?: number;
  host: string;
  pid: number;
  jobs: number;
  sweepPoints: Array<{ axes: Record<string, unknown>; nodes: string[] }>;
  nodes: NodeRecord[];
  privacy: Pick<PrivacyPlan, 'accountant' | 'datasets' | 'gaps' | 'notes'>;
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${stamp}-${Math.random().toString(16).slice(2, 8)}`;
}

export async function writeRunRecord(store: Store, record: RunRecord): Promise<void> {
  await mkdir(runsDir(store), { recursive: true });
  // Infinity has no JSON form: ε = ∞ is written as null (the plan's nonPrivateNodes say why).
  await writeFileAtomic(
    join(runsDir(store), `${record.id}.json`),
    JSON.stringify(record, (_k, v) => (v === Infinity ? null : v), 1),
  );
}

/** All run records, oldest first. A "running" record whose process is gone reads as "crashed". */
export async function listRunRecords(store: Store): Promise<RunRecord[]> {
  let names: string[];
  try {
    names = (await readdir(runsDir(store))).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const records: RunRecord[] = [];
  for (const name of names) {
    try {
      const record = JSON.parse(await readFile(join(runsDir(store), name), 'utf8')) as RunRecord;
      if (record.status === 'running' && record.host === hostname() && !isProcessAlive(record.pid)) record.status = 'crashed';
      records.push(record);
    } catch {
      // a record from an older format or a hand edit: skip it rather than fail `status`
    }
  }
  return records.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
}

export async function latestRunRecord(store: Store): Promise<RunRecord | undefined> {
  const all = await listRunRecords(store);
  return all[all.length - 1];
}
