// `dpkd cache ls|verify|gc` over the store and the run records.
import type { GcResult, Store } from '@dpkd/store';
import type { ActionManifest } from './manifest';
import { listRunRecords } from './run-records';

export interface CacheEntry {
  key: string;
  type: string;
  node: string;
  graph: string;
  at: string;
  seconds: number;
  bytes: number;
  outputs: Record<string, string>;
}

export async function listCache(store: Store): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  for (const key of await store.listManifests()) {
    const m = await store.getManifest<ActionManifest>(key).catch(() => undefined);
    if (!m) continue;
    out.push({
      key,
      type: m.type,
      node: m.provenance?.node ?? '?',
      graph: m.provenance?.graph ?? '?',
      at: m.provenance?.startedAt ?? '',
      seconds: m.provenance?.seconds ?? 0,
      bytes: Object.values(m.outputs ?? {}).reduce((s, o) => s + o.bytes, 0),
      outputs: Object.fromEntries(Object.entries(m.outputs ?? {}).map(([p, o]) => [p, o.digest])),
    });
  }
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

export interface CacheVerifyReport {
  checked: number;
  bytes: number;
  corrupt: Array<{ digest: string; path: string; reason: string; usedBy: string[] }>;
}

/** Re-hashes every object; names each corrupt one and the actions whose outputs it is. */
export async function verifyCache(store: Store): Promise<CacheVerifyReport> {
  const result = await store.verify();
  const usedBy = new Map<string, string[]>();
  if (result.corrupt.length > 0) {
    for (const entry of await listCache(store)) {
      for (const [port, digest] of Object.entries(entry.outputs)) (usedBy.get(digest) ?? usedBy.set(digest, []).get(digest)!).push(`${entry.node}.${port} (${entry.key.slice(0, 12)})`);
    }
  }
  return {
    checked: result.checked,
    bytes: result.bytes,
    corrupt: result.corrupt.map((c) => ({ digest: c.digest, path: c.path, reason: c.reason, usedBy: usedBy.get(c.digest) ?? [] })),
  };
}

/** Keeps what the latest run of each graph needs (its nodes' manifests, their outputs and logs); removes the rest. */
export async function gcCache(store: Store, options: { dryRun: boolean; minAgeMs?: number }): Promise<GcResult & { keptRuns: string[] }> {
  const latestByGraph = new Map<string, Awaited<ReturnType<typeof listRunRecords>>[number]>();
  for (const record of await listRunRecords(store)) latestByGraph.set(record.graph.name, record);
  const keepManifests = new Set<string>();
  const keep = new Set<string>();
  for (const record of latestByGraph.values()) {
    for (const node of record.nodes) {
      keepManifests.add(node.key);
      const m = await store.getManifest<ActionManifest>(node.key).catch(() => undefined);
      if (!m) continue;
      for (const o of Object.values(m.outputs ?? {})) keep.add(o.digest);
      for (const i of Object.values(m.inputs ?? {})) keep.add(i.digest);
      if (m.logDigest) keep.add(m.logDigest);
    }
  }
  const result = await store.gc({ keep, keepManifests, dryRun: options.dryRun, ...(options.minAgeMs !== undefined ? { minAgeMs: options.minAgeMs } : {}) });
  return { ...result, keptRuns: [...latestByGraph.values()].map((r) => r.id) };
}
