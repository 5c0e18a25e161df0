import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export const workspaceRoot = join(import.meta.dirname, '../../..');
const bundle = join(workspaceRoot, 'dist/dpkd.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bundled `dpkd` with `args` (cwd defaults to the workspace root). */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [bundle, ...args], {
    cwd: options.cwd ?? workspaceRoot,
    env: { ...process.env, ...options.env },
    input: options.input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const scratchDirs: string[] = [];
afterAll(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir (a store, a graph file) removed when the test file's tests are done. */
export function scratchDir(prefix = 'dpkd-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
}
