import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chunk, Duration, Effect, Exit, Fiber, TestClock, TestContext } from 'effect';
import { validateGraph } from '@dpkd/graph';
import { Store } from '@dpkd/store';
import {
  engineLayer,
  Executor,
  inProcessExecutor,
  makeRegistry,
  recordingProgress,
  runGraph,
  testNodes,
  testSignatures,
  type EngineGraph,
  type ExecutorApi,
  type NodeRegistryApi,
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

/**
 * An executor whose actions take `params.virtualSeconds` on the Effect Clock (the TestClock under test), then
 * commit through the in-process executor. `threads` records the cores the scheduler gave each node.
 */
export function virtualTimeExecutor(store: Store, nodes: NodeRegistryApi = registry) {
  const inProcess = inProcessExecutor(store, nodes);
  const threads = new Map<string, number>();
  const executor: ExecutorApi = {
    execute: (spec, options) =>
      Effect.sync(() => threads.set(spec.nodeId, spec.threads ?? 1)).pipe(
        Effect.zipRight(Effect.sleep(Duration.seconds(Number(spec.params.virtualSeconds ?? 0)))),
        Effect.zipRight(inProcess.execute(spec, options)),
      ),
  };
  return { executor, threads };
}

/** runGraph with the virtual-time executor; run it under `onTestClock`. */
export function runVirtual(
  store: Store,
  graph: EngineGraph,
  options: Partial<RunOptions> = {},
  executor: ExecutorApi = virtualTimeExecutor(store).executor,
  nodes: NodeRegistryApi = registry,
) {
  const progress = recordingProgress();
  const layer = engineLayer({ store, registry: nodes, executor: 'in-process', progress });
  return runGraph(graph, { jobs: 2, ...options }).pipe(
    Effect.provideService(Executor, executor),
    Effect.provide(layer),
    Effect.map((summary) => ({ summary, events: progress.events })),
  );
}

/** Runs `program` with the TestClock: Effect time passes only by TestClock.adjust. */
export const onTestClock = <A, E>(program: Effect.Effect<A, E>) => Effect.runPromise(program.pipe(Effect.provide(TestContext.TestContext)));

/**
 * Waits until `count` fibers sleep until `deadlineMs` on the TestClock. The wait is on the real clock, because a
 * run does real I/O (manifests, records) between its sleeps.
 */
export const untilSleeping = (deadlineMs: number, count = 1) =>
  Effect.gen(function* () {
    const giveUp = Date.now() + 20_000;
    while (Chunk.toReadonlyArray(yield* TestClock.sleeps()).filter((at) => at === deadlineMs).length < count) {
      if (Date.now() > giveUp) return yield* Effect.die(new Error(`no ${count} fiber(s) ever slept until ${deadlineMs} ms`));
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)));
    }
  });
