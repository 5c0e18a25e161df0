import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

/** Bundles test/fixtures/worker.ts (with the store sources) into one .mjs that plain `node` runs. */
export function bundleWorker(): { script: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'dpkd-store-worker-'));
  const script = join(dir, 'worker.mjs');
  buildSync({
    entryPoints: [join(import.meta.dirname, '../fixtures/worker.ts')],
    outfile: script,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
  });
  return { script, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Worker {
  child: ChildProcess;
  /** Resolves with the first stdout line that starts with `prefix`. */
  waitFor(prefix: string): Promise<string>;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  stderr(): string;
}

export function startWorker(script: string, mode: string, args: object): Worker {
  const child = spawn(process.execPath, [script, mode, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  let buffered = '';
  let errors = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    buffered += text;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      lines.push(line);
      for (const w of waiters.filter((w) => line.startsWith(w.prefix))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (errors += text));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    exited,
    stderr: () => errors,
    waitFor(prefix) {
      const seen = lines.find((l) => l.startsWith(prefix));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ prefix, resolve });
        exited.then((code) => reject(new Error(`worker exited (${code}) before printing "${prefix}": ${errors}`)), reject);
      });
    },
  };
}

/** Kills with SIGKILL (no cleanup handlers run: the closest thing to a crash or power cut) and waits. */
export async function killHard(worker: Worker): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}
