// `dpkd run | status | cache ls|verify|gc | ledger [verify|rebuild] | exec`: the engine's commands. Registration
// only: `run` and `exec` are in actions/run.ts (node registry, model backend), the store commands in
// actions/store.ts, each loaded when its command runs.
import type { Command } from 'commander';
import type { RunOptions } from '../actions/run';

const run = () => import('../actions/run');
const store = () => import('../actions/store');

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
    .action(async (file: string, opts: RunOptions) => (await run()).runCommand(file, opts));

  program
    .command('status')
    .description('Show the latest run: status, timings and failures')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print the run record')
    .action(async (opts: { store?: string; json?: boolean }) => (await store()).statusCommand(opts));

  const cache = program.command('cache').description('Inspect, check and clean the content-addressed store');
  cache
    .command('ls')
    .description('List cached actions')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean }) => (await store()).cacheLsCommand(opts));
  cache
    .command('verify')
    .description(
      'Re-hash every object, find objects manifests name but the store lacks, and every result downstream of either; exit 1 if any',
    )
    .option('--store <dir>', 'store directory')
    .option('--repair', 'remove the affected manifests and the corrupt objects (the next run recomputes them)')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean; repair?: boolean }) => (await store()).cacheVerifyCommand(opts));
  cache
    .command('gc')
    .description('Remove what the latest run of each graph does not need')
    .option('--store <dir>', 'store directory')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; dryRun?: boolean; json?: boolean }) => (await store()).cacheGcCommand(opts));

  const ledger = program
    .command('ledger')
    .description('Every DP mechanism ever run, per dataset, with cumulative ε')
    .option('--store <dir>', 'store directory')
    .option('--accountant <name>', 'rdp | pld (default pld)')
    .option('--json', 'print JSON')
    .action(async (opts: { store?: string; json?: boolean; accountant?: string }) => (await store()).ledgerCommand(opts));
  ledger
    .command('verify')
    .description('Check the hash chain and recompute cumulative ε; exit 1 on any mismatch')
    .option('--store <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, command: Command) => (await store()).ledgerVerifyCommand(command));
  ledger
    .command('rebuild')
    .description('Rebuild a damaged or lost ledger from the DP manifests (each carries its events); the damaged file is kept')
    .option('--store <dir>', 'store directory')
    .option('--accountant <name>', 'accountant for the cumulative ε: rdp | pld (default pld)')
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, command: Command) => (await store()).ledgerRebuildCommand(command));

  program
    .command('exec')
    .description('Run one planned action from the store (what `run` spawns for heavy nodes; later, remote workers)')
    .argument('<key>', 'action key')
    .option('--store <dir>', 'store directory')
    .action(async (key: string, opts: { store?: string }) => (await run()).execCommand(key, opts));
}
