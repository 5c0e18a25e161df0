import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Effect, Exit, Fiber } from 'effect';
import { validateGraph } from '@dpkd/graph';
import { Store } from '@dpkd/store';
import {
  engineLayer,
  makeRegistry,
  recordingProgress,
  runGraph,
  testNodes,
  testSignatures,
  type EngineGraph,
  type RunOptions,
} from '../src';

export const registry = makeRegistry(testNodes);

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, removed when the test file's tests are done. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dpkd-engine-'));
  tempDirs.push(dir);
  return dir;
}

/**
 * Validates and expands a test graph. Budgets are set after validation: the graph lib accepts budgets only
 * for nodes of type Dataset, and the test-only FakeDataset is not one (the engine reads them from `source`).
 */
export function graphOf(json: Record<string, unknown>): EngineGraph {
  const { privacy, ...rest } = json as { privacy?: { accountant?: string; budgets?: unknown } };
  const withoutBudgets = privacy ? { ...rest, privacy: { ...privacy, budgets: {} } } : rest;
  const result = validateGraph(JSON.stringify({ name: 'test', ...withoutBudgets }), 'test.json', { extraSignatures: testSignatures });
  if (!result.graph) throw new Error(result.diagnostics.map((d) => d.message).join('\n'));
  if (privacy?.budgets) (result.graph.source as { privacy: unknown }).privacy = privacy;
  return result.graph as EngineGraph;
}

export async function openTestStore(): Promise<Store> {
  return Store.open(join(tempDir(), 'store'));
}

export function layerFor(store: Store) {
  const progress = recordingProgress();
  return { progress, layer: engineLayer({ store, registry, executor: 'in-process', progress }) };
}

export async function run(store: Store, graph: EngineGraph, options: Partial<RunOptions> = {}) {
  const { progress, layer } = layerFor(store);
  const exit = await Effect.runPromiseExit(runGraph(graph, { jobs: 2, ...options }).pipe(Effect.provide(layer)));
  return { exit, events: progress.events, summary: Exit.isSuccess(exit) ? exit.value : undefined };
}

/** Starts a run and interrupts it once `when` sees a matching progress event. */
export async function runAndInterrupt(store: Store, graph: EngineGraph, when: (type: string, node: string) => boolean) {
  const { progress, layer } = layerFor(store);
  const fiber = Effect.runFork(runGraph(graph, { jobs: 2 }).pipe(Effect.provide(layer)));
  for (let i = 0; i < 400; i++) {
    if (progress.events.some((e) => 'node' in e && when(e.type, e.node))) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const exit = await Effect.runPromise(Fiber.interrupt(fiber));
  return { exit, events: progress.events };
}
