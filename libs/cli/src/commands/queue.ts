// `dpkd worker --queue URL --store DIR` and the queue executor behind `dpkd run --queue URL` (docs/operations.md).
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Effect } from 'effect';
import { Executor, resolveStoreDir, openStore, type EngineGraph, type ExecutorApi } from '@dpkd/engine';
import { InvalidQueueUrl, QueueUnavailable, openQueueExecutor, parseQueueUrl, startQueueWorker } from '@dpkd/queue';
import { StoreOpenError, type Store } from '@dpkd/store';
import { CliError, ExitCode } from '../cli-error';

const positiveNumber = (flag: string, v: string, integer: boolean) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new CliError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
  return n;
};

/** The --queue value, or DPKD_QUEUE (so a password in the URL need not be on the command line). */
export function queueUrlOf(flag: string | undefined): string | undefined {
  return flag ?? (process.env.DPKD_QUEUE || undefined);
}

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

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'Take actions from a `dpkd run --queue` and run them against the shared store, until stopped (SIGTERM: finish running actions; twice: abandon them to other workers)',
    )
    .option('--queue <url>', 'Redis URL: redis://[user:password@]host:port[/db][?prefix=name], rediss:// for TLS (default: $DPKD_QUEUE)')
    .option('--store <dir>', 'the shared store directory, the one the coordinator uses (default: $DPKD_STORE or .dpkd/)')
    .option('--cores <n>', 'cores this worker offers; it takes only actions whose resources.cpus fit the free ones (default: all)')
    .option('--lock-seconds <s>', "a job's lock: a killed worker's action is taken over after about this long", '30')
    .option('--max-stalled <n>', 'how often one action may be taken over from a dead worker before it fails', '1')
    .action(async (opts: { queue?: string; store?: string; cores?: string; lockSeconds: string; maxStalled: string }) => {
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
    });
}

/** Runs `effect` on the queue executor when there is one (`dpkd run --queue`), else leaves the engine's executor. */
export const withQueueExecutor =
  (queue: { executor: ExecutorApi } | undefined) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    queue ? Effect.provideService(effect, Executor, queue.executor) : effect;
