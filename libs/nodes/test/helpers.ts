import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lineage, NodeImplementation, NodeProgress, NodeRunContext } from '@dpkd/graph';
import { decodeSafetensors } from '@dpkd/lm';
import { validatorFor } from '@dpkd/schema';
import { expect, inject } from 'vitest';

const files: Record<string, string> = {
  Dataset: 'dataset',
  Pretrain: 'pretrain',
  FineTune: 'fine-tune',
  DPFineTune: 'dp-fine-tune',
  Sample: 'sample',
  SoftLabel: 'soft-label',
  HiddenAlign: 'hidden-align',
  Distill: 'distill',
  Evaluate: 'evaluate',
  Report: 'report',
  PublicModel: 'public-model',
};

/** Params as the engine hands them over: validated against the node's schema, defaults applied. */
export function withDefaults(type: string, params: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(params);
  const validate = validatorFor(`nodes/${files[type]}.schema.json`, { useDefaults: true });
  if (!validate(copy)) throw new Error(`invalid ${type} params: ${JSON.stringify(validate.errors)}`);
  return copy;
}

export interface Output {
  file: string;
  meta?: unknown;
}

// Scratch dirs hold outputs that later tests of the same file read. They live under the run's scratch root
// (global-setup.ts), removed when the run ends: this module is shared by the test files (isolate: false), so a
// per-file cleanup hook here would fire once.
const scratchDir = (prefix: string): string => mkdtempSync(join(inject('scratchRoot'), prefix));

/** Runs a node with a context built like the engine's (a fresh scratch dir, defaults applied). */
export async function runNode(
  impl: NodeImplementation,
  params: Record<string, unknown>,
  inputs: Record<string, Output & { kind?: string; lineage?: Lineage }> = {},
  seed = 0,
) {
  const progress: NodeProgress[] = [];
  const ctx: NodeRunContext = {
    id: `test-${impl.type}`,
    key: 'k'.repeat(64),
    type: impl.type,
    params: withDefaults(impl.type, params),
    seed,
    inputs: Object.fromEntries(
      Object.entries(inputs).map(([port, o]) => [
        port,
        { kind: o.kind ?? 'Artifact', path: o.file, meta: o.meta, lineage: o.lineage ?? {} },
      ]),
    ),
    scratchDir: scratchDir(`dpkd-nodes-${impl.type}-`),
    signal: new AbortController().signal,
    progress: (p) => progress.push(p),
    log: () => undefined,
  };
  const result = await impl.run(ctx);
  return { ...result, progress };
}

/** The node as the scheduler runs it when it gives it `threads` cores. */
export const onThreads = (impl: NodeImplementation, threads: number): NodeImplementation => ({
  ...impl,
  run: (ctx) => impl.run({ ...ctx, threads }),
});

const arraysOf = (o: Output) => decodeSafetensors(new Uint8Array(readFileSync(o.file))).tensors;

/** Two model outputs with the same parameters within float tolerance (a data-parallel run against one thread). */
export const expectSameModel = (a: Output, b: Output) => {
  const ta = arraysOf(a);
  const tb = arraysOf(b);
  expect([...tb.keys()]).toEqual([...ta.keys()]);
  for (const [name, { data }] of ta) {
    const other = tb.get(name)!.data;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < data.length; i++) {
      scale = Math.max(scale, Math.abs(data[i]!));
      diff = Math.max(diff, Math.abs(data[i]! - other[i]!));
    }
    // 1e-3: the key bias has an exactly-zero true gradient (softmax is shift invariant) and Adam scales its float
    // noise, which differs with the summation order, up to ~lr per step; a wrong shard weighting is off by ~1e-1.
    expect(diff / Math.max(scale, 1e-12), name).toBeLessThan(1e-3);
  }
};
