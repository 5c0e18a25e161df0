// `dpkd run | status | cache ls|verify|gc | ledger [verify] | exec`: the engine's commands.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Cause, Effect, Exit, Fiber } from 'effect';
import { formatDiagnostic, loadGraphFile } from '@dpkd/graph';
import {
  BudgetExceeded,
  UnknownNodeType,
  engineLayer,
  formatEps,
  gcCache,
  latestRunRecord,
  listCache,
  openStore,
  readLedger,
  readSpec,
  resolveStoreDir,
  runActionLocked,
  runGraph,
  verifyCache,
  verifyLedger,
  type AccountantName,
  type ExecutorChoice,
  type RunSummary,
} from '@dpkd/engine';
import { CliError, ExitCode } from '../cli-error';
import { extraSignatures, nodeRegistry as registry } from '../registry';
import { graphTables } from '../report-tables';
import { renderTable } from '@dpkd/report';

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
const json = (value: unknown) => print(JSON.stringify(value, (_k, v) => (v === Infinity ? null : v)));

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
    .action(async (file: string, opts: { jobs?: string; store?: string; json?: boolean; events?: string; executor: string; accountant?: string }) => {
      const jobs = opts.jobs ? parseJobs(opts.jobs) : (await import('node:os')).availableParallelism();
      if (!['auto', 'in-process', 'worker'].includes(opts.executor)) throw new CliError(`--executor must be auto, in-process or worker, got "${opts.executor}"`);
      const accountant = parseAccountant(opts.accountant);
      const loaded = await loadGraphFile(file, { extraSignatures: extraSignatures() });
      if (!loaded.graph) throw new CliError(loaded.diagnostics.map(formatDiagnostic).join('\n'), ExitCode.invalidInput);
      const store = await openStore(resolveStoreDir(opts.store));
      const layer = engineLayer({
        store,
        registry: registry(),
        executor: opts.executor as ExecutorChoice,
        worker: { script: resolve(process.argv[1]!) },
        progress: { ...(opts.events ? { eventsFile: resolve(opts.events) } : {}) },
      });
      const fiber = Effect.runFork(
        runGraph(loaded.graph, { jobs, graphFile: resolve(file), ...(accountant ? { accountant } : {}) }).pipe(Effect.provide(layer)),
      );
      let interrupted = false;
      const onSignal = () => {
        if (interrupted) return;
        interrupted = true;
        process.stderr.write('\ninterrupting: stopping workers and removing temp files...\n');
        Effect.runFork(Fiber.interrupt(fiber));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const exit = await Effect.runPromise(Fiber.await(fiber));
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (Exit.isSuccess(exit)) {
        finishRun(exit.value, Boolean(opts.json));
        // The graph's result tables, from the store (a Report that did not run is simply absent).
        if (!opts.json) for (const t of (await graphTables(store, loaded.graph)).tables) print(`\n${renderTable(t.table, 'md')}`);
        return;
      }
      if (Cause.isInterruptedOnly(exit.cause)) throw new CliError('interrupted; finished nodes are cached, rerun to continue', ExitCode.interrupted);
      const error = Cause.squash(exit.cause);
      if (error instanceof BudgetExceeded) {
        throw new CliError(`privacy budget exceeded, nothing ran: ${error.message}`, ExitCode.budgetExceeded);
      }
      if (error instanceof UnknownNodeType) throw new CliError(error.message, ExitCode.invalidInput);
      throw new CliError(error instanceof Error ? error.message : String(error), ExitCode.failed);
    });

  program
    .command('status')
    .description('Show the latest run: status, timings and failures')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print the run record')
    .action(async (opts: { store?: string; json?: boolean }) => {
      const record = await latestRunRecord(await openStore(resolveStoreDir(opts.store)));
      if (!record) throw new CliError('no run yet in this store (run `dpkd run GRAPH` first)', ExitCode.failed);
      if (opts.json) return json(record);
      print(`run ${record.id}: ${record.graph.name} ${record.status} (${record.seconds?.toFixed(2) ?? '?'} s, started ${record.startedAt})`);
      for (const n of record.nodes) {
        const eps = Object.entries(n.epsilon ?? {}).map(([u, e]) => `ε(${u})=${formatEps(e ?? Infinity)}`).join(' ');
        print(`  ${n.status.padEnd(11)} ${n.id} (${n.type}) ${n.seconds.toFixed(2)} s ${eps}${n.error ? `: ${n.error}` : ''}${n.status === 'failed' && n.log ? ` [log: ${n.log}]` : ''}`);
      }
    });

  const cache = program.command('cache').description('Inspect, check and clean the content-addressed store');
  cache
    .command('ls')
    .description('List cached actions')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean }) => {
      const entries = await listCache(await openStore(resolveStoreDir(opts.store)));
      if (opts.json) return json({ actions: entries });
      for (const e of entries) print(`${e.key.slice(0, 12)}  ${e.type.padEnd(12)} ${e.node.padEnd(24)} ${String(e.bytes).padStart(10)} B  ${e.at}  (${e.graph})`);
      print(`${entries.length} action(s)`);
    });
  cache
    .command('verify')
    .description('Re-hash every object; exit 1 and name the corrupt ones if any')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean }) => {
      const report = await verifyCache(await openStore(resolveStoreDir(opts.store)));
      if (opts.json) json(report);
      else {
        for (const c of report.corrupt) print(`corrupt ${c.digest} ${c.path}: ${c.reason}${c.usedBy.length ? ` (output of ${c.usedBy.join(', ')})` : ''}`);
        print(`${report.checked} object(s), ${report.bytes} bytes checked, ${report.corrupt.length} corrupt`);
      }
      if (report.corrupt.length > 0) process.exitCode = ExitCode.failed;
    });
  cache
    .command('gc')
    .description('Remove what the latest run of each graph does not need')
    .option('--store <dir>', 'store directory')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; dryRun?: boolean; json?: boolean }) => {
      const result = await gcCache(await openStore(resolveStoreDir(opts.store)), { dryRun: Boolean(opts.dryRun) });
      if (opts.json) return json(result);
      const verb = result.dryRun ? 'would remove' : 'removed';
      for (const o of result.removedObjects) print(`${verb} object ${o.digest} (${o.size} B)`);
      for (const m of result.removedManifests) print(`${verb} action ${m.key}`);
      print(`${verb} ${result.removedObjects.length} object(s), ${result.removedManifests.length} action(s), ${result.removedBytes} bytes; kept runs ${result.keptRuns.join(', ') || '(none)'}`);
    });

  const ledger = program
    .command('ledger')
    .description('Every DP mechanism ever run, per dataset, with cumulative ε')
    .option('--store <dir>', 'store directory')
    .option('--accountant <name>', 'rdp | pld (default pld)')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean; accountant?: string }) => {
      const report = await readLedger(await openStore(resolveStoreDir(opts.store)), parseAccountant(opts.accountant) ?? 'pld');
      if (opts.json) return json({ entries: report.entries, units: report.units, records: report.records });
      if (report.entries === 0) return print('ledger is empty: no DP mechanism has run in this store');
      for (const u of report.units) {
        print(`${u.unit}: ε=${formatEps(u.epsilon)} at δ=${u.delta.toExponential(2)} (${u.accountant}), ${u.mechanisms} mechanism(s)${u.failedAttempts ? `, ${u.failedAttempts} failed attempt(s) charged` : ''}; nodes ${u.nodes.join(', ')}`);
      }
    });
  ledger
    .command('verify')
    .description('Check the hash chain and recompute cumulative ε; exit 1 on any mismatch')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean }, command: Command) => {
      const storeDir = opts.store ?? (command.parent?.opts() as { store?: string }).store;
      const report = await verifyLedger(await openStore(resolveStoreDir(storeDir)));
      if (opts.json) json(report);
      else {
        print(report.chain.ok ? `chain ok: ${report.chain.entries} entries` : `chain BROKEN at entry ${report.chain.firstBadSeq}: ${report.chain.reason}`);
        for (const u of report.units) print(`${u.unit}: recorded ε=${formatEps(u.recorded)}, recomputed ε=${formatEps(u.recomputed)} ${u.ok ? 'ok' : 'MISMATCH'}`);
      }
      if (!report.ok) process.exitCode = ExitCode.failed;
    });

  program
    .command('exec')
    .description('Run one planned action from the store (what `run` spawns for heavy nodes; later, remote workers)')
    .argument('<key>', 'action key')
    .option('--store <dir>', 'store directory')
    .action(async (key: string, opts: { store?: string }) => {
      const store = await openStore(resolveStoreDir(opts.store));
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
        });
        process.stdout.write(`${JSON.stringify({ type: 'done', cached: result.cached })}\n`);
      } catch (error) {
        if (controller.signal.aborted) throw new CliError(`action ${key.slice(0, 12)} interrupted; nothing committed`, ExitCode.interrupted);
        throw new CliError(error instanceof Error ? error.message : String(error), ExitCode.failed);
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });
}

function finishRun(summary: RunSummary, asJson: boolean): void {
  if (asJson) json({ run: summary.run, nodes: summary.nodes.map((n) => ({ id: n.id, status: n.status, seconds: n.seconds })), privacy: summary.privacy });
  const failed = summary.nodes.filter((n) => n.status === 'failed');
  const skipped = summary.nodes.filter((n) => n.status === 'skipped');
  const counts = ['ran', 'cached', 'failed', 'skipped'].map((s) => `${summary.nodes.filter((n) => n.status === s).length} ${s}`).join(', ');
  process.stderr.write(`run ${summary.run}: ${counts}\n`);
  for (const n of failed) process.stderr.write(`  failed ${n.id}: ${n.error ?? ''}${n.log ? ` (log: ${n.log})` : ''}\n`);
  if (skipped.length) process.stderr.write(`  skipped (upstream failed): ${skipped.map((n) => n.id).join(', ')}\n`);
  if (failed.length || skipped.length) process.exitCode = ExitCode.failed;
}
