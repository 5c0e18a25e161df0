// `dpkd ui`: a read-only local web server over a store. JSON API routes (pure reads of the store through the
// engine's functions, in api/) and the built front end (dist/ui/). Only GET and HEAD are answered; it binds
// to the loopback interface unless the caller names another host, and on loopback it answers only requests
// addressed to a loopback name (a web page elsewhere cannot reach it through DNS rebinding).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { listRunRecords, runsDir, LEDGER_LOG, type AccountantName } from '@dpkd/engine';
import { renderTable } from '@dpkd/report';
import type { Store } from '@dpkd/store';
import { graphDag, knownGraphFiles, memoPlanner, type GraphPlanner } from './api/graphs';
import { toJson } from './api/json';
import { nodeDetail } from './api/node';
import { privacyView, type KnownPlan } from './api/privacy';
import { resultTables, tableByKey } from './api/results';
import { findRun, listRuns, runDag } from './api/runs';

export interface UiOptions {
  store: Store;
  /** Plans a graph file as `dpkd plan` does. */
  planner: GraphPlanner;
  /** Graph files named on the command line (the runs' own files are added when they exist). */
  graphs?: string[];
  /** The directory of the built front end (index.html, app.js, style.css). */
  assetsDir: string;
  /** How often the live stream looks for a change in the store (ms). */
  pollMs?: number;
}

const json = (c: Context, value: unknown, status: 200 | 404 | 422 = 200) =>
  c.body(toJson(value), status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });

/** What changes when a run progresses or a mechanism is charged: the run records' and the ledger's sizes and times. */
async function storeSignature(store: Store): Promise<string> {
  const parts: string[] = [];
  try {
    for (const name of (await readdir(runsDir(store))).sort()) {
      const s = await stat(join(runsDir(store), name));
      parts.push(`${name}:${s.size}:${s.mtimeMs}`);
    }
  } catch {
    // no run yet
  }
  const ledger = await stat(join(store.root, 'logs', `${LEDGER_LOG}.jsonl`)).catch(() => undefined);
  parts.push(`ledger:${ledger?.size ?? 0}`);
  return parts.join('|');
}

export function createApp(options: UiOptions): Hono {
  const { store } = options;
  const planner = memoPlanner(
    options.planner,
    async (file) => `${(await stat(file).catch(() => undefined))?.mtimeMs}|${await storeSignature(store)}`,
  );
  const app = new Hono();

  app.use('*', async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD')
      return c.text('dpkd ui is read-only: only GET and HEAD are answered\n', 405, { allow: 'GET, HEAD' });
    await next();
    c.header('x-content-type-options', 'nosniff');
    c.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'");
  });

  const graphFiles = async () => knownGraphFiles(options.graphs ?? [], await listRunRecords(store));
  const plans = async (): Promise<KnownPlan[]> => {
    const out: KnownPlan[] = [];
    for (const { file } of await graphFiles()) {
      const planned = await planner(file).catch(() => undefined); // an invalid graph shows its error on the Graph page
      if (planned) out.push({ file, plan: planned.plan });
    }
    return out;
  };
  const accountantOf = async (runId?: string): Promise<AccountantName> => (await findRun(store, runId))?.privacy.accountant ?? 'pld';

  app.get('/api/runs', async (c) => json(c, await listRuns(store)));
  app.get('/api/runs/:id', async (c) => {
    const record = await findRun(store, c.req.param('id'));
    return record ? json(c, await runDag(store, record)) : json(c, { error: `no run ${c.req.param('id')} in ${store.root}` }, 404);
  });
  app.get('/api/run-node', async (c) => {
    const record = await findRun(store, c.req.query('run'));
    const node = record?.nodes.find((n) => n.id === c.req.query('id'));
    if (!record || !node) return json(c, { error: `no node ${c.req.query('id')} in run ${c.req.query('run')}` }, 404);
    return json(c, await nodeDetail(store, { ...node, ...(node.error ? { error: node.error } : {}) }, record.privacy.accountant));
  });
  app.get('/api/graphs', async (c) => json(c, await graphFiles()));
  app.get('/api/graphs/:id', async (c) => {
    const file = (await graphFiles()).find((g) => String(g.id) === c.req.param('id'))?.file;
    if (!file) return json(c, { error: `no graph ${c.req.param('id')}` }, 404);
    try {
      const { graph, plan } = await planner(file);
      return json(c, graphDag(file, graph, plan));
    } catch (error) {
      return json(c, { file, error: (error as Error).message }, 422);
    }
  });
  app.get('/api/graph-node', async (c) => {
    const file = (await graphFiles()).find((g) => String(g.id) === c.req.query('graph'))?.file;
    const planned = file ? await planner(file).catch(() => undefined) : undefined;
    const node = planned?.graph.nodes.find((n) => n.id === c.req.query('id'));
    const plannedNode = planned?.plan.nodes.find((n) => n.id === node?.id);
    if (!planned || !node || !plannedNode) return json(c, { error: `no node ${c.req.query('id')} in graph ${c.req.query('graph')}` }, 404);
    const dag = graphDag(file!, planned.graph, planned.plan).nodes.find((n) => n.id === node.id);
    return json(
      c,
      await nodeDetail(
        store,
        {
          id: node.id,
          type: node.type,
          key: node.key,
          status: plannedNode.status,
          params: node.params,
          ...(plannedNode.why ? { why: plannedNode.why } : {}),
          ...(dag?.epsilon ? { plannedEpsilon: dag.epsilon } : {}),
        },
        planned.plan.privacy.accountant,
      ),
    );
  });
  app.get('/api/privacy', async (c) => {
    const runs = await listRunRecords(store);
    return json(c, await privacyView(store, { runs, plans: await plans(), accountant: await accountantOf() }));
  });
  app.get('/api/results', async (c) => json(c, await resultTables(store)));
  app.get('/api/results/:key/chart.svg', async (c) => {
    const table = await tableByKey(store, c.req.param('key'));
    if (!table) return c.text('no such Report table\n', 404);
    return c.body(renderTable(table, 'svg'), 200, { 'content-type': 'image/svg+xml; charset=utf-8' });
  });

  // Live updates: one `change` event whenever a run record or the ledger changes; the page refetches what it shows.
  app.get('/api/live', (c) =>
    streamSSE(c, async (stream) => {
      let last = await storeSignature(store);
      await stream.writeSSE({ event: 'hello', data: last.length.toString() });
      while (!stream.aborted && !stream.closed) {
        await stream.sleep(options.pollMs ?? 1_000);
        const now = await storeSignature(store);
        if (now !== last) {
          last = now;
          await stream.writeSSE({ event: 'change', data: JSON.stringify({ at: new Date().toISOString() }) });
        }
      }
    }),
  );

  app.get('/api/*', (c) => json(c, { error: `no API route ${c.req.path}` }, 404));
  app.use('/*', serveStatic({ root: options.assetsDir }));
  app.get('*', serveStatic({ root: options.assetsDir, path: 'index.html' }));
  return app;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export interface RunningUi {
  url: string;
  server: ServerType;
  close(): Promise<void>;
}

/**
 * Starts the server on `host` (default 127.0.0.1) and `port` (0: any free port). On a loopback host, requests
 * whose Host header names another machine are refused (403).
 */
export function startUi(options: UiOptions & { port?: number; host?: string }): Promise<RunningUi> {
  const host = options.host ?? '127.0.0.1';
  const app = createApp(options);
  const guarded = new Hono();
  if (LOOPBACK.has(host)) {
    guarded.use('*', async (c, next) => {
      const name = (c.req.header('host') ?? '').replace(/:\d+$/, '');
      if (!LOOPBACK.has(name))
        return c.text(`dpkd ui on ${host} answers only requests to a loopback address, not to ${name || '(no Host)'}\n`, 403);
      await next();
    });
  }
  guarded.route('/', app);
  return new Promise((resolvePromise, reject) => {
    const server = serve({ fetch: guarded.fetch, port: options.port ?? 0, hostname: host }, (info) => {
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolvePromise({
        url: `http://${shown}:${info.port}/`,
        server,
        // Live streams stay open: end every connection, or close() would wait for the browsers to leave.
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
    server.once('error', reject);
  });
}
