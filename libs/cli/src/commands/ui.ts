// `dpkd ui`: the read-only local dashboard over the store (@dpkd/ui). Registration only: the action is
// actions/ui.ts, loaded when it runs (the web server, hono, is for this command only).
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('ui')
    .description('Serve a read-only web dashboard over the store (graph, privacy, results, runs) on 127.0.0.1')
    .argument('[graph...]', 'graph files to show planned (the files of recorded runs are shown too)')
    .option('--port <n>', 'port (0: any free port)', '4873')
    .option('--host <address>', 'bind this address instead of 127.0.0.1: anyone who can reach it sees the metrics, ε and logs of the store')
    .option('--store <dir>', 'store directory (default: $DPKD_STORE or .dpkd/)')
    .addHelpText('after', '\nExample: dpkd ui graphs/quickstart.json  (then open the printed address)')
    .action(async (graphs: string[], opts: { port: string; host?: string; store?: string }) =>
      (await import('../actions/ui')).uiCommand(graphs, opts),
    );
}
