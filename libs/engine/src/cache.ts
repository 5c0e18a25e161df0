// `dpkd cache ls|verify|gc` over the store and the run records.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { keyFormat, rehashKeyMaterial } from '@dpkd/graph';
import type { GcResult, Store } from '@dpkd/store';
import { checkpointDir } from './layout';
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
  /** Objects whose content does not match their digest (and stray files in objects/). */
  corrupt: Array<{ digest: string; path: string; reason: string; usedBy: string[] }>;
  /** Objects a manifest names (output, input or log) that are not in the store. */
  missing: Array<{ digest: string; path: string; usedBy: string[] }>;
  /**
   * Manifests that cannot be trusted or must run again: an output is corrupt or missing, or an input is a
   * corrupt object or the result of an action built on one (downstream, transitively). `--repair` removes them.
   */
  affected: Array<{ key: string; node: string; graph: string; why: string }>;
  /** What `--repair` removed. */
  repaired?: { manifests: string[]; objects: string[] };
}

/**
 * Re-hashes every object and checks every manifest's references: names each corrupt or missing object, who
 * uses it, and every manifest downstream of one. With `repair`, removes those manifests and the corrupt
 * objects, so the next run recomputes them (stray non-object files are reported, never removed).
 */
export async function verifyCache(store: Store, options: { repair?: boolean } = {}): Promise<CacheVerifyReport> {
  const result = await store.verify();
  const manifests: Array<{ key: string; m: ActionManifest }> = [];
  for (const key of await store.listManifests()) {
    const m = await store.getManifest<ActionManifest>(key).catch(() => undefined);
    if (m) manifests.push({ key, m });
  }
  const label = (key: string, m: ActionManifest) => `${m.provenance?.node ?? '?'} (${key.slice(0, 12)})`;
  const usedBy = new Map<string, string[]>();
  const use = (digest: string, who: string) => (usedBy.get(digest) ?? usedBy.set(digest, []).get(digest)!).push(who);
  for (const { key, m } of manifests) {
    for (const [port, o] of Object.entries(m.outputs ?? {})) use(o.digest, `output ${port} of ${label(key, m)}`);
    for (const [port, i] of Object.entries(m.inputs ?? {})) use(i.digest, `input ${port} of ${label(key, m)}`);
    if (m.logDigest) use(m.logDigest, `log of ${label(key, m)}`);
  }
  const corrupt = new Set(result.corrupt.map((c) => c.digest));
  const missing: CacheVerifyReport['missing'] = [];
  for (const digest of usedBy.keys()) {
    if (corrupt.has(digest) || (await store.has(digest))) continue;
    missing.push({ digest, path: store.objectPath(digest), usedBy: usedBy.get(digest)! });
  }
  const missingSet = new Set(missing.map((m) => m.digest));

  // Affected manifests, to a fixed point. An action whose output is missing must run again, but what was built
  // from that output when it existed is sound. An action whose output is corrupt may have handed out corrupt
  // bytes (before reads were verified, or by a same-size change a process had already vouched for): it and
  // everything downstream of it, transitively, is affected.
  const affected = new Map<string, string>();
  const tainted = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const { key, m } of manifests) {
      if (affected.has(key)) continue;
      const badOutput = Object.entries(m.outputs ?? {}).find(([, o]) => corrupt.has(o.digest) || missingSet.has(o.digest));
      const badInput = Object.entries(m.inputs ?? {}).find(([, i]) => corrupt.has(i.digest) || tainted.has(i.key));
      // The key is the hash of the recorded material (@dpkd/graph action-key.ts): if not, the manifest was
      // edited, or written by an older key recipe, and cannot vouch for what its key names (nor for the
      // outputs it handed downstream, which are tainted like corrupt ones).
      const badMaterial = rehashKeyMaterial(m.keyMaterial) !== key;
      if (badMaterial || badInput || (badOutput && corrupt.has(badOutput[1].digest))) tainted.add(key);
      const why = badMaterial
        ? `its recorded key material does not re-hash to its key (edited, or written by key format ${m.keyMaterial?.keyFormat ?? 1} instead of ${keyFormat})`
        : badOutput
          ? `output ${badOutput[0]} is ${corrupt.has(badOutput[1].digest) ? 'corrupt' : 'missing'}`
          : badInput
            ? `input ${badInput[0]} ${corrupt.has(badInput[1].digest) ? 'is a corrupt object' : `comes from ${label(badInput[1].key, manifests.find((x) => x.key === badInput[1].key)!.m)}, which is built on a corrupt object`}`
            : undefined;
      if (why) {
        affected.set(key, why);
        changed = true;
      }
    }
  }
  const report: CacheVerifyReport = {
    checked: result.checked,
    bytes: result.bytes,
    corrupt: result.corrupt.map((c) => ({ digest: c.digest, path: c.path, reason: c.reason, usedBy: usedBy.get(c.digest) ?? [] })),
    missing,
    affected: manifests
      .filter(({ key }) => affected.has(key))
      .map(({ key, m }) => ({ key, node: m.provenance?.node ?? '?', graph: m.provenance?.graph ?? '?', why: affected.get(key)! })),
  };
  if (options.repair) {
    const removedManifests: string[] = [];
    for (const a of report.affected) if (await store.deleteManifest(a.key)) removedManifests.push(a.key);
    const removedObjects: string[] = [];
    for (const c of result.corrupt) {
      if (!/^[0-9a-f]{64}$/.test(c.digest)) continue; // a stray file: not ours to delete
      await rm(c.path, { force: true });
      removedObjects.push(c.digest);
    }
    report.repaired = { manifests: removedManifests, objects: removedObjects };
  }
  return report;
}

/**
 * Keeps what the latest run of each graph needs (its nodes' manifests, their outputs and logs); removes the
 * rest. Training checkpoints (`checkpoints/<key>/`) are kept while their action has no manifest (a later run
 * resumes from them) and removed once it has one.
 */
export async function gcCache(
  store: Store,
  options: { dryRun: boolean; minAgeMs?: number },
): Promise<GcResult & { keptRuns: string[]; removedCheckpoints: string[]; keptCheckpoints: string[] }> {
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
  const result = await store.gc({
    keep,
    keepManifests,
    dryRun: options.dryRun,
    ...(options.minAgeMs !== undefined ? { minAgeMs: options.minAgeMs } : {}),
  });
  const removedCheckpoints: string[] = [];
  const keptCheckpoints: string[] = [];
  const checkpointsRoot = join(store.root, 'checkpoints');
  for (const key of await readdir(checkpointsRoot).catch(() => [] as string[])) {
    let committed: boolean;
    try {
      committed = (await store.getManifest(key)) !== undefined;
    } catch {
      committed = false; // not an action key, or an unreadable manifest: keep the checkpoint
    }
    if (!committed) {
      keptCheckpoints.push(key);
      continue;
    }
    if (!options.dryRun) await rm(checkpointDir(store, key), { recursive: true, force: true });
    removedCheckpoints.push(key);
  }
  return { ...result, keptRuns: [...latestByGraph.values()].map((r) => r.id), removedCheckpoints, keptCheckpoints };
}
