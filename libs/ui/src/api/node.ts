// One node as the Graph page's side panel shows it: params, action key, why it missed the cache, metrics, the
// (ε, δ) of its output's lineage and the mechanisms in it, and the tail of its log. ε is @dpkd/privacy's
// lineagePrivacy over the manifest's lineage (the rule `dpkd show`, the plan, the ledger and the Report use).
import { open, stat } from 'node:fs/promises';
import {
  explainMiss,
  nodeLogPath,
  readKeyIndex,
  type AccountantName,
  type ActionManifest,
  type KeyMaterial,
  type Lineage,
} from '@dpkd/engine';
import { describeEvent, lineagePrivacy, type LineagePrivacy } from '@dpkd/privacy';
import type { Store } from '@dpkd/store';

export interface LineageRow {
  unit: string;
  node: string;
  key: string;
  event: string;
  mechanism: boolean;
  gaps: string[];
}

export interface NodeDetail {
  id: string;
  type: string;
  key: string;
  status?: string;
  params: Record<string, unknown>;
  /** Why the action missed the cache (the field of the key that differs from the closest earlier action). */
  why?: string[];
  metrics?: Record<string, unknown>;
  privacy?: LineagePrivacy;
  lineage?: LineageRow[];
  /** ε the plan computes for its output before it runs, per unit (null: ∞). */
  plannedEpsilon?: Record<string, number | null>;
  log?: { path: string; tail: string; bytes: number };
  run?: string;
  startedAt?: string;
  seconds?: number;
  executor?: string;
  error?: string;
}

/** The end of a node log: the last `max` bytes (a long training log is megabytes). */
export async function logTail(path: string, max = 16_384): Promise<{ path: string; tail: string; bytes: number } | undefined> {
  try {
    const { size } = await stat(path);
    const handle = await open(path, 'r');
    try {
      const length = Math.min(size, max);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      const text = buffer.toString('utf8');
      return { path, tail: size > max ? text.slice(text.indexOf('\n') + 1) : text, bytes: size };
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

export function lineageRows(lineage: Lineage): LineageRow[] {
  return Object.entries(lineage).flatMap(([unit, byKey]) =>
    Object.values(byKey).map((e) => ({
      unit,
      node: e.node,
      key: e.key,
      event: describeEvent(e.event),
      mechanism: e.event.type !== 'NoOp',
      gaps: e.gaps ?? [],
    })),
  );
}

/**
 * Why an action that ran missed the cache, as `plan` said before its run: explainMiss (the plan's rule) against
 * the key index's actions of the same graph node recorded before it started, leaving out those of its own run
 * (a sibling sweep point that ran minutes earlier is not why it missed).
 */
async function missReason(store: Store, manifest: ActionManifest, baseId: string): Promise<string[]> {
  const { key, keyMaterial, provenance } = manifest;
  const earlier: KeyMaterial[] = [];
  for (const e of await readKeyIndex(store, keyMaterial.type, baseId)) {
    if (e.key === key || e.at >= provenance.startedAt) continue;
    const run = (await store.getManifest<ActionManifest>(e.key).catch(() => undefined))?.provenance.run;
    if (run !== provenance.run) earlier.push(e.material);
  }
  return explainMiss(keyMaterial, earlier);
}

export interface NodeRef {
  id: string;
  type: string;
  key: string;
  status?: string;
  params?: Record<string, unknown>;
  error?: string;
  /** The plan's explanation, when the node comes from a plan. */
  why?: string[];
  plannedEpsilon?: Record<string, number | null>;
}

export async function nodeDetail(store: Store, node: NodeRef, accountant: AccountantName): Promise<NodeDetail> {
  const manifest = await store.getManifest<ActionManifest>(node.key).catch(() => undefined);
  const log = await logTail(nodeLogPath(store, node.key));
  const detail: NodeDetail = {
    id: node.id,
    type: node.type,
    key: node.key,
    ...(node.status ? { status: node.status } : {}),
    params: manifest?.params ?? node.params ?? {},
    ...(node.error ? { error: node.error } : {}),
    ...(node.plannedEpsilon ? { plannedEpsilon: node.plannedEpsilon } : {}),
    ...(log ? { log } : {}),
  };
  if (node.why) detail.why = node.why;
  if (!manifest) return detail;
  const baseId = node.id.replace(/\[.*$/, '');
  if (!detail.why && node.status === 'ran') detail.why = await missReason(store, manifest, baseId);
  return {
    ...detail,
    metrics: manifest.metrics,
    privacy: lineagePrivacy(manifest.lineage, accountant),
    lineage: lineageRows(manifest.lineage),
    run: manifest.provenance.run,
    startedAt: manifest.provenance.startedAt,
    seconds: manifest.provenance.seconds,
    executor: manifest.provenance.executor,
  };
}
