// Process-level engine tests: the real `dpkd run` with the test-only node types (DPKD_TEST_NODES=1).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { processIdentity } from '@dpkd/store';
import { runCli, scratchDir, setupInProcess, workspaceRoot } from './run-cli';

const hostTagOf = () => createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

const bundle = join(workspaceRoot, 'dist/dpkd.js');
const env = { DPKD_TEST_NODES: '1' };

function setup(nodes: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const dir = scratchDir('dpkd-cli-engine-');
  const graph = join(dir, 'graph.json');
  writeFileSync(graph, JSON.stringify({ name: 'cli-test', ...extra, nodes }));
  return { dir, graph, store: join(dir, 'store'), counter: join(dir, 'count.txt') };
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

function start(args: string[]) {
  const child = spawn(process.execPath, [bundle, ...args], {
    cwd: workspaceRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) =>
    child.on('close', (code, signal) => r({ code, signal, stderr })),
  );
  return { child, exited };
}

async function waitFor(predicate: () => boolean, ms = 20_000) {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('dpkd run / status / cache / ledger', () => {
  test('run --json reports every node; a rerun is all cached; a failure exits 1 naming the log', () => {
    const { graph, store, counter } = setup({
      a: { type: 'Count', params: { file: 'COUNTER' } },
      bad: { type: 'Fail', params: { message: 'deliberate' } },
      after: { type: 'Count', inputs: { x: 'bad' }, params: { file: 'COUNTER' } },
    });
    writeFileSync(graph, readFileSync(graph, 'utf8').replaceAll('COUNTER', counter.replaceAll('\\', '/')));
    const first = runCli(['run', graph, '--store', store, '--json', '--jobs', '2'], { env });
    expect(first.code).toBe(1);
    const out = JSON.parse(first.stdout);
    expect(Object.fromEntries(out.nodes.map((n: { id: string; status: string }) => [n.id, n.status]))).toEqual({
      a: 'ran',
      bad: 'failed',
      after: 'skipped',
    });
    expect(first.stderr).toMatch(/failed bad: deliberate \(log: .*\.log\)/);
    const second = runCli(['run', graph, '--store', store, '--json'], { env });
    expect(JSON.parse(second.stdout).nodes.find((n: { id: string }) => n.id === 'a').status).toBe('cached');
    expect(lines(counter)).toHaveLength(1);
    const status = runCli(['status', '--store', store], { env });
    expect(status.stdout).toContain('failed      bad');
  });

  test('kill -9 of a run, then a rerun completes and reuses what finished', async () => {
    const { dir, graph, store, counter } = setup({});
    const hold = join(dir, 'hold');
    writeFileSync(hold, '');
    writeFileSync(
      graph,
      JSON.stringify({
        name: 'kill',
        nodes: {
          quick: { type: 'Count', params: { file: counter } },
          slow: { type: 'Count', inputs: { x: 'quick' }, params: { file: counter, holdWhile: hold } },
        },
      }),
    );
    const { child, exited } = start(['run', graph, '--store', store, '--jobs', '1', '--executor', 'in-process']);
    await waitFor(() => lines(counter).length >= 2); // quick committed, slow running (held)
    child.kill('SIGKILL');
    await exited;
    unlinkSync(hold);
    const rerun = runCli(['run', graph, '--store', store, '--json', '--executor', 'in-process'], { env });
    expect(rerun.code).toBe(0);
    const statuses = Object.fromEntries(JSON.parse(rerun.stdout).nodes.map((n: { id: string; status: string }) => [n.id, n.status]));
    expect(statuses).toEqual({ quick: 'cached', slow: 'ran' });
    expect(lines(counter).filter((l) => l.startsWith('quick '))).toHaveLength(1);
    expect(readdirSync(join(store, 'tmp')).filter((n) => n.startsWith('scratch'))).toEqual([]);
  });

  test('two concurrent runs on one store produce one set of artifacts', async () => {
    const { graph, store, counter } = setup({});
    writeFileSync(
      graph,
      JSON.stringify({
        name: 'concurrent',
        nodes: {
          a: { type: 'Count', params: { file: counter, seconds: 0.5 } },
          b: { type: 'Count', inputs: { x: 'a' }, params: { file: counter, seconds: 0.2 } },
        },
      }),
    );
    const one = start(['run', graph, '--store', store, '--executor', 'in-process']);
    const two = start(['run', graph, '--store', store, '--executor', 'in-process']);
    const [r1, r2] = await Promise.all([one.exited, two.exited]);
    expect([r1.code, r2.code]).toEqual([0, 0]);
    expect(
      lines(counter)
        .map((l) => l.split(' ')[0])
        .sort(),
    ).toEqual(['a', 'b']);
    const ls = JSON.parse(runCli(['cache', 'ls', '--store', store, '--json']).stdout);
    expect(ls.actions).toHaveLength(2);
  });

  test('Ctrl-C stops a worker, commits nothing, charges the started DP attempt and exits 130', async () => {
    const { graph, store, counter } = setup({});
    writeFileSync(
      graph,
      JSON.stringify({
        name: 'sigint',
        nodes: {
          imdb: { type: 'FakeDataset', params: { unit: 'imdb', n: 100 } },
          teacher: { type: 'EmitDpEvent', inputs: { data: 'imdb' }, params: { sigma: 1, q: 0.1, steps: 10, seconds: 30, count: counter } },
        },
      }),
    );
    const { child, exited } = start(['run', graph, '--store', store]);
    await waitFor(() => lines(counter).length >= 1); // the worker has started the DP node
    child.kill('SIGINT');
    const result = await exited;
    expect(result.code).toBe(130);
    const keys = JSON.parse(runCli(['cache', 'ls', '--store', store, '--json']).stdout).actions.map((a: { node: string }) => a.node);
    expect(keys).toEqual(['imdb']);
    expect(readdirSync(join(store, 'tmp')).filter((n) => n.startsWith('scratch'))).toEqual([]);
    const ledger = JSON.parse(runCli(['ledger', '--store', store, '--json']).stdout);
    expect(ledger.records.map((r: { node: string; outcome: string }) => [r.node, r.outcome])).toEqual([['teacher', 'started']]); // charged before it trained
    expect(lines(counter)[0]).toMatch(/ charged=true$/);
    expect(ledger.units[0].uncommittedAttempts).toBe(1);
    expect(JSON.parse(runCli(['status', '--store', store, '--json']).stdout).status).toBe('interrupted');
  });

  test('cache verify exits 1 naming a corrupted object; ledger verify checks the chain', async () => {
    const { graph, store } = setup({
      imdb: { type: 'FakeDataset', params: { unit: 'imdb', n: 100 } },
      teacher: { type: 'EmitDpEvent', inputs: { data: 'imdb' }, params: { sigma: 1, q: 0.1, steps: 10 } },
    });
    expect((await setupInProcess(['run', graph, '--store', store, '--executor', 'in-process'], env)).code).toBe(0);
    expect(runCli(['ledger', 'verify', '--store', store]).code).toBe(0);
    expect(runCli(['cache', 'verify', '--store', store]).code).toBe(0);
    const ls = JSON.parse((await setupInProcess(['cache', 'ls', '--store', store, '--json'])).stdout);
    const digest = ls.actions.find((a: { node: string }) => a.node === 'teacher').outputs.model as string;
    const path = join(store, 'objects', digest.slice(0, 2), digest.slice(2));
    chmodSync(path, 0o644);
    writeFileSync(path, 'corrupted');
    const verify = runCli(['cache', 'verify', '--store', store]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(digest);
  });

  test('a damaged ledger: run refuses before any DP node starts (exit 1), ledger prints no ε, rebuild restores it', async () => {
    const { graph, store, counter } = setup({});
    const write = (seed: number) =>
      writeFileSync(
        graph,
        JSON.stringify({
          name: 'ledger-damage',
          seed,
          nodes: {
            imdb: { type: 'FakeDataset', params: { unit: 'imdb', n: 100 } },
            teacher: { type: 'EmitDpEvent', inputs: { data: 'imdb' }, params: { sigma: 1, q: 0.1, steps: 10, count: counter } },
          },
        }),
      );
    write(1);
    expect((await setupInProcess(['run', graph, '--store', store, '--executor', 'in-process'], env)).code).toBe(0);
    writeFileSync(join(store, 'logs/privacy-ledger.jsonl'), 'garbage\n', { flag: 'a' });

    write(2);
    const refused = runCli(['run', graph, '--store', store, '--executor', 'in-process'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('privacy ledger');
    expect(refused.stderr).toContain('`dpkd ledger verify`');
    expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(lines(counter)).toHaveLength(1); // the second DP node never started

    const shown = runCli(['ledger', '--store', store]);
    expect(shown.code).toBe(1);
    expect(shown.stdout).not.toContain('ε=');
    expect(shown.stderr).toContain('line 2 is not JSON');
    expect(runCli(['ledger', 'verify', '--store', store]).code).toBe(1);

    const rebuilt = runCli(['ledger', 'rebuild', '--store', store]);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toContain('the ledger checks out');
    expect(readdirSync(join(store, 'logs')).some((n) => n.startsWith('privacy-ledger.jsonl.damaged-'))).toBe(true);
    expect(runCli(['ledger', 'verify', '--store', store]).code).toBe(0);
    expect(runCli(['run', graph, '--store', store, '--executor', 'in-process'], { env }).code).toBe(0);
    for (const line of lines(counter)) expect(line).toMatch(/ charged=true$/);
    const ledger = JSON.parse(runCli(['ledger', '--store', store, '--json']).stdout);
    expect(ledger.records.map((r: { outcome: string }) => r.outcome)).toEqual(['rebuilt', 'started']);
  }, 240_000); // nine CLI processes one after another: minutes when the machine is loaded

  test('a lock held by a live process: run says who holds it and since when, and one Ctrl-C ends the wait (exit 130)', async () => {
    const { graph, store, counter } = setup({});
    writeFileSync(graph, JSON.stringify({ name: 'lock-wait', nodes: { a: { type: 'Count', params: { file: counter } } } }));
    const plan = JSON.parse((await setupInProcess(['plan', graph, '--store', store, '--json'], env)).stdout);
    const key = plan.nodes[0].key as string;
    mkdirSync(join(store, 'locks'), { recursive: true });
    // Held by this (live) test process, with its real identity: not stale.
    writeFileSync(
      join(store, 'locks', `action-${key}.lock`),
      JSON.stringify({
        pid: process.pid,
        hostname: hostname(),
        hostTag: hostTagOf(),
        startedAt: '2026-01-02T03:04:05.000Z',
        token: 'feedfacefeedface',
        command: 'dpkd run other.json',
        identity: processIdentity(process.pid),
      }),
    );
    const { child, exited } = start(['run', graph, '--store', store, '--executor', 'in-process']);
    let said = '';
    child.stderr.on('data', (c) => (said += c));
    await waitFor(() => said.includes('waiting'));
    expect(said).toContain(`held by pid ${process.pid} on this machine since 2026-01-02T03:04:05.000Z`);
    child.kill('SIGINT');
    const result = await exited;
    expect(result.code).toBe(130);
  });

  test('--store naming a file is a one-line error (exit 2); cache gc on a read-only store is a message, not a stack trace', async () => {
    const { graph, store, counter } = setup({});
    writeFileSync(graph, JSON.stringify({ name: 'read-only', nodes: { a: { type: 'Count', params: { file: counter } } } }));
    const asStore = runCli(['cache', 'ls', '--store', graph]);
    expect(asStore.code).toBe(2);
    expect(asStore.stderr.trim()).toMatch(/^dpkd: Cannot open the store .* it is a file, not a directory/);
    expect(runCli(['run', graph, '--store', graph], { env }).code).toBe(2);

    expect((await setupInProcess(['run', graph, '--store', store, '--executor', 'in-process'], env)).code).toBe(0);
    const dirs = [store, ...['objects', 'actions', 'locks', 'tmp', 'logs', 'engine'].map((d) => join(store, d))];
    const immutable = spawnSync('chattr', ['+i', ...dirs]);
    if (immutable.status !== 0) throw new Error(`chattr +i is needed to make a read-only store as root: ${immutable.stderr}`);
    try {
      const gc = runCli(['cache', 'gc', '--store', store]);
      expect(gc.code).toBe(1);
      expect(gc.stderr.trim()).toMatch(/^dpkd: cache gc: operation not permitted \(EPERM on .*\); nothing more was changed$/);
    } finally {
      spawnSync('chattr', ['-i', ...dirs]);
    }
  });
});
