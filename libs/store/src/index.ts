export { canonicalJson } from './canonical-json';
export { digestOf, sha256Hex } from './hash';
export { fsyncDir, writeFileAtomic, type WriteAtomicOptions, type WriteSource } from './atomic-write';
export { LockBusyError, LockTimeoutError, LockWaitAborted, withFileLock, type LockHolder, type LockOptions } from './lock';
export {
  CorruptObjectError,
  MissingObjectError,
  Store,
  StoreOpenError,
  type CorruptObject,
  type GcOptions,
  type GcResult,
  type ObjectInfo,
  type PutResult,
  type VerifiedObject,
  type VerifyResult,
} from './store';
export { AppendLog, GENESIS_HASH, type LogRecord, type LogVerifyResult, type TornTail } from './append-log';
export { isProcessAlive, isSameLiveProcess, processIdentity } from './process-tag';
