// The real `dpkd ui` in a child process on a free port (--port 0), and the way to stop it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const workspaceRoot = join(import.meta.dirname, '../../..');
export const fixture = join(workspaceRoot, 'libs/ui/test/fixtures/tiny-ui.json');
const bundle = join(workspaceRoot, 'dist/dpkd.js');

export interface UiProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<number | null>;
}

export function startUiProcess(args: string[]): Promise<UiProcess> {
  const child = spawn(process.execPath, [bundle, 'ui', '--port', '0', ...args], { cwd: workspaceRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dpkd ui printed no address in 60 s: ${out}${err}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /dpkd ui: (http:\/\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        url: m[1]!,
        child,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done(child.exitCode);
            child.once('exit', (code) => done(code));
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dpkd ui exited with ${code}: ${out}${err}`));
    });
  });
}

/** `dpkd ARGS --json` through the real binary, parsed. */
export function dpkdJson<T>(args: string[]): T {
  const r = spawnSync(process.execPath, [bundle, ...args, '--json'], { cwd: workspaceRoot, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`dpkd ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** `dpkd ARGS` through the real binary: exit code and stderr. */
export function dpkdRun(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [bundle, ...args], { cwd: workspaceRoot, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr };
}
