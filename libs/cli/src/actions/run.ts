// `dpkd run | exec`: the commands that execute actions, so the ones that need the node registry and the model
// backend. Loaded when one of them runs (commands/engine.ts registers them); the Redis queue client only with
// --queue (actions/queue.ts).
import { resolve } from 'node:path';
import { Cause, Effect, Exit, Fiber, Option } from 'effect';
import { type ExpandedGraph, formatDiagnostic } from '@dpkd/graph';
import {
  engineLayer,
  Executor,
  failureInfo,
  readSpec,
  runActionLocked,
  runGraph,
  type ExecutorApi,
  type ExecutorChoice,
  type RunGraphError,
  type RunSummary,
} from '@dpkd/engine';
import { renderTable } from '@dpkd/report';
import type { Store } from '@dpkd/store';
import { CliError, ExitCode, userError } from '../cli-error';
import { queueUrlOf } from '../commands/queue';
import { loadGraph, nodeRegistry as registry } from '../registry';
import { graphTables } from '../report-tables';
import { readNodeResult, resultLine } from './show';
import { json, openStoreOrFail, parseAccountant, print } from './store';

const parseJobs = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`--jobs must be a positive integer, got "${v}"`);
  return n;
};

/**
 * `dpkd run`'s refusals and failures as the CliError that says what happened and exits with its code: an over-budget
 * graph exits 3, an invalid graph or input 2 (a node's own input check with the graph file and its pointer), and
 * anything else that stopped the run (the plan, the ledger, the store) 1.
 */
const refusalsAsCliErrors =
  (file: string) =>
  <A, R>(run: Effect.Effect<A, RunGraphError, R>): Effect.Effect<A, CliError, R> => {
    const stopped = (e: { message: string }) => Effect.fail(new CliError(e.message, ExitCode.failed));
    return run.pipe(
      Effect.catchTags({
        BudgetExceeded: (e) => Effect.fail(new CliError(`privacy budget exceeded, nothing ran: ${e.message}`, ExitCode.budgetExceeded)),
        UnknownNodeType: (e) => Effect.fail(new CliError(e.message, ExitCode.invalidInput)),
        PrivacyDeclarationInvalid: (e) =>
          Effect.fail(new CliError(`invalid privacy declaration, nothing ran:\n${e.message}`, ExitCode.invalidInput)),
        PlanFailure: stopped,
        LedgerDamaged: stopped,
        StoreFailure: stopped,
      }),
      // The one error without a tag: InvalidNodeInput, a node's own input check at plan time (@dpkd/graph).
      Effect.mapError((e) => (e instanceof CliError ? e : (userError(e, file) ?? new CliError(e.message, ExitCode.failed)))),
    );
  };

/** Runs `effect` on the queue executor when there is one (`dpkd run --queue`), else leaves the engine's executor. */
const withQueueExecutor =
  (queue: { executor: ExecutorApi } | undefined) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    queue ? Effect.provideService(effect, Executor, queue.executor) : effect;

export interface RunOptions {
  jobs?: string;
  store?: string;
  json?: boolean;
  events?: string;
  executor: string;
  accountant?: string;
  queue?: string;
}

export async function runCommand(file: string, opts: RunOptions): Promise<void> {
  const queueUrl = queueUrlOf(opts.queue); // with a queue, --jobs bounds the actions enqueued at once; the workers' cores bound what runs
  const jobs = opts.jobs ? parseJobs(opts.jobs) : queueUrl ? 256 : (await import('node:os')).availableParallelism();
  if (!['auto', 'in-process', 'worker'].includes(opts.executor))
    throw new CliError(`--executor must be auto, in-process or worker, got "${opts.executor}"`);
  const accountant = parseAccountant(opts.accountant);
  const loaded = await loadGraph(file);
  if (!loaded.graph) throw new CliError(loaded.diagnostics.map(formatDiagnostic).join('\n'), ExitCode.invalidInput);
  const store = await openStoreOrFail(opts.store);
  const layer = engineLayer({
    store,
    registry: registry(),
    executor: opts.executor as ExecutorChoice,
    worker: { script: resolve(process.argv[1]!) },
    progress: { ...(opts.events ? { eventsFile: resolve(opts.events) } : {}) },
  });
  const queue = queueUrl ? await (await import('./queue')).queueExecutorFor(queueUrl, store, loaded.graph) : undefined;
  const fiber = Effect.runFork(
    runGraph(loaded.graph, {
      jobs,
      graphFile: resolve(file),
      ...(accountant ? { accountant } : {}),
      // With a queue the workers' cores bound what runs (each takes what fits), not this machine's.
      ...(queue ? { cores: Infinity } : {}),
    }).pipe(withQueueExecutor(queue), Effect.provide(layer), refusalsAsCliErrors(file)),
  );
  let interrupted = false;
  const onSignal = () => {
    // A second Ctrl-C does not wait for the abort grace: exit now. Nothing is half-committed (artifacts are
    // written by rename, ledger entries before training), and a worker still saving its checkpoint finishes on its
    // own; the run record stays "running" until `dpkd status` finds its process gone.
    if (interrupted) {
      process.stderr.write('second interrupt: exiting now; rerun to resume from the cache and the last checkpoints\n');
      process.exit(ExitCode.interrupted);
    }
    interrupted = true;
    process.stderr.write('\ninterrupting: stopping workers and removing temp files (Ctrl-C again to exit at once)...\n');
    Effect.runFork(Fiber.interrupt(fiber));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const exit = await Effect.runPromise(Fiber.await(fiber));
  await queue?.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (Exit.isSuccess(exit)) {
    finishRun(exit.value, Boolean(opts.json));
    if (!opts.json) {
      // The graph's results: each leaf's headline metric and (ε, δ), then the result tables, all from the store
      // (verified on read; a Report that did not run is simply absent).
      const results = await leafResults(store, loaded.graph, exit.value);
      if (results.length)
        print(
          `results (leaf nodes; \`dpkd show NODE\` for params, metrics, privacy gaps and the log):\n${results.map((l) => `  ${l}`).join('\n')}`,
        );
      for (const t of (await graphTables(store, loaded.graph)).tables) print(`\n${renderTable(t.table, 'md')}`);
    }
    return;
  }
  if (Cause.isInterruptedOnly(exit.cause))
    throw new CliError('interrupted; finished nodes are cached, rerun to continue', ExitCode.interrupted);
  const failure = Cause.failureOption(exit.cause);
  if (Option.isSome(failure)) throw failure.value;
  // A defect (a bug) is reported as the run's failure, as any other error: one line, exit 1.
  const defect = Cause.squash(exit.cause);
  throw userError(defect, file) ?? new CliError(defect instanceof Error ? defect.message : String(defect), ExitCode.failed);
}

export async function execCommand(key: string, opts: { store?: string }): Promise<void> {
  const store = await openStoreOrFail(opts.store);
  const spec = await readSpec(store, key).catch((e: Error) => {
    throw new CliError(e.message, ExitCode.invalidInput);
  });
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    const result = await runActionLocked(store, registry(), spec, {
      signal: controller.signal,
      executor: 'worker',
      progress: (p) => void process.stdout.write(`${JSON.stringify({ type: 'progress', ...p })}\n`),
      notice: (message) => void process.stdout.write(`${JSON.stringify({ type: 'notice', message })}\n`),
    });
    process.stdout.write(`${JSON.stringify({ type: 'done', cached: result.cached })}\n`);
  } catch (error) {
    if (controller.signal.aborted) throw new CliError(`action ${key.slice(0, 12)} interrupted; nothing committed`, ExitCode.interrupted);
    // The failure by its fields, for the run that spawned this worker (a node's own input check keeps its pointer).
    const failure = failureInfo(error);
    process.stdout.write(`${JSON.stringify({ type: 'failed', failure })}\n`);
    throw new CliError(failure.message, failure.invalidInput ? ExitCode.invalidInput : ExitCode.failed);
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

/** One line per leaf node (a node no other node reads) that has a result; Report leaves print their table instead. */
async function leafResults(store: Store, graph: ExpandedGraph, summary: RunSummary): Promise<string[]> {
  const read = new Set(graph.nodes.flatMap((n) => n.deps));
  const finished = new Set(summary.nodes.filter((n) => n.status === 'ran' || n.status === 'cached').map((n) => n.id));
  const leaves = graph.nodes.filter((n) => !read.has(n.id) && n.type !== 'Report' && finished.has(n.id));
  return Promise.all(leaves.map(async (n) => resultLine(await readNodeResult(store, n, summary.record.privacy.accountant))));
}

function finishRun(summary: RunSummary, asJson: boolean): void {
  if (asJson)
    json({
      run: summary.run,
      nodes: summary.nodes.map((n) => ({ id: n.id, status: n.status, seconds: n.seconds })),
      privacy: summary.privacy,
    });
  const failed = summary.nodes.filter((n) => n.status === 'failed');
  const skipped = summary.nodes.filter((n) => n.status === 'skipped');
  const counts = ['ran', 'cached', 'failed', 'skipped'].map((s) => `${summary.nodes.filter((n) => n.status === s).length} ${s}`).join(', ');
  process.stderr.write(`run ${summary.run}: ${counts}\n`);
  // A node's own input check that failed at run time names the graph file and its JSON pointer (invalid input).
  const where = (n: RunSummary['nodes'][number]) => (n.invalidInput && summary.record.graph.file ? `${summary.record.graph.file}: ` : '');
  for (const n of failed) process.stderr.write(`  failed ${n.id}: ${where(n)}${n.error ?? ''}${n.log ? ` (log: ${n.log})` : ''}\n`);
  if (skipped.length) process.stderr.write(`  skipped (upstream failed): ${skipped.map((n) => n.id).join(', ')}\n`);
  // Exit 2 when only invalid input failed (fix the graph at the pointers); any other failure wins: exit 1.
  if (failed.length || skipped.length)
    process.exitCode = failed.length > 0 && failed.every((n) => n.invalidInput) ? ExitCode.invalidInput : ExitCode.failed;
}
