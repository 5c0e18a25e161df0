// `dpkd report <graph|run-id>`: the result tables of a graph's Report nodes, from the cache.
import { existsSync } from 'node:fs';
import { openStore, resolveStoreDir } from '@dpkd/engine';
import { formatDiagnostic } from '@dpkd/graph';
import { renderTable, tableFormats, type TableFormat } from '@dpkd/report';
import { type Command, Option } from 'commander';
import { CliError, ExitCode } from '../cli-error';
import { loadGraph } from '../registry';
import { graphTables, runTables, type NodeTable } from '../report-tables';

export function register(program: Command): void {
  program
    .command('report')
    .description("Print the result tables of a graph's Report nodes (or of one run) from the store, without recomputing")
    .argument('<graph-or-run>', 'a graph JSON file, or a run id (see `dpkd status`)')
    .addOption(new Option('--format <format>', 'output format').choices([...tableFormats]).default('md'))
    .option('--node <id>', 'only this Report node')
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .addHelpText('after', '\nExample: dpkd report graphs/quickstart.json --format tex > table.tex')
    .action(async (target: string, opts: { format: TableFormat; node?: string; store?: string }) => {
      const store = await openStore(resolveStoreDir(opts.store));
      let tables: NodeTable[];
      if (existsSync(target)) {
        const loaded = await loadGraph(target);
        if (!loaded.graph) throw new CliError(loaded.diagnostics.map(formatDiagnostic).join('\n'), ExitCode.invalidInput);
        const found = await graphTables(store, loaded.graph);
        if (found.tables.length === 0) {
          const why = found.missing.length ? `Report node(s) ${found.missing.join(', ')} have not run` : 'the graph has no Report node';
          throw new CliError(`no result table for ${target}: ${why}; run \`dpkd run ${target}\` first`, ExitCode.failed);
        }
        tables = found.tables;
      } else {
        const found = await runTables(store, target);
        if (!found)
          throw new CliError(
            `${target} is neither a graph file nor a run id in ${store.root} (see \`dpkd status\`)`,
            ExitCode.invalidInput,
          );
        tables = found;
      }
      if (opts.node) {
        tables = tables.filter((t) => t.node === opts.node);
        if (tables.length === 0) throw new CliError(`no Report node \`${opts.node}\` with a result`, ExitCode.invalidInput);
      }
      if (opts.format === 'json' || opts.format === 'svg') {
        // One document per invocation: JSON and SVG cannot be concatenated, so take the first table (or --node).
        process.stdout.write(renderTable(tables[0]!.table, opts.format));
      } else {
        process.stdout.write(tables.map((t) => renderTable(t.table, opts.format)).join('\n'));
      }
    });
}
