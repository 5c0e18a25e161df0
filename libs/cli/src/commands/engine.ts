// `dpkd run | status | cache ls|verify|gc | ledger [verify] | exec`: the engine's commands.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Cause, Effect, Exit, Fiber, Option } from 'effect';
import { formatDiagnostic } from '@dpkd/graph';
import {
  checkLedger,
  engineLayer,
  failureInfo,
  formatEps,
  gcCache,
  latestRunRecord,
  listCache,
  openStore,
  readLedger,
  readSpec,
  rebuildLedger,
  uncommittedAttempts,
  resolveStoreDir,
  runActionLocked,
  runGraph,
  verifyCache,
  verifyLedger,
  type AccountantName,
  type ExecutorChoice,
  type RunGraphError,
  type RunSummary,
} from '@dpkd/engine';
import { StoreOpenError, type Store } from '@dpkd/store';
import { CliError, ExitCode, userError } from '../cli-error';
import { loadGraph, nodeRegistry as registry } from '../registry';
import { graphTables } from '../report-tables';
import { renderTable } from '@dpkd/report';
import type { ExpandedGraph } from '@dpkd/graph';
import { headlineMetric, readNodeResult, resultLine } from './show';
import { queueExecutorFor, queueUrlOf, withQueueExecutor } from './queue';

const parseJobs = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`--jobs must be a positive integer, got "${v}"`);
  return n;
};
const parseAccountant = (v: string | undefined): AccountantName | undefined => {
  if (v === undefined || v === 'rdp' || v === 'pld') return v;
  throw new CliError(`--accountant must be rdp or pld, got "${v}"`);
};
const print = (text: string) => void process.stdout.write(`${text}\n`);

/** Opens the store of `--store` / DPKD_STORE / .dpkd; a path that is a file or cannot be created is a one-line error. */
async function openStoreOrFail(flag: string | undefined): Promise<Store> {
  try {
    return await openStore(resolveStoreDir(flag));
  } catch (error) {
    if (error instanceof StoreOpenError) throw new CliError(error.message, ExitCode.invalidInput);
    throw error;
  }
}

/** File-system refusals while changing the store (read-only, no permission, disk full) as one line, not a stack trace. */
async function changingStore<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const { code, path } = error as NodeJS.ErrnoException;
    const why: Record<string, string> = {
      EACCES: 'permission denied',
      EPERM: 'operation not permitted',
      EROFS: 'the store is on a read-only filesystem',
      ENOSPC: 'the disk is full',
    };
    if (code && why[code])
      throw new CliError(`${what}: ${why[code]} (${code}${path ? ` on ${path}` : ''}); nothing more was changed`, ExitCode.failed);
    throw error;
  }
}
const json = (value: unknown) => print(JSON.stringify(value, (_k, v) => (v === Infinity ? null : v)));

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

/** A subcommand's option that its parent command also defines (`ledger --json verify` and `ledger verify --json`). */
const optionOf = <T>(command: Command, name: string): T | undefined =>
  (command.opts() as Record<string, T | undefined>)[name] ?? (command.parent?.opts() as Record<string, T | undefined> | undefined)?.[name];

export function register(program: Command): void {
  program
    .command('run')
    .description('Run a graph: cached actions are reused, the rest run concurrently; exit 1 if a node failed, 3 if over budget')
    .argument('<file>', 'graph JSON file')
    .option('--jobs <n>', 'nodes run at once (default: number of cores)')
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .option('--json', 'print one JSON object: {run, nodes, privacy}')
    .option('--events <file>', 'append JSONL progress events to this file')
    .option('--executor <kind>', 'auto (heavy nodes in worker processes) | in-process | worker', 'auto')
    .option('--accountant <name>', "override the graph's accountant: rdp | pld")
    .option(
      '--queue <url>',
      'run the actions on `dpkd worker`s through Redis: redis://host:port (default: $DPKD_QUEUE; docs/operations.md)',
    )
    .action(
      async (
        file: string,
        opts: { jobs?: string; store?: string; json?: boolean; events?: string; executor: string; accountant?: string; queue?: string },
      ) => {
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
        const queue = queueUrl ? await queueExecutorFor(queueUrl, store, loaded.graph) : undefined;
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
      },
    );

  program
    .command('status')
    .description('Show the latest run: status, timings and failures')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print the run record')
    .action(async (opts: { store?: string; json?: boolean }) => {
      const record = await latestRunRecord(await openStoreOrFail(opts.store));
      if (!record) throw new CliError('no run yet in this store (run `dpkd run GRAPH` first)', ExitCode.failed);
      if (opts.json) return json(record);
      print(
        `run ${record.id}: ${record.graph.name} ${record.status} (${record.seconds?.toFixed(2) ?? '?'} s, started ${record.startedAt})`,
      );
      for (const n of record.nodes) {
        const deltaOf = (u: string) => (record.privacy.datasets as Record<string, { delta?: number } | undefined>)[u]?.delta;
        const eps = Object.entries(n.epsilon ?? {})
          .map(([u, e]) => `ε(${u})=${formatEps(e ?? Infinity)}${deltaOf(u) ? ` at δ=${deltaOf(u)!.toExponential(2)}` : ''}`)
          .join(' ');
        const metric = headlineMetric(n.metrics);
        print(
          `  ${n.status.padEnd(11)} ${n.id} (${n.type}) ${n.seconds.toFixed(2)} s ${eps}${metric ? ` ${metric}` : ''}${n.error ? `: ${n.error}` : ''}`,
        );
        if (n.log) print(`              log: ${n.log}`);
      }
      print("`dpkd show NODE` prints a node's params, all its metrics, the ε of its lineage and its privacy gaps");
    });

  const cache = program.command('cache').description('Inspect, check and clean the content-addressed store');
  cache
    .command('ls')
    .description('List cached actions')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean }) => {
      const entries = await listCache(await openStoreOrFail(opts.store));
      if (opts.json) return json({ actions: entries });
      for (const e of entries)
        print(`${e.key.slice(0, 12)}  ${e.type.padEnd(12)} ${e.node.padEnd(24)} ${String(e.bytes).padStart(10)} B  ${e.at}  (${e.graph})`);
      print(`${entries.length} action(s)`);
    });
  cache
    .command('verify')
    .description(
      'Re-hash every object, find objects manifests name but the store lacks, and every result downstream of either; exit 1 if any',
    )
    .option('--store <dir>', 'store directory')
    .option('--repair', 'remove the affected manifests and the corrupt objects (the next run recomputes them)')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean; repair?: boolean }) => {
      const store = await openStoreOrFail(opts.store);
      const report = await changingStore('cache verify --repair', () => verifyCache(store, { repair: Boolean(opts.repair) }));
      if (opts.json) json(report);
      else {
        for (const c of report.corrupt)
          print(`corrupt ${c.digest} ${c.path}: ${c.reason}${c.usedBy.length ? ` (${c.usedBy.join(', ')})` : ''}`);
        for (const m of report.missing) print(`missing ${m.digest} ${m.path} (${m.usedBy.join(', ')})`);
        for (const a of report.affected) print(`affected ${a.key.slice(0, 12)} ${a.node} (${a.graph}): ${a.why}`);
        print(
          `${report.checked} object(s), ${report.bytes} bytes checked: ${report.corrupt.length} corrupt, ${report.missing.length} missing, ${report.affected.length} result(s) affected`,
        );
        if (report.repaired)
          print(
            `repaired: removed ${report.repaired.manifests.length} manifest(s) and ${report.repaired.objects.length} corrupt object(s); the next run recomputes them`,
          );
        else if (report.affected.length > 0) print('run `dpkd cache verify --repair` to remove them (the next run recomputes them)');
      }
      const damaged = report.corrupt.length + report.missing.length + report.affected.length > 0;
      if (damaged && !report.repaired) process.exitCode = ExitCode.failed;
    });
  cache
    .command('gc')
    .description('Remove what the latest run of each graph does not need')
    .option('--store <dir>', 'store directory')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; dryRun?: boolean; json?: boolean }) => {
      const store = await openStoreOrFail(opts.store);
      const result = await changingStore('cache gc', () => gcCache(store, { dryRun: Boolean(opts.dryRun) }));
      if (opts.json) return json(result);
      const verb = result.dryRun ? 'would remove' : 'removed';
      for (const o of result.removedObjects) print(`${verb} object ${o.digest} (${o.size} B)`);
      for (const m of result.removedManifests) print(`${verb} action ${m.key}`);
      for (const c of result.removedCheckpoints) print(`${verb} checkpoint ${c} (its action has committed)`);
      if (result.keptCheckpoints.length)
        print(`kept ${result.keptCheckpoints.length} checkpoint(s) of unfinished actions (a rerun resumes from them)`);
      print(
        `${verb} ${result.removedObjects.length} object(s), ${result.removedManifests.length} action(s), ${result.removedBytes} bytes; kept runs ${result.keptRuns.join(', ') || '(none)'}`,
      );
    });

  const ledger = program
    .command('ledger')
    .description('Every DP mechanism ever run, per dataset, with cumulative ε')
    .option('--store <dir>', 'store directory')
    .option('--accountant <name>', 'rdp | pld (default pld)')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean; accountant?: string }) => {
      const store = await openStoreOrFail(opts.store);
      // Never an ε from a ledger that does not check out: the damage, and how to see and fix it, instead.
      const check = await checkLedger(store);
      if (!check.ok) {
        throw new CliError(
          `the privacy ledger ${check.path} is damaged (${check.reason}); no ε is shown. \`dpkd ledger verify\` shows the damage, \`dpkd ledger rebuild\` rebuilds it from the DP manifests.`,
          ExitCode.failed,
        );
      }
      const report = await readLedger(store, parseAccountant(opts.accountant) ?? 'pld');
      const uncommitted = await uncommittedAttempts(store, report.records);
      if (opts.json)
        return json({
          entries: report.entries,
          units: report.units.map((u) => ({ ...u, uncommittedAttempts: uncommitted.get(u.unit) ?? 0 })),
          records: report.records,
        });
      if (report.entries === 0) return print('ledger is empty: no DP mechanism has run in this store');
      for (const u of report.units) {
        const open = uncommitted.get(u.unit) ?? 0;
        print(
          `${u.unit}: ε=${formatEps(u.epsilon)} at δ=${u.delta.toExponential(2)} (${u.accountant}), ${u.mechanisms} mechanism(s)${open ? `, of which ${open} charged attempt(s) have no result in the store (failed, interrupted, or removed since)` : ''}; nodes ${u.nodes.join(', ')}`,
        );
        for (const gap of u.gaps) print(`  gap (not covered by ε): ${gap}`);
      }
      const rebuilt = report.records.find((r) => r.rebuild);
      if (rebuilt?.rebuild)
        print(
          `(rebuilt by \`dpkd ledger rebuild\` at ${rebuilt.rebuild.at}${rebuilt.rebuild.damagedLedger ? `; the damaged ledger is kept at ${rebuilt.rebuild.damagedLedger}` : ''})`,
        );
    });
  ledger
    .command('verify')
    .description('Check the hash chain and recompute cumulative ε; exit 1 on any mismatch')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, command: Command) => {
      // The parent `ledger` defines --store and --json too, and commander gives them to it: read both levels.
      const store = await openStoreOrFail(optionOf<string>(command, 'store'));
      const check = await checkLedger(store);
      const report = await verifyLedger(store);
      if (optionOf<boolean>(command, 'json'))
        json({
          ...report,
          ok: report.ok && check.ok,
          intact: check.chain.intact,
          dpManifests: check.dpManifests,
          uncharged: check.uncharged,
        });
      else {
        print(
          report.chain.ok
            ? `chain ok: ${report.chain.entries} entries`
            : `chain BROKEN at entry ${report.chain.firstBadSeq}: ${report.chain.reason}`,
        );
        if (check.chain.intact) {
          for (const u of report.units)
            print(`${u.unit}: recorded ε=${formatEps(u.recorded)}, recomputed ε=${formatEps(u.recomputed)} ${u.ok ? 'ok' : 'MISMATCH'}`);
        }
        for (const u of check.uncharged)
          print(`UNCHARGED: the DP action ${u.key.slice(0, 12)} (${u.node}, graph ${u.graph}) has a manifest but no ledger entry`);
        print(`${check.dpManifests} DP manifest(s) in the store, ${check.uncharged.length} uncharged`);
        if (!check.ok || !report.ok) print('`dpkd ledger rebuild` rebuilds the ledger from the DP manifests (the damaged file is kept)');
      }
      if (!report.ok || !check.ok) process.exitCode = ExitCode.failed;
    });
  ledger
    .command('rebuild')
    .description('Rebuild a damaged or lost ledger from the DP manifests (each carries its events); the damaged file is kept')
    .option('--store <dir>', 'store directory')
    .option('--accountant <name>', 'accountant for the cumulative ε: rdp | pld (default pld)')
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, command: Command) => {
      const store = await openStoreOrFail(optionOf<string>(command, 'store'));
      const accountant = parseAccountant(optionOf<string>(command, 'accountant')) ?? 'pld';
      const result = await changingStore('ledger rebuild', () => rebuildLedger(store, { accountant }));
      if (optionOf<boolean>(command, 'json')) return json(result);
      if (result.keptAt) print(`the damaged ledger is kept at ${result.keptAt}`);
      print(
        `charged ${result.rebuilt} DP manifest(s) and ${result.salvaged} uncommitted attempt(s) read from the damaged ledger; ${result.alreadyCharged} were already charged`,
      );
      const check = await checkLedger(store);
      print(check.ok ? 'the ledger checks out' : `the ledger still does not check out: ${check.reason}`);
      if (!check.ok) process.exitCode = ExitCode.failed;
    });

  program
    .command('exec')
    .description('Run one planned action from the store (what `run` spawns for heavy nodes; later, remote workers)')
    .argument('<key>', 'action key')
    .option('--store <dir>', 'store directory')
    .action(async (key: string, opts: { store?: string }) => {
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
        if (controller.signal.aborted)
          throw new CliError(`action ${key.slice(0, 12)} interrupted; nothing committed`, ExitCode.interrupted);
        // The failure by its fields, for the run that spawned this worker (a node's own input check keeps its pointer).
        const failure = failureInfo(error);
        process.stdout.write(`${JSON.stringify({ type: 'failed', failure })}\n`);
        throw new CliError(failure.message, failure.invalidInput ? ExitCode.invalidInput : ExitCode.failed);
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });
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
