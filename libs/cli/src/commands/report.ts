// `dpkd report <graph|run-id>`: the result tables of a graph's Report nodes, from the cache. Registration only
// (@dpkd/report, for the formats, has no dependencies): the action is actions/report.ts, loaded when it runs.
import { tableFormats, type TableFormat } from '@dpkd/report';
import { type Command, Option } from 'commander';

export function register(program: Command): void {
  program
    .command('report')
    .description("Print the result tables of a graph's Report nodes (or of one run) from the store, without recomputing")
    .argument('<graph-or-run>', 'a graph JSON file, or a run id (see `dpkd status`)')
    .addOption(new Option('--format <format>', 'output format').choices([...tableFormats]).default('md'))
    .option('--node <id>', 'only this Report node')
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .addHelpText('after', '\nExample: dpkd report graphs/quickstart.json --format tex > table.tex')
    .action(async (target: string, opts: { format: TableFormat; node?: string; store?: string }) =>
      (await import('../actions/report')).reportCommand(target, opts),
    );
}
