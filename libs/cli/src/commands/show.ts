// `dpkd show NODE`: one node's result from the store. Registration only: the action (and the formatting of a
// result that `run` and `status` share) is actions/show.ts, loaded when it runs.
import type { Command } from 'commander';
import type { ShowOptions } from '../actions/show';

export function register(program: Command): void {
  program
    .command('show')
    .description("Show one node's result: params, metrics, the ε and δ of its output's lineage, privacy gaps and its log")
    .argument('<node>', 'node id (an expanded id like `student[epsilon=2]`, or a plain id when it is unique)')
    .option('--graph <file>', 'the node of this graph (default: of the latest run)')
    .option('--run <id>', 'the node of this run (see `dpkd status`)')
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExample: dpkd show ppl --graph graphs/examples/first.json')
    .action(async (id: string, opts: ShowOptions) => (await import('../actions/show')).showCommand(id, opts));
}
