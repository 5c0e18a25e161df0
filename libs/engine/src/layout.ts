// Where the engine keeps its own files inside a store directory (next to the store's objects/ and actions/).
import { join } from 'node:path';
import type { Store } from '@dpkd/store';

export const engineDir = (store: Store) => join(store.root, 'engine');
export const runsDir = (store: Store) => join(engineDir(store), 'runs');
export const specsDir = (store: Store) => join(engineDir(store), 'specs');
export const nodeLogsDir = (store: Store) => join(engineDir(store), 'node-logs');
export const keyIndexDir = (store: Store) => join(engineDir(store), 'key-index');
export const specPath = (store: Store, key: string) => join(specsDir(store), `${key}.json`);
export const nodeLogPath = (store: Store, key: string) => join(nodeLogsDir(store), `${key}.log`);
/** A long training's resumable state: kept until the action commits (NodeRunContext.checkpointDir). */
export const checkpointDir = (store: Store, key: string) => join(store.root, 'checkpoints', key);

/** The privacy ledger: the store's hash-chained log `logs/privacy-ledger.jsonl`. */
export const LEDGER_LOG = 'privacy-ledger';

/** Default store: `.dpkd/` in the working directory, or `--store`, or DPKD_STORE. */
export function resolveStoreDir(flag: string | undefined, cwd = process.cwd()): string {
  return flag ?? process.env.DPKD_STORE ?? join(cwd, '.dpkd');
}
