// `dpkd status` on a run still in progress: a running node's line is followed by the latest progress line of its
// log (tokens, tok/s, ETA, validation perplexity), read from the log's tail.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { expect, test } from 'vitest';
import { nodeLogPath, openStore, writeRunRecord, type RunRecord } from '@dpkd/engine';
import { runCli, scratchDir } from './run-cli';

test('a running node shows its latest progress line; a finished one does not', async () => {
  const dir = scratchDir('dpkd-status-progress-');
  const store = await openStore(dir);
  const [running, done] = ['a'.repeat(64), 'b'.repeat(64)];
  const node = (id: string, key: string, status: 'running' | 'ran') => ({ id, type: 'Pretrain', key, status, seconds: 0, attempts: [] });
  const record: RunRecord = {
    recordFormat: 1,
    id: '20261201T000000-abcdef',
    graph: { name: 'zoo' },
    status: 'running',
    startedAt: new Date().toISOString(),
    host: hostname(),
    pid: process.pid, // alive: the record reads as running, not crashed
    jobs: 2,
    sweepPoints: [],
    nodes: [node('teacher', running, 'running'), node('student', done, 'ran')],
    privacy: { accountant: 'pld', datasets: {}, gaps: [], notes: [] },
  };
  await writeRunRecord(store, record);
  const log = nodeLogPath(store, running);
  mkdirSync(dirname(log), { recursive: true });
  const filler = Array.from({ length: 400 }, (_, i) => `step ${i}/3600 loss 3.1 ${i} tokens, 390 tok/s, ETA 5h`).join('\n');
  writeFileSync(log, `${filler}\nstep 1827/3600 loss 2.9 3.74M tokens, 397 tok/s, ETA 2h13m, val ppl 24.96\n# saved the training state\n`);
  writeFileSync(nodeLogPath(store, done), 'step 5/5 loss 1.0 10 tokens, 1 tok/s, ETA 0s\n');

  const r = runCli(['status', '--store', dir]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain('running     teacher (Pretrain)');
  expect(r.stdout).toContain('progress: step 1827/3600 loss 2.9 3.74M tokens, 397 tok/s, ETA 2h13m, val ppl 24.96');
  expect(r.stdout.match(/progress:/g)).toHaveLength(1);
});
