// `dpkd status | cache ls|verify|gc | ledger [verify|rebuild]`: the engine's commands over the store (nothing
// runs, so no node registry and no model backend). Loaded when one of them runs (commands/engine.ts registers
// them); its helpers serve actions/run.ts too.
import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  checkLedger,
  formatEps,
  gcCache,
  latestRunRecord,
  listCache,
  nodeLogPath,
  openStore,
  readLedger,
  rebuildLedger,
  resolveStoreDir,
  uncommittedAttempts,
  verifyCache,
  verifyLedger,
  type AccountantName,
} from '@dpkd/engine';
import { StoreOpenError, type Store } from '@dpkd/store';
import { CliError, ExitCode } from '../cli-error';
import { headlineMetric } from './show';

export const parseAccountant = (v: string | undefined): AccountantName | undefined => {
  if (v === undefined || v === 'rdp' || v === 'pld') return v;
  throw new CliError(`--accountant must be rdp or pld, got "${v}"`);
};
export const print = (text: string) => void process.stdout.write(`${text}\n`);

/** Opens the store of `--store` / DPKD_STORE / .dpkd; a path that is a file or cannot be created is a one-line error. */
export async function openStoreOrFail(flag: string | undefined): Promise<Store> {
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
export const json = (value: unknown) => print(JSON.stringify(value, (_k, v) => (v === Infinity ? null : v)));

/** A subcommand's option that its parent command also defines (`ledger --json verify` and `ledger verify --json`). */
const optionOf = <T>(command: Command, name: string): T | undefined =>
  (command.opts() as Record<string, T | undefined>)[name] ?? (command.parent?.opts() as Record<string, T | undefined> | undefined)?.[name];

/**
 * The latest progress line a running node wrote to its log (`step s/total loss … tokens, tok/s, ETA, val ppl`),
 * from the log's tail: hours of training make long logs, and the progress is at the end.
 */
async function latestProgress(path: string): Promise<string | undefined> {
  let tail: string;
  try {
    const file = await open(path);
    try {
      const { size } = await file.stat();
      const length = Math.min(size, 16 * 1024);
      const buffer = Buffer.alloc(length);
      await file.read(buffer, 0, length, size - length);
      tail = buffer.toString('utf8');
    } finally {
      await file.close();
    }
  } catch {
    return undefined; // no log yet: the node has not written any
  }
  return tail
    .split('\n')
    .filter((line) => /^step \d+\/\d+ /.test(line))
    .at(-1);
}

export async function statusCommand(opts: { store?: string; json?: boolean }): Promise<void> {
  const store = await openStoreOrFail(opts.store);
  const record = await latestRunRecord(store);
  if (!record) throw new CliError('no run yet in this store (run `dpkd run GRAPH` first)', ExitCode.failed);
  if (opts.json) return json(record);
  print(`run ${record.id}: ${record.graph.name} ${record.status} (${record.seconds?.toFixed(2) ?? '?'} s, started ${record.startedAt})`);
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
    if (n.status === 'running') {
      const progress = await latestProgress(nodeLogPath(store, n.key));
      if (progress) print(`              progress: ${progress}`);
    }
  }
  print("`dpkd show NODE` prints a node's params, all its metrics, the ε of its lineage and its privacy gaps");
}

export async function cacheLsCommand(opts: { store?: string; json?: boolean }): Promise<void> {
  const entries = await listCache(await openStoreOrFail(opts.store));
  if (opts.json) return json({ actions: entries });
  for (const e of entries)
    print(`${e.key.slice(0, 12)}  ${e.type.padEnd(12)} ${e.node.padEnd(24)} ${String(e.bytes).padStart(10)} B  ${e.at}  (${e.graph})`);
  print(`${entries.length} action(s)`);
}

export async function cacheVerifyCommand(opts: { store?: string; json?: boolean; repair?: boolean }): Promise<void> {
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
}

export async function cacheGcCommand(opts: { store?: string; dryRun?: boolean; json?: boolean }): Promise<void> {
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
}

export async function ledgerCommand(opts: { store?: string; json?: boolean; accountant?: string }): Promise<void> {
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
}

export async function ledgerVerifyCommand(command: Command): Promise<void> {
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
}

export async function ledgerRebuildCommand(command: Command): Promise<void> {
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
}
