// Miss explanations: the closest earlier action of the same graph node, and the key fields that differ.
// The key recipe itself is @dpkd/graph's action-key.ts (one recipe: expansion computes every key there).
import type { KeyMaterial } from '@dpkd/graph';
import type { EngineNode } from './graph-types';

export type { KeyMaterial };

/** The material the node's key was computed from (recorded in manifests and the key index). */
export const keyMaterialOf = (node: EngineNode): KeyMaterial => node.material;

/** Flattens nested params to `a.b.c` paths so a difference names the exact field. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.set(prefix, {});
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, value);
  }
}

const show = (v: unknown): string => (v === undefined ? '(unset)' : JSON.stringify(v));

/** Every differing field of `before` -> `now`, e.g. `params.lr: 0.0001 -> 0.0002`, `inputs.data: upstream changed`. */
export function differences(before: KeyMaterial, now: KeyMaterial): string[] {
  const out: string[] = [];
  if (before.keyFormat !== now.keyFormat)
    out.push(`keyFormat: ${show(before.keyFormat)} -> ${show(now.keyFormat)} (dpkd's key recipe changed)`);
  if (before.version !== now.version) out.push(`version: ${before.version} -> ${now.version}`);
  if (before.seed !== now.seed) out.push(`seed: ${before.seed} -> ${now.seed}`);
  const a = new Map<string, unknown>();
  const b = new Map<string, unknown>();
  flatten(before.params, 'params', a);
  flatten(now.params, 'params', b);
  // Material recorded before keyFormat 2 has no environment: every entry shows as (unset) -> value.
  for (const [k, v] of Object.entries(before.environment ?? {})) a.set(`environment.${k}`, v);
  for (const [k, v] of Object.entries(now.environment ?? {})) b.set(`environment.${k}`, v);
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (JSON.stringify(a.get(path)) !== JSON.stringify(b.get(path))) out.push(`${path}: ${show(a.get(path))} -> ${show(b.get(path))}`);
  }
  for (const port of [...new Set([...Object.keys(before.inputs), ...Object.keys(now.inputs)])].sort()) {
    const was = before.inputs[port];
    const is = now.inputs[port];
    if (was === is) continue;
    if (was === undefined) out.push(`inputs.${port}: added`);
    else if (is === undefined) out.push(`inputs.${port}: removed`);
    else out.push(`inputs.${port}: upstream changed`);
  }
  return out;
}

/**
 * Why `now` misses the cache: the differences to the closest earlier action (fewest differing fields),
 * or a first-run note when this node never ran.
 */
export function explainMiss(now: KeyMaterial, earlier: KeyMaterial[]): string[] {
  let best: string[] | undefined;
  for (const candidate of earlier) {
    if (candidate.type !== now.type) continue;
    const diff = differences(candidate, now);
    if (diff.length === 0) continue; // same material: its manifest was removed (gc) or it never finished
    if (!best || diff.length < best.length) best = diff;
  }
  if (best) return best;
  return earlier.length > 0 ? ['an earlier identical action did not finish or was removed by gc'] : ['never run before'];
}
