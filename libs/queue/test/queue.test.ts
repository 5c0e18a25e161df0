// `dpkd run --queue` with real `dpkd worker` processes and a real redis-server: many writers on one store, a worker
// killed with -9 mid-DP-action, Redis restarted mid-run, the coordinator killed. Each test checks the store with
// `dpkd cache verify` and `dpkd ledger verify` (the hash chain held with several writers).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { checkLedger, listCache, openStore, readLedger, verifyCache, verifyLedger } from '@dpkd/engine';
import { buildBundle, countLines, removeDir, startDpkd, startRedis, tempDir, waitFor, type Proc, type Redis } from './support';

let redis: Redis;
let root: string;
const started: Proc[] = [];
let n = 0;

beforeAll(async () => {
  root = tempDir('dpkd-queue-test-');
  redis = await startRedis(root); // fails loudly when redis-server is missing
  buildBundle();
});

afterEach(async () => {
  for (const p of started.splice(0)) {
    p.killGroup('SIGKILL');
    await p.exited;
  }
});

afterAll(async () => {
  await redis?.stop();
  if (root) removeDir(root);
});

/** A fresh store, graph file and count file; the graph's nodes get `file` or `count` set to the count file. */
function setup(name: string, nodes: (counter: string) => Record<string, unknown>) {
  const dir = join(root, `${name}-${++n}`);
  const store = join(dir, 'store');
  const counter = join(dir, 'count.txt');
  const graph = join(dir, 'graph.json');
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  // Each test has its own queue prefix: jobs of one test never reach another's workers.
  const queue = `${redis.url}?prefix=t${n}`;
  writeFileSync(graph, JSON.stringify({ name, seed: 1, nodes: nodes(counter) }));
  return { dir, store, counter, graph, logs, queue };
}

async function worker(ctx: { store: string; queue: string; logs: string }, name: string, extra: string[] = []): Promise<Proc> {
  const proc = startDpkd(['worker', '--queue', ctx.queue, '--store', ctx.store, '--cores', '1', ...extra], join(ctx.logs, `${name}.log`));
  started.push(proc);
  await waitFor(`worker ${name} to connect`, () => proc.log().includes('taking actions from'));
  return proc;
}

/** One `dpkd` command to its end; registered like the workers, so a test that fails or times out while waiting kills it. */
async function dpkd(ctx: { logs: string }, name: string, args: string[]): Promise<{ code: number | null; log: string }> {
  const proc = startDpkd(args, join(ctx.logs, `${name}.log`));
  started.push(proc);
  const { code } = await proc.exited;
  return { code, log: proc.log() };
}

/**
 * What `dpkd cache verify` and `dpkd ledger verify` check (the same engine functions, called here to spare two
 * process starts per test): no corrupt or missing object, an intact chain whose ε recomputes, every DP manifest charged.
 */
async function storeChecks(ctx: { store: string }) {
  const store = await openStore(ctx.store);
  const cache = await verifyCache(store);
  expect([...cache.corrupt, ...cache.missing, ...cache.affected]).toEqual([]);
  const ledger = await verifyLedger(store);
  expect(ledger.ok).toBe(true);
  const check = await checkLedger(store);
  expect(check.uncharged).toEqual([]);
  expect(check.ok).toBe(true);
  return { entries: ledger.chain.entries };
}

async function ledgerRecords(ctx: { store: string }) {
  return (await readLedger(await openStore(ctx.store))).records;
}

describe('dpkd run --queue with dpkd worker processes', () => {
  test('two workers run a DP sweep on one store: each action once, every DP action charged, the chain intact', async () => {
    const ctx = setup('many-writers', (counter) => ({
      data: { type: 'FakeDataset', params: { unit: 'imdb', n: 100 } },
      ...Object.fromEntries(
        [1, 2, 3, 4].map((i) => [
          `dp${i}`,
          { type: 'EmitDpEvent', inputs: { data: 'data' }, params: { sigma: 1, q: 0.1, steps: 10 + i, seconds: 0.3, count: counter } },
        ]),
      ),
      post: { type: 'Post', inputs: { a: 'dp1', b: 'dp2', c: 'dp3', d: 'dp4' } },
    }));
    const workers = [await worker(ctx, 'w1'), await worker(ctx, 'w2')];
    const run = await dpkd(ctx, 'run', ['run', ctx.graph, '--queue', ctx.queue, '--store', ctx.store]);
    expect(run.code, run.log).toBe(0);
    const lines = countLines(ctx.counter);
    expect(lines.map((l) => l.node).sort()).toEqual(['dp1', 'dp2', 'dp3', 'dp4']);
    expect(lines.every((l) => l.charged === 'charged=true')).toBe(true); // charged before it trained
    // Both workers took actions (their `dpkd exec` children wrote the lines): the store had several writers.
    expect(workers.map((w) => (w.log().match(/ started/g) ?? []).length).every((count) => count >= 1)).toBe(true);
    const records = await ledgerRecords(ctx);
    expect(
      records
        .filter((r) => r.outcome === 'started')
        .map((r) => r.node)
        .sort(),
    ).toEqual(['dp1', 'dp2', 'dp3', 'dp4']);
    expect((await storeChecks(ctx)).entries).toBe(4);

    // A rerun is all cache hits: nothing is enqueued, nothing runs, nothing is charged.
    const rerun = await dpkd(ctx, 'rerun', ['run', ctx.graph, '--queue', ctx.queue, '--store', ctx.store]);
    expect(rerun.code, rerun.log).toBe(0);
    expect(rerun.log).toContain('0 ran, 6 cached');
    expect(countLines(ctx.counter)).toHaveLength(4);
  });

  test('a worker killed with -9 mid-DP-action: another takes the job over, the action commits once, both attempts are charged', async () => {
    const ctx = setup('kill-worker', (counter) => ({
      data: { type: 'FakeDataset', params: { unit: 'imdb', n: 100 } },
      teacher: { type: 'EmitDpEvent', inputs: { data: 'data' }, params: { sigma: 1, q: 0.1, steps: 10, seconds: 2, count: counter } },
    }));
    const lock = ['--lock-seconds', '1.5'];
    const doomed = await worker(ctx, 'doomed', lock);
    const coordinator = startDpkd(['run', ctx.graph, '--queue', ctx.queue, '--store', ctx.store], join(ctx.logs, 'run.log'));
    started.push(coordinator);
    await waitFor('the DP action to start on the first worker', () => countLines(ctx.counter).some((l) => l.node === 'teacher'));
    doomed.killGroup('SIGKILL'); // the worker and its `dpkd exec`, as when the machine dies
    await doomed.exited;
    const rescuer = await worker(ctx, 'rescuer', lock);
    const result = await coordinator.exited;
    expect(result.code, coordinator.log()).toBe(0);
    expect(rescuer.log()).toMatch(/teacher .* started \(taken over: stalled 1 time/);
    const attempts = countLines(ctx.counter).filter((l) => l.node === 'teacher');
    expect(attempts).toHaveLength(2);
    expect(attempts.every((a) => a.charged === 'charged=true')).toBe(true);
    // Over-count, never under-count: the killed attempt's charge stays and the taken-over attempt is charged again.
    const charges = (await ledgerRecords(ctx)).filter((r) => r.node === 'teacher');
    expect(charges.map((r) => r.outcome)).toEqual(['started', 'started']);
    const actions = await listCache(await openStore(ctx.store));
    expect(actions.map((a) => a.node).sort()).toEqual(['data', 'teacher']); // committed once
    await storeChecks(ctx);
  });

  test('Redis stopped and restarted mid-run: the lost jobs are enqueued again and the run finishes, each action once', async () => {
    const ctx = setup('redis-restart', (counter) => ({
      a: { type: 'Count', params: { file: counter, seconds: 1.5 } },
      b: { type: 'Count', inputs: { x: 'a' }, params: { file: counter, seconds: 0.2 } },
    }));
    await worker(ctx, 'w1');
    await worker(ctx, 'w2');
    const coordinator = startDpkd(['run', ctx.graph, '--queue', ctx.queue, '--store', ctx.store], join(ctx.logs, 'run.log'));
    started.push(coordinator);
    await waitFor('action a to start', () => countLines(ctx.counter).some((l) => l.node === 'a'));
    await redis.stop(); // no persistence: every job and lock in Redis is gone
    await redis.start();
    const result = await coordinator.exited;
    expect(result.code, coordinator.log()).toBe(0);
    expect(
      countLines(ctx.counter)
        .map((l) => l.node)
        .sort(),
    ).toEqual(['a', 'b']); // nothing ran twice
    await storeChecks(ctx);
  });

  test('the coordinator killed with -9: a rerun picks up every finished action and runs each action once in all', async () => {
    const ctx = setup('kill-coordinator', (counter) => ({
      ...Object.fromEntries([1, 2, 3].map((i) => [`p${i}`, { type: 'Count', params: { file: counter, seconds: 0.5, i } }])),
      last: { type: 'Count', inputs: { a: 'p1', b: 'p2', c: 'p3' }, params: { file: counter } },
    }));
    await worker(ctx, 'w1');
    await worker(ctx, 'w2');
    const coordinator = startDpkd(['run', ctx.graph, '--queue', ctx.queue, '--store', ctx.store], join(ctx.logs, 'run.log'));
    started.push(coordinator);
    await waitFor('a first action to start', () => countLines(ctx.counter).length >= 1);
    coordinator.killGroup('SIGKILL');
    await coordinator.exited;
    // The workers finish what was enqueued (the jobs outlive their coordinator); wait until p1..p3 are committed.
    await waitFor('p1..p3 to commit', () => countLines(ctx.counter).length >= 3 && readdirSync(join(ctx.store, 'actions')).length >= 3);
    const rerun = await dpkd(ctx, 'rerun', ['run', ctx.graph, '--queue', ctx.queue, '--store', ctx.store, '--json']);
    expect(rerun.code, rerun.log).toBe(0);
    const summary = JSON.parse(rerun.log.split('\n').find((l) => l.startsWith('{"run"'))!) as {
      nodes: Array<{ id: string; status: string }>;
    };
    expect(summary.nodes.filter((x) => x.id.startsWith('p')).every((x) => x.status === 'cached')).toBe(true);
    expect(
      countLines(ctx.counter)
        .map((l) => l.node)
        .sort(),
    ).toEqual(['last', 'p1', 'p2', 'p3']);
    await storeChecks(ctx);
  });

  test('bad input: a --queue that is not a Redis URL and a bad --cores are one-line errors (exit 2)', async () => {
    const ctx = setup('bad-url', (counter) => ({ a: { type: 'Count', params: { file: counter } } }));
    const bad = await dpkd(ctx, 'bad', ['run', ctx.graph, '--queue', 'http://example', '--store', ctx.store]);
    expect(bad.code).toBe(2);
    expect(bad.log).toContain('--queue must start with redis:// or rediss://');
    const closed = await dpkd(ctx, 'closed', ['worker', '--queue', 'redis://127.0.0.1:1', '--store', ctx.store, '--cores', '0']);
    expect(closed.code).toBe(2);
    expect(closed.log).toContain('--cores must be a positive integer');
    expect(countLines(ctx.counter)).toEqual([]);
  });
});
