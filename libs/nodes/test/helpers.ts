import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lineage, NodeImplementation, NodeProgress, NodeRunContext } from '@dpkd/graph';
import { validatorFor } from '@dpkd/schema';
import { afterAll } from 'vitest';

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

// Scratch dirs hold outputs that later tests of the same file read: remove them when the file is done.
const scratchDirs: string[] = [];
afterAll(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const scratchDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
};

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
