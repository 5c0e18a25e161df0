// `dpkd run` with nodes that fail at run time: a node's own input check is invalid input (exit 2) with its
// JSON pointer, in-process and across the worker boundary; a worker interrupted mid-step gets the abort
// grace to save its checkpoint before it is killed.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli, scratchDir, workspaceRoot } from './run-cli';

const env = { DPKD_TEST_NODES: '1' };

function graphFile(nodes: Record<string, unknown>) {
  const dir = scratchDir('dpkd-cli-run-errors-');
  const graph = join(dir, 'graph.json');
  writeFileSync(graph, JSON.stringify({ name: 'run-errors', nodes }));
  return { dir, graph, store: join(dir, 'store') };
}

const invalidInput = {
  type: 'Fail',
  params: { message: 'batchSize 64 exceeds the 10 training examples; lower batchSize', invalidInput: 'batchSize' },
  retries: 2,
};

describe('run-time input errors', () => {
  for (const executor of ['in-process', 'worker']) {
    test(`a NodeInputError thrown by run exits 2 naming the file and the pointer (${executor})`, () => {
      const { graph, store } = graphFile({
        bad: invalidInput,
        after: { type: 'Count', inputs: { x: 'bad' }, params: { file: '/dev/null' } },
      });
      const r = runCli(['run', graph, '--store', store, '--executor', executor], { env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `failed bad: ${graph}: /nodes/bad/params/batchSize: Fail node bad: batchSize 64 exceeds the 10 training examples; lower batchSize`,
      );
      expect(r.stderr).toContain('skipped (upstream failed): after');
      const record = JSON.parse(runCli(['status', '--store', store, '--json']).stdout);
      const bad = record.nodes.find((n: { id: string }) => n.id === 'bad');
      expect(bad.invalidInput).toEqual({ pointer: '/nodes/bad/params/batchSize' });
      expect(bad.attempts).toHaveLength(1); // retries: 2, but the same input fails the same way
    });
  }

  test('a run with an invalid-input node and an ordinary failure exits 1 (the failure wins); both are listed', () => {
    const { graph, store } = graphFile({ bad: invalidInput, broken: { type: 'Fail', params: { message: 'an ordinary failure' } } });
    const r = runCli(['run', graph, '--store', store, '--executor', 'worker'], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('/nodes/bad/params/batchSize');
    expect(r.stderr).toContain('failed broken: an ordinary failure');
  });
});

describe('the abort grace of workers', () => {
  /** Interrupts a run once its worker is sleeping in the node; the node takes 1 s to "save its checkpoint". */
  async function interruptMidStep(extraEnv: Record<string, string>, o: { saveSeconds?: number; signals?: number } = {}) {
    const { dir, graph, store } = graphFile({});
    const saved = join(dir, 'checkpoint-saved');
    const params = { seconds: 120, steps: 1, saveTo: saved, saveSeconds: o.saveSeconds ?? 1 };
    writeFileSync(graph, JSON.stringify({ name: 'grace', nodes: { slow: { type: 'Sleep', params } } }));
    const child = spawn(process.execPath, [join(workspaceRoot, 'dist/dpkd.js'), 'run', graph, '--store', store, '--executor', 'worker'], {
      cwd: workspaceRoot,
      env: { ...process.env, ...env, ...extraEnv },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    // The node is running in its worker once its scratch dir holds the half file Sleep writes first.
    const running = () =>
      existsSync(join(store, 'tmp')) && readdirSync(join(store, 'tmp'), { recursive: true }).some((f) => String(f).endsWith('partial.bin'));
    for (let i = 0; i < 2400 && !running(); i++) await new Promise((r) => setTimeout(r, 25));
    if (!running()) throw new Error('the worker did not start the node');
    child.kill('SIGINT');
    for (let i = 1; i < (o.signals ?? 1); i++) {
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGINT');
    }
    return { code: await exited, saved: existsSync(saved) };
  }

  test('by default a worker may finish saving after SIGTERM; with a grace shorter than the save it is killed first', async () => {
    expect(await interruptMidStep({})).toEqual({ code: 130, saved: true });
    expect(await interruptMidStep({ DPKD_ABORT_GRACE_SECONDS: '0.1' })).toEqual({ code: 130, saved: false });
  }, 120_000);

  test('a second Ctrl-C exits at once instead of waiting for a slow checkpoint save', async () => {
    // Saving takes 10 s, inside the default 30 s grace: one Ctrl-C waits for it (saved: true); a second one exits now.
    expect(await interruptMidStep({}, { saveSeconds: 10, signals: 2 })).toEqual({ code: 130, saved: false });
  }, 120_000);
});
