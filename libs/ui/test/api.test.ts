// The dashboard's API: pure functions over a store made by a real tiny run (global-setup.ts), compared with
// what the CLI prints for the same store (`dpkd status|show|ledger|plan --json`), and the HTTP server of the
// real `dpkd ui` process: read-only, loopback-only, live, and no private document text in any answer.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { listRunRecords, openStore, writeRunRecord, type ActionManifest, type RunRecord } from '@dpkd/engine';
import type { Store } from '@dpkd/store';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { nodeDetail } from '../src/api/node';
import { privacyView } from '../src/api/privacy';
import { resultTables } from '../src/api/results';
import { listRuns, runDag } from '../src/api/runs';
import { dpkdJson, dpkdRun, fixture, startUiProcess, type UiProcess } from './ui-process';
import { leaks, privateTexts } from './private-texts';

const storeDir = inject('store');
let store: Store;
let record: RunRecord;
interface LedgerJson {
  units: Array<{ unit: string; epsilon: number; delta: number }>;
  records: Array<{ seq: number; key: string; node: string; cumulative: { epsilon: number | null } }>;
}
/** `dpkd ledger --json` of the store: what the Privacy and Results answers are compared with. */
let ledger: LedgerJson;

beforeAll(async () => {
  store = await openStore(storeDir);
  record = (await listRunRecords(store))[0]!;
  ledger = dpkdJson<LedgerJson>(['ledger', '--store', storeDir]);
});

describe('API functions over a real store', () => {
  test('runs: the one run, every node ran, with its counts', async () => {
    const runs = await listRuns(store);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: record.id, status: 'succeeded', graph: { name: 'tiny-ui' }, counts: { ran: 14 }, failures: [] });
  });

  test('the DAG of a run: edges from the store, sweep axes, statuses', async () => {
    const dag = await runDag(store, record);
    const byId = new Map(dag.nodes.map((n) => [n.id, n]));
    expect(dag.nodes).toHaveLength(14);
    expect(byId.get('teacher')!.deps.sort()).toEqual(['imdb', 't0']);
    expect(byId.get('pplDpsgd[epsilon=2]')!.deps.sort()).toEqual(['dpsgd[epsilon=2]', 'imdb']);
    expect(byId.get('table[epsilon=1]')!.deps.sort()).toEqual(['pplDpsgd[epsilon=1]', 'pplT0', 'pplTeacher']);
    expect(dag.sweep).toEqual({ epsilon: [1, 2] });
    expect(byId.get('dpsgd[epsilon=1]')!.axes).toEqual([{ epsilon: 1 }]);
    expect(new Set(dag.nodes.map((n) => n.status))).toEqual(new Set(['ran']));
  });

  test("a node's detail states the ε, metrics and params `dpkd show` states, and why it ran", async () => {
    for (const id of ['teacher', 'pplDpsgd[epsilon=2]']) {
      const node = record.nodes.find((n) => n.id === id)!;
      const detail = await nodeDetail(store, node, record.privacy.accountant);
      const shown = dpkdJson<{ key: string; params: unknown; metrics: unknown; privacy: { epsilon: number; delta: number } }>([
        'show',
        id,
        '--store',
        storeDir,
      ]);
      expect(detail.key).toBe(shown.key);
      expect(detail.params).toEqual(shown.params);
      expect(detail.metrics).toEqual(shown.metrics);
      expect(detail.privacy!.epsilon).toBe(shown.privacy.epsilon);
      expect(detail.privacy!.delta).toBe(shown.privacy.delta);
      expect(detail.log!.tail.length).toBeGreaterThan(0);
      expect(detail.why).toEqual(['never run before']);
    }
    const syn = await nodeDetail(
      store,
      record.nodes.find((n) => n.id === 'syn')!,
      'pld',
    );
    // Sample's lineage: the teacher's DP-SGD and its own noisy histogram.
    expect(
      syn
        .lineage!.filter((l) => l.mechanism)
        .map((l) => l.node)
        .sort(),
    ).toEqual(['syn', 'teacher']);
  });

  test('privacy: per unit, the ledger entries and total ε of `dpkd ledger`, the budget of the run', async () => {
    const view = await privacyView(store, { runs: [record], plans: [] });
    expect(view.units.map((u) => u.unit)).toEqual(['imdb']);
    const imdb = view.units[0]!;
    expect(imdb.epsilon).toBe(ledger.units[0].epsilon);
    expect(imdb.delta).toBe(ledger.units[0].delta);
    expect(imdb.entries).toHaveLength(ledger.records.length);
    expect(imdb.entries.map((e) => e.epsilon)).toEqual(ledger.records.map((r) => r.cumulative.epsilon));
    expect(
      imdb.entries
        .filter((e) => e.mechanism)
        .map((e) => e.node)
        .sort(),
    ).toEqual(['dpsgd[epsilon=1]', 'dpsgd[epsilon=2]', 'syn', 'teacher']);
    expect(imdb.budget).toMatchObject({ epsilon: 8, run: record.id });
    expect(imdb.gaps.some((g) => /evaluation on the private test split/.test(g))).toBe(true);
  });

  test('results: each table row links to its metrics node, the DP actions of its lineage and their ledger entries', async () => {
    const tables = await resultTables(store);
    expect(tables.map((t) => t.node).sort()).toEqual(['table[epsilon=1]', 'table[epsilon=2]']);
    const t2 = tables.find((t) => t.node === 'table[epsilon=2]')!;
    expect(t2.table!.rows.map((r) => r.method)).toEqual(['Pretrained teacher (zero-shot)', 'DP control-code teacher', 'DP-SGD student']);
    expect(t2.rows.map((r) => r.metrics!.id)).toEqual(['pplT0', 'pplTeacher', 'pplDpsgd[epsilon=2]']);
    const records = ledger.records;
    const teacherKey = record.nodes.find((n) => n.id === 'teacher')!.key;
    const student = t2.rows[2]!;
    expect(student.actions.filter((a) => a.mechanism).map((a) => a.node)).toEqual(['dpsgd[epsilon=2]']);
    const dpsgdKey = record.nodes.find((n) => n.id === 'dpsgd[epsilon=2]')!.key;
    const seqOf = (key: string) => records.filter((e) => e.key === key).map((e) => e.seq);
    expect(student.ledger).toEqual(expect.arrayContaining(seqOf(dpsgdKey)));
    expect(t2.rows[1]!.ledger).toEqual(expect.arrayContaining(seqOf(teacherKey)));
    expect(t2.rows[0]!.actions.filter((a) => a.mechanism)).toEqual([]);
    // ε of each row is the lineage ε of its metrics node (the Report's rule).
    const manifest = (await store.getManifest<ActionManifest>(t2.rows[2]!.metrics!.key))!;
    expect(manifest.provenance.node).toBe('pplDpsgd[epsilon=2]');
  });
});

describe('the `dpkd ui` server', () => {
  let ui: UiProcess;
  let liveStore: string;
  /** The fixture with one more sweep point: its plan has one DP-SGD student still to run. */
  let wider: string;
  beforeAll(async () => {
    // A copy: the live test writes a run record into it.
    liveStore = join(inject('scratch'), 'api-live-store');
    cpSync(storeDir, liveStore, { recursive: true });
    const graph = JSON.parse(readFileSync(fixture, 'utf8'));
    delete graph.$schema;
    graph.sweep.grid.epsilon = [1, 2, 4];
    wider = join(inject('scratch'), 'tiny-ui-wider.json');
    writeFileSync(wider, JSON.stringify(graph));
    ui = await startUiProcess([fixture, wider, '--store', liveStore]);
  });
  afterAll(async () => {
    expect(await ui.stop()).toBe(0);
  });

  test('binds loopback and answers only GET: a POST is refused, a foreign Host header too', async () => {
    expect(new URL(ui.url).hostname).toBe('127.0.0.1');
    const post = await fetch(`${ui.url}api/runs`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(await post.text()).toMatch(/read-only/);
    // fetch cannot set Host (a forbidden header): what a DNS-rebinding page would send, through node:http.
    const foreign = await new Promise<number>((resolve, reject) => {
      const { port } = new URL(ui.url);
      get({ host: '127.0.0.1', port, path: '/api/runs', headers: { host: 'attacker.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(foreign).toBe(403);
    const index = await fetch(ui.url);
    expect(index.status).toBe(200);
    expect(await index.text()).toMatch(/<script type="module" src="\/app.js">/);
  });

  test('the plan of a graph file: everything cached after its run, and what a changed graph would add to the ledger', async () => {
    const graphs = (await (await fetch(`${ui.url}api/graphs`)).json()) as Array<{ id: number; file: string }>;
    expect(graphs.map((g) => g.file)).toEqual([fixture, wider]);
    const dag = (await (await fetch(`${ui.url}api/graphs/0`)).json()) as {
      nodes: Array<{ status: string }>;
      privacy: Record<string, { epsilon: number }>;
    };
    // After the run every node is cached, and the graph's released cost (its distinct mechanisms composed) is
    // what the ledger charged for them.
    expect(dag.nodes.map((n) => n.status)).toEqual(record.nodes.map(() => 'cached'));
    expect(dag.privacy.imdb!.epsilon).toBe(ledger.units[0].epsilon);
    type Planned = { file: string; toRun: Array<{ node: string; event: string }>; ledgerAfter: number; epsilon: number };
    const privacy = (await (await fetch(`${ui.url}api/privacy`)).json()) as { units: Array<{ planned: Planned[]; epsilon: number }> };
    const imdb = privacy.units[0]!;
    const [same, more] = imdb.planned;
    expect(same!.toRun).toEqual([]);
    expect(same!.ledgerAfter).toBe(imdb.epsilon);
    expect(same!.epsilon).toBe(dag.privacy.imdb!.epsilon);
    // The wider sweep would run (and charge) one more DP-SGD student: the ledger's ε grows, and so does the graph's.
    expect(more!.file).toBe(wider);
    expect(more!.toRun.map((t) => t.node)).toEqual(['dpsgd[epsilon=4]']);
    expect(more!.toRun[0]!.event).toMatch(/PoissonSampled\(q=/);
    expect(more!.ledgerAfter).toBeGreaterThan(imdb.epsilon);
    expect(more!.epsilon).toBeGreaterThan(same!.epsilon);
    const widerDag = (await (await fetch(`${ui.url}api/graphs/1`)).json()) as {
      nodes: Array<{ id: string; status: string; why?: string[] }>;
    };
    expect(
      widerDag.nodes
        .filter((n) => n.status === 'to-run')
        .map((n) => n.id)
        .sort(),
    ).toEqual(['dpsgd[epsilon=4]', 'pplDpsgd[epsilon=4]', 'table[epsilon=4]']);
    expect(widerDag.nodes.find((n) => n.id === 'dpsgd[epsilon=4]')!.why!.join(' ')).toMatch(/epsilon/);
  });

  test('no API answer carries document text of the private dataset', async () => {
    const secrets = privateTexts(storeDir);
    expect(secrets.length).toBeGreaterThan(40);
    const paths = [
      'api/runs',
      `api/runs/${record.id}`,
      'api/graphs',
      'api/graphs/0',
      'api/privacy',
      'api/results',
      ...record.nodes.map((n) => `api/run-node?run=${record.id}&id=${encodeURIComponent(n.id)}`),
      ...record.nodes.map((n) => `api/graph-node?graph=0&id=${encodeURIComponent(n.id)}`),
      ...record.nodes.filter((n) => n.type === 'Report').map((n) => `api/results/${n.key}/chart.svg`),
    ];
    for (const path of paths) {
      const response = await fetch(`${ui.url}${path}`);
      expect(response.status, path).toBe(200);
      const body = await response.text();
      for (const secret of secrets) expect(leaks(body, secret), `${path} contains private text "${secret}"`).toBe(false);
    }
  });

  test('live: a change to the run records is one `change` event on /api/live', async () => {
    const controller = new AbortController();
    const response = await fetch(`${ui.url}api/live`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const seen: string[] = [];
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(seen.join(''))) {
        const { value, done } = await reader.read();
        if (done) break;
        seen.push(Buffer.from(value).toString('utf8'));
      }
    };
    await readUntil(/event: hello/);
    const live = await openStore(liveStore);
    await writeRunRecord(live, {
      ...record,
      id: `${record.id}-live`,
      status: 'running',
      pid: process.pid,
      startedAt: new Date().toISOString(),
    });
    await readUntil(/event: change/);
    controller.abort();
    expect(seen.join('')).toMatch(/event: change/);
    const runs = (await (await fetch(`${ui.url}api/runs`)).json()) as Array<{ id: string; status: string }>;
    expect(runs[0]).toMatchObject({ id: `${record.id}-live`, status: 'running' });
  });
});

test('bad input is one line and exit 2: a missing graph file, a port out of range', () => {
  const missing = dpkdRun(['ui', 'no-such-graph.json', '--store', storeDir]);
  expect(missing).toEqual({ code: 2, stderr: 'dpkd: no-such-graph.json: no such graph file\n' });
  const port = dpkdRun(['ui', '--port', '70000', '--store', storeDir]);
  expect(port.code).toBe(2);
  expect(port.stderr).toMatch(/^dpkd: --port must be an integer from 0 to 65535/);
});

test('the fixture reads a private corpus (else the privacy test above would prove nothing)', () => {
  const graph = JSON.parse(readFileSync(fixture, 'utf8'));
  expect(graph.nodes.imdb.params.corpus).toBe('imdb');
});
