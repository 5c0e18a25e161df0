// `dpkd report <graph|run-id>`: the result tables of a graph's Report nodes, from the cache. Registered by
// commands/report.ts, loaded when it runs.
import { existsSync } from 'node:fs';
import { openStore, resolveStoreDir } from '@dpkd/engine';
import { formatDiagnostic } from '@dpkd/graph';
import { renderTable, type TableFormat } from '@dpkd/report';
import { CliError, ExitCode } from '../cli-error';
import { graphTables, runTables, type NodeTable } from '../report-tables';

export async function reportCommand(target: string, opts: { format: TableFormat; node?: string; store?: string }): Promise<void> {
  const store = await openStore(resolveStoreDir(opts.store));
  let tables: NodeTable[];
  if (existsSync(target)) {
    // The key environment (tfjs backend, tokenizer) only for a graph file: a run id's tables need neither.
    const { loadGraph } = await import('../registry');
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
      throw new CliError(`${target} is neither a graph file nor a run id in ${store.root} (see \`dpkd status\`)`, ExitCode.invalidInput);
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
}
