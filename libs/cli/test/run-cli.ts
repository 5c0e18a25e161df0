import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

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
 * A fresh temp dir (a store, a graph file) under the run's scratch root (build-bundle.ts), removed when the run
 * ends: this module is shared by the test files (isolate: false), so a per-file cleanup hook here would fire once.
 */
export function scratchDir(prefix = 'dpkd-cli-'): string {
  return mkdtempSync(join(inject('scratchRoot'), prefix));
}
