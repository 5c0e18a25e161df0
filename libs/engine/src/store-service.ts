// The store as the engine's ArtifactStore service sees it: the operations a run performs on @dpkd/store, as
// Effects whose failure is a StoreFailure naming the operation. @dpkd/store is Promise-based and shared with the
// CLI; this is the one place where its rejections become typed errors, so a full or read-only disk is an error
// the run reports (and callers may catchTag), not a defect.
import { Effect } from 'effect';
import type { Store } from '@dpkd/store';
import { LedgerDamaged, StoreFailure, messageOf } from './errors';
import { checkCachedOutputs, type CachedOutputsCheck } from './integrity';
import { requireIntactLedger } from './ledger-guard';
import type { ActionManifest } from './manifest';
import { writeRunRecord, type RunRecord } from './run-records';

export interface ArtifactStoreApi {
  /**
   * The Promise store, for engine code that takes a Store because the CLI calls it too and is not a store
   * operation of a run: layout paths (no I/O) and planGraph, whose failures are the plan's (PlanFailure, or a
   * node's own input check), not StoreFailures.
   */
  readonly raw: Store;
  /** The manifest of action `key`, or undefined if it has none (not committed, or dropped). */
  getManifest(key: string): Effect.Effect<ActionManifest | undefined, StoreFailure>;
  /** Drops the manifest of `key`, so its action runs again; true if there was one. */
  deleteManifest(key: string): Effect.Effect<boolean, StoreFailure>;
  /** Removes the temp files that crashed runs left behind; returns their paths. */
  cleanupStaleTemp(): Effect.Effect<string[], StoreFailure>;
  /** checkCachedOutputs (integrity.ts) on this store: a missing or corrupt output is a result, not a failure. */
  checkCachedOutputs(manifest: ActionManifest, options: { hash: boolean; reader: string }): Effect.Effect<CachedOutputsCheck, StoreFailure>;
  /** requireIntactLedger (ledger-guard.ts) on this store: a damaged ledger is a LedgerDamaged, any other failure a StoreFailure. */
  requireIntactLedger(): Effect.Effect<void, LedgerDamaged | StoreFailure>;
  /** Writes (atomically) the record of a run: what the live RunRecords service does. */
  writeRunRecord(record: RunRecord): Effect.Effect<void, StoreFailure>;
}

/** The ArtifactStore service over `store`; the live layer builds it once. */
export function makeArtifactStore(store: Store): ArtifactStoreApi {
  const failure = (operation: string) => (e: unknown) => new StoreFailure({ operation, message: messageOf(e) });
  const attempt = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, StoreFailure> =>
    Effect.tryPromise({ try: run, catch: failure(operation) });
  return {
    raw: store,
    getManifest: (key) => attempt('read the manifest', () => store.getManifest<ActionManifest>(key)),
    deleteManifest: (key) => attempt('delete the manifest', () => store.deleteManifest(key)),
    cleanupStaleTemp: () => attempt('remove stale temp files', () => store.cleanupStaleTemp()),
    checkCachedOutputs: (manifest, options) => attempt('verify cached outputs', () => checkCachedOutputs(store, manifest, options)),
    requireIntactLedger: () =>
      Effect.tryPromise({
        try: () => requireIntactLedger(store),
        catch: (e) => (e instanceof LedgerDamaged ? e : failure('check the privacy ledger')(e)),
      }),
    writeRunRecord: (record) => attempt('write the run record', () => writeRunRecord(store, record)),
  };
}
