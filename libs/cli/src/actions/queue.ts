// `dpkd worker` and the queue executor behind `dpkd run --queue URL` (docs/operations.md): the only code that
// needs the Redis client (bullmq, ioredis), loaded by those two only (commands/queue.ts, actions/run.ts).
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { resolveStoreDir, openStore, type EngineGraph, type ExecutorApi } from '@dpkd/engine';
import { InvalidQueueUrl, QueueUnavailable, openQueueExecutor, parseQueueUrl, startQueueWorker } from '@dpkd/queue';
import { StoreOpenError, type Store } from '@dpkd/store';
import { CliError, ExitCode } from '../cli-error';
import { queueUrlOf } from '../commands/queue';

const positiveNumber = (flag: string, v: string, integer: boolean) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new CliError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  return n;
};

const parsed = (url: string) => {
  try {
    return parseQueueUrl(url);
  } catch (error) {
    if (error instanceof InvalidQueueUrl) throw new CliError(error.message, ExitCode.invalidInput);
    throw error;
  }
};

/**
 * The queue executor for `dpkd run --queue`: actions go to Redis by key, workers run them against this store.
 * Progress notices (a job re-enqueued, Redis unreachable) go to stderr.
 */
export async function queueExecutorFor(
  url: string,
  store: Store,
  graph: EngineGraph,
): Promise<{ executor: ExecutorApi; close(): Promise<void> }> {
  try {
    return await openQueueExecutor({
      queue: parsed(url),
      store,
      nodes: graph.nodes,
      notice: (message) => void process.stderr.write(`queue: ${message}\n`),
    });
  } catch (error) {
    if (error instanceof QueueUnavailable) throw new CliError(error.message, ExitCode.failed);
    throw error;
  }
}

export interface WorkerOptions {
  queue?: string;
  store?: string;
  cores?: string;
  lockSeconds: string;
  maxStalled: string;
}

export async function workerCommand(opts: WorkerOptions): Promise<void> {
  const url = queueUrlOf(opts.queue);
  if (!url) throw new CliError('dpkd worker needs --queue redis://host:port (or DPKD_QUEUE)', ExitCode.invalidInput);
  const queue = parsed(url);
  const cores = opts.cores ? positiveNumber('--cores', opts.cores, true) : availableParallelism();
  const lockMs = positiveNumber('--lock-seconds', opts.lockSeconds, false) * 1000;
  const maxStalledCount = positiveNumber('--max-stalled', opts.maxStalled, true);
  let store: Store;
  try {
    store = await openStore(resolveStoreDir(opts.store));
  } catch (error) {
    if (error instanceof StoreOpenError) throw new CliError(error.message, ExitCode.invalidInput);
    throw error;
  }
  let worker;
  try {
    worker = await startQueueWorker({ queue, store, script: resolve(process.argv[1]!), cores, lockMs, maxStalledCount });
  } catch (error) {
    throw new CliError(`cannot reach Redis at ${queue.describe}: ${(error as Error).message}`, ExitCode.failed);
  }
  let signals = 0;
  const onSignal = () => {
    signals++;
    process.stderr.write(
      signals === 1
        ? 'worker: stopping after the running actions (signal again to abandon them to other workers)\n'
        : 'worker: abandoning the running actions\n',
    );
    void worker.stop({ abandon: signals > 1 });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await worker.stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
