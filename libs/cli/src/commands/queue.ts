// `dpkd worker --queue URL --store DIR` (docs/operations.md). Registration only: the worker and the queue
// executor of `dpkd run --queue` are in actions/queue.ts, loaded only by them (the Redis client is heavy).
import type { Command } from 'commander';
import type { WorkerOptions } from '../actions/queue';

/** The --queue value, or DPKD_QUEUE (so a password in the URL need not be on the command line). */
export function queueUrlOf(flag: string | undefined): string | undefined {
  return flag ?? (process.env.DPKD_QUEUE || undefined);
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
    .action(async (opts: WorkerOptions) => (await import('../actions/queue')).workerCommand(opts));
}
