// `dpkd validate | plan | graph`: the graph language's commands (no execution). Registration only: the
// actions are in actions/graph.ts, loaded when one runs (it brings the key environment's tfjs backend).
import { type Command, Option } from 'commander';

const actions = () => import('../actions/graph');

export function register(program: Command): void {
  program
    .command('validate')
    .description('Check graph files against the schemas and the semantic rules (references, port kinds, cycles, sweeps)')
    .argument('<file...>', 'graph JSON files')
    .addHelpText('after', '\nExit code 0 when every file is valid, 2 when any is not. Errors print as file:line:col: pointer: message.')
    .action(async (files: string[]) => (await actions()).validateCommand(files));

  program
    .command('plan')
    .description(
      "Print the expanded DAG in topological order: each node's type, dependencies, action key, cache status (and why it misses), and the privacy cost per dataset; exit 3 if a budget would be exceeded",
    )
    .argument('<file>', 'graph JSON file')
    .option(
      '--json',
      'print one JSON object: {"graph", "sweepPoints", "nodes": [{"id", "type", "deps", "key", "status", "why"}], "privacy"}',
    )
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .action(async (file: string, options: { json?: boolean; store?: string }) => (await actions()).planCommand(file, options));

  program
    .command('graph')
    .description('Render the expanded DAG as a Mermaid flowchart or a Graphviz DOT digraph')
    .argument('<file>', 'graph JSON file')
    .addOption(new Option('--format <format>', 'output format').choices(['mermaid', 'dot']).default('mermaid'))
    .addHelpText('after', '\nExample: dpkd graph graphs/distildp-imdb.json --format dot | dot -Tsvg > dag.svg')
    .action(async (file: string, options: { format: 'mermaid' | 'dot' }) => (await actions()).graphCommand(file, options));
}
