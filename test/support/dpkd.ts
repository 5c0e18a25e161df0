// Runs `dpkd` in this process (the same runDpkd the bin calls), capturing what it prints, or the bundled
// binary in a child process.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { runDpkd } from '@dpkd/cli';

export const workspaceRoot = join(import.meta.dirname, '../..');

export interface DpkdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One command line, in process: stdout and stderr are captured (and not shown) while it runs. */
export async function dpkd(args: string[]): Promise<DpkdResult> {
  const out: string[] = [];
  const err: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  try {
    const code = await runDpkd(['node', 'dpkd', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
  }
}

/** Builds dist/dpkd.js (what `npm ci` does), for the tests that run the real binary. */
export function buildBundle(): void {
  execFileSync(process.execPath, [join(workspaceRoot, 'tools/build.mjs')], { stdio: 'inherit' });
}

/** The bundled `dpkd` in a child process. */
export function dpkdBinary(args: string[], env: NodeJS.ProcessEnv = {}): DpkdResult {
  const r = spawnSync(process.execPath, [join(workspaceRoot, 'dist/dpkd.js'), ...args], {
    cwd: workspaceRoot,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The bundled `dpkd` in a child process, without blocking this one (so several can run at once). */
export function dpkdBinaryAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<DpkdResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(workspaceRoot, 'dist/dpkd.js'), ...args], {
      cwd: workspaceRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `run` on every item, at most `limit` at a time; the results in the items' order. */
export async function mapLimited<T, R>(items: T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** A stack trace line, as Node prints them ("    at fn (file:line:col)"). */
export const stackTrace = /^\s+at .*(\(.*:\d+:\d+\)|:\d+:\d+)$/m;
/** A JSON pointer in a message: "...: /nodes/x/params/y: ..." or the document root "/:". */
export const namesPointer = /(^|[\s:])\/[^\s:]*:/m;

/**
 * A scratch directory for one test file, with DPKD_DATA_CACHE pointed at an empty directory inside it for
 * the file's tests (a clean clone has no Debian cache, whatever data/cache holds on this machine).
 * Registers its own beforeAll/afterAll; the directory is removed afterwards.
 */
export function withoutDataCache(prefix: string): { scratch: string; emptyDataCache: string } {
  const scratch = mkdtempSync(join(tmpdir(), prefix));
  const emptyDataCache = join(scratch, 'no-data-cache');
  let saved: string | undefined;
  beforeAll(() => {
    mkdirSync(emptyDataCache);
    saved = process.env.DPKD_DATA_CACHE;
    process.env.DPKD_DATA_CACHE = emptyDataCache;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.DPKD_DATA_CACHE;
    else process.env.DPKD_DATA_CACHE = saved;
    rmSync(scratch, { recursive: true, force: true });
  });
  return { scratch, emptyDataCache };
}
