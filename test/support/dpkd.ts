// Runs `dpkd` in this process (the same runDpkd the bin calls), capturing what it prints, or the bundled
// binary in a child process.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
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
  const capture = (into: string[]) => ((chunk: string | Uint8Array) => {
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

/** A stack trace line, as Node prints them ("    at fn (file:line:col)"). */
export const stackTrace = /^\s+at .*(\(.*:\d+:\d+\)|:\d+:\d+)$/m;
/** A JSON pointer in a message: "...: /nodes/x/params/y: ..." or the document root "/:". */
export const namesPointer = /(^|[\s:])\/[^\s:]*:/m;
