import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { dpkd } from '../../../test/support/dpkd';

export const workspaceRoot = join(import.meta.dirname, '../../..');
const bundle = join(workspaceRoot, 'dist/dpkd.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bundled `dpkd` with `args` (cwd defaults to the workspace root). */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): CliResult {
  const r = spawnSync(process.execPath, [bundle, ...args], {
    cwd: options.cwd ?? workspaceRoot,
    env: { ...process.env, ...options.env },
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Setup only: one `dpkd` command line run in this process (the workspace's in-process `dpkd`), with `env` set while
 * it runs. For the commands that only prepare what a test then checks through the bundled `dpkd` (a store to export
 * from, the keys of a plan): no process start, and the corpora a plan reads are loaded once for all the test files
 * (isolate: false). What a test asserts about the CLI (exit codes, output, signals, workers) stays with runCli. A
 * `run` here must pass `--executor in-process`: this process is not a `dpkd` that workers could be started from.
 */
export async function setupInProcess(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  if (args[0] === 'run' && !args.join(' ').includes('--executor in-process'))
    throw new Error('setupInProcess: a run in the test process needs --executor in-process');
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await dpkd(args);
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * A fresh temp dir (a store, a graph file) under the run's scratch root (build-bundle.ts), removed when the run
 * ends: this module is shared by the test files (isolate: false), so a per-file cleanup hook here would fire once.
 */
export function scratchDir(prefix = 'dpkd-cli-'): string {
  return mkdtempSync(join(inject('scratchRoot'), prefix));
}

/** A copy of the directory `from` (a prepared store) in a fresh scratch dir: for a test that changes it. */
export function copyOf(from: string, prefix = 'dpkd-cli-copy-'): string {
  const to = join(scratchDir(prefix), 'store');
  cpSync(from, to, { recursive: true });
  return to;
}
