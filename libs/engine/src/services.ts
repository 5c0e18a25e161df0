// The engine's Effect services. Each is a Context tag; live layers are in layers.ts, and tests provide
// their own (a store in a temp dir, test-only node types, a recording progress sink).
import { Context, type Effect } from 'effect';
import type { NodeProgress } from '@dpkd/graph';
import type { ActionSpec } from './action';
import type { NodeFailed, StoreFailure } from './errors';
import type { ActionManifest } from './manifest';
import type { NodeRegistryApi } from './registry';
import type { RunRecord } from './run-records';
import type { ArtifactStoreApi } from './store-service';

/** The content-addressed store (objects, manifests, locks, logs) of @dpkd/store, its failures typed (store-service.ts). */
export class ArtifactStore extends Context.Tag('dpkd/ArtifactStore')<ArtifactStore, ArtifactStoreApi>() {}

export class NodeRegistry extends Context.Tag('dpkd/NodeRegistry')<NodeRegistry, NodeRegistryApi>() {}

export interface ExecutorApi {
  /**
   * Runs one action to commit (outputs stored, ledger appended, manifest written) and returns its
   * manifest; `cached` when another process committed it first. Interruption stops the node and
   * commits nothing.
   */
  execute(
    spec: ActionSpec,
    options: { heavy: boolean; logPath: string; progress(p: NodeProgress): void; notice?(message: string): void },
  ): Effect.Effect<{ manifest: ActionManifest; cached: boolean }, NodeFailed>;
}

export class Executor extends Context.Tag('dpkd/Executor')<Executor, ExecutorApi>() {}

export interface RunRecordsApi {
  /** Fails with StoreFailure when the record cannot be written (disk full, read-only store). */
  write(record: RunRecord): Effect.Effect<void, StoreFailure>;
}

export class RunRecords extends Context.Tag('dpkd/RunRecords')<RunRecords, RunRecordsApi>() {}

export type EngineEvent =
  | { type: 'run-start'; run: string; graph: string; nodes: number; toRun: number; at: number }
  | { type: 'node-start'; run: string; node: string; key: string; attempt: number; at: number }
  | ({ type: 'node-progress'; run: string; node: string; at: number } & NodeProgress)
  | { type: 'node-end'; run: string; node: string; key: string; status: string; seconds: number; error?: string; log?: string; at: number }
  | { type: 'run-end'; run: string; status: string; seconds: number; at: number }
  /** Something the user should know that is not a node's progress (e.g. a cached result found damaged and dropped). */
  | { type: 'notice'; run: string; message: string; at: number };

export interface ProgressApi {
  emit(event: EngineEvent): Effect.Effect<void>;
}

export class Progress extends Context.Tag('dpkd/Progress')<Progress, ProgressApi>() {}
