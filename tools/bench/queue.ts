// `npm run bench -- queue [actions]`: a sweep of short training actions (tiny Pretrain, a few steps each, one lr per
// action) run three ways on copies of one store that already holds the Dataset: the in-process executor (--jobs 1),
// `dpkd run --queue` with one `dpkd worker --cores 1`, and with two. Prints wall times, the speed-up of two workers
// over one, and the queue's overhead per action over the in-process executor. Needs redis-server (Debian's).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.cwd();
const dpkd = join(root, 'dist/dpkd.js');
const actions = Number(process.argv[2] ?? 40);
const dir = mkdtempSync(join(tmpdir(), 'dpkd-bench-queue-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

execFileSync(process.execPath, [join(root, 'tools/build.mjs')], { stdio: 'inherit' });
const redisBinary = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(existsSync);
if (!redisBinary) throw new Error('redis-server is not installed (apt-get install redis-server)');

const nodes: Record<string, unknown> = {
  public: { type: 'Dataset', params: { corpus: 'public-mix', train: 400, validation: 20, test: 20 } },
};
for (let i = 0; i < actions; i++) {
  nodes[`t${i}`] = {
    type: 'Pretrain',
    inputs: { data: 'public' },
    params: { model: 'tiny', steps: 4, batchSize: 8, seqLen: 32, lr: 0.001 * (1 + i / actions) },
  };
}
const graph = join(dir, 'sweep.json');
writeFileSync(graph, JSON.stringify({ name: 'bench-queue', seed: 1, nodes }));
const datasetOnly = join(dir, 'dataset.json');
writeFileSync(datasetOnly, JSON.stringify({ name: 'bench-queue', seed: 1, nodes: { public: nodes.public } }));

const base = join(dir, 'base-store');
const prepared = spawnSync(process.execPath, [dpkd, 'run', datasetOnly, '--store', base, '--executor', 'in-process'], { encoding: 'utf8' });
if (prepared.status !== 0) throw new Error(`preparing the Dataset failed: ${prepared.stderr}`);

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port: p } = s.address() as { port: number };
    s.close(() => resolve(p));
  });
});
const redis = spawn(redisBinary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
  stdio: 'ignore',
});
await sleep(500);

async function timedRun(name: string, args: string[], workers: number): Promise<number> {
  const store = join(dir, `store-${name}`);
  cpSync(base, store, { recursive: true });
  const queue = `redis://127.0.0.1:${port}?prefix=${name}`;
  const procs = Array.from({ length: workers }, (_, i) => {
    const log = join(dir, `${name}-worker${i}.log`);
    return {
      log,
      child: spawn(process.execPath, [dpkd, 'worker', '--queue', queue, '--store', store, '--cores', '1'], {
        stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
      }),
    };
  });
  for (const p of procs) while (!readFileSync(p.log, 'utf8').includes('taking actions')) await sleep(50);
  const started = Date.now();
  const run = spawnSync(process.execPath, [dpkd, 'run', graph, '--store', store, ...(workers ? ['--queue', queue] : []), ...args], {
    encoding: 'utf8',
  });
  const seconds = (Date.now() - started) / 1000;
  for (const p of procs) p.child.kill('SIGKILL');
  if (run.status !== 0) throw new Error(`${name} failed: ${run.stderr}`);
  if (!run.stderr.includes(`${actions} ran`))
    throw new Error(`${name}: expected ${actions} actions to run: ${run.stderr.split('\n').slice(-3).join(' ')}`);
  return seconds;
}

try {
  const inProcess = await timedRun('inprocess', ['--executor', 'in-process', '--jobs', '1'], 0);
  const one = await timedRun('queue1', [], 1);
  const two = await timedRun('queue2', [], 2);
  console.log(`queue bench: ${actions} tiny Pretrain actions (4 steps each), wall time of \`dpkd run\` from start to exit`);
  console.log(`  in-process executor, --jobs 1: ${inProcess.toFixed(1)} s`);
  console.log(`  --queue, 1 worker (--cores 1): ${one.toFixed(1)} s`);
  console.log(`  --queue, 2 workers (--cores 1 each): ${two.toFixed(1)} s`);
  console.log(`  speed-up of 2 workers over 1: ${(one / two).toFixed(2)}x`);
  console.log(`  queue overhead per action over in-process (1 worker): ${(((one - inProcess) / actions) * 1000).toFixed(0)} ms`);
} finally {
  redis.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
