// `dpkd ui`: the read-only local dashboard over the store (@dpkd/ui). The CLI hands it the planner `dpkd plan`
// uses (loadGraph with the key environment, planGraph with the node registry), so the Graph and Privacy pages
// state exactly what `plan` prints. Registered by commands/ui.ts; this module (and with it hono) is loaded when
// `dpkd ui` runs.
import { openStore, planGraph, resolveStoreDir } from '@dpkd/engine';
import { formatDiagnostic } from '@dpkd/graph';
import { defaultAssetsDir, startUi, type GraphPlanner } from '@dpkd/ui';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, ExitCode, userError } from '../cli-error';
import { loadGraph, modelShape, nodeRegistry, publicModelShape } from '../registry';

const parsePort = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new CliError(`--port must be an integer from 0 to 65535 (0: any free port), got "${v}"`);
  return n;
};

export async function uiCommand(graphs: string[], opts: { port: string; host?: string; store?: string }): Promise<void> {
  const port = parsePort(opts.port);
  for (const file of graphs) if (!existsSync(file)) throw new CliError(`${file}: no such graph file`, ExitCode.invalidInput);
  const store = await openStore(resolveStoreDir(opts.store));
  const registry = nodeRegistry();
  const planner: GraphPlanner = async (file) => {
    const loaded = await loadGraph(file);
    if (!loaded.graph) throw new Error(loaded.diagnostics.map(formatDiagnostic).join('\n'));
    const plan = await planGraph(loaded.graph, { store, registry, modelShape, publicModelShape }).catch((error: unknown) => {
      throw userError(error, file) ?? error;
    });
    return { graph: loaded.graph, plan };
  };
  const assetsDir = defaultAssetsDir(import.meta.url);
  if (!existsSync(join(assetsDir, 'index.html'))) {
    throw new CliError(
      `the dashboard's front end is not built (${assetsDir}/index.html is missing): run \`npm run build\``,
      ExitCode.failed,
    );
  }
  const ui = await startUi({ store, planner, graphs, assetsDir, port, ...(opts.host ? { host: opts.host } : {}) }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        throw new CliError(`port ${port} is in use: pick another with --port N (0: any free port)`, ExitCode.failed);
      throw error;
    },
  );
  process.stdout.write(
    `dpkd ui: ${ui.url} (store ${store.root}; read-only${opts.host ? `; bound to ${opts.host}` : ''}; Ctrl-C stops it)\n`,
  );
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void ui.close().then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
