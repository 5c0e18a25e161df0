// Real components for the queue tests: Debian's redis-server on a free loopback port (no persistence, in a temp
// dir), the bundled `dpkd` as coordinator and as `dpkd worker` processes, each in its own process group so a test
// can kill a worker together with the `dpkd exec` it runs (as a machine dies).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const workspaceRoot = join(import.meta.dirname, '../../..');
export const dpkdScript = join(workspaceRoot, 'dist/dpkd.js');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every 50 ms; fails naming `what` after `ms`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Builds dist/dpkd.js (a few seconds), as `npm ci` does. */
export function buildBundle(): void {
  execFileSync(process.execPath, [join(workspaceRoot, 'tools/build.mjs')], { stdio: 'inherit' });
}

/** The path of Debian's redis-server, or a loud failure saying how to get it. */
export function redisServerBinary(): string {
  for (const candidate of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (existsSync(candidate)) return candidate;
  throw new Error(
    "redis-server is not installed: the queue tests need a real Redis. Install Debian's package (`apt-get install redis-server`; .ci/run does this in CI).",
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      socket.destroy();
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export interface Redis {
  port: number;
  url: string;
  /** Stops the server (SIGTERM; with no persistence every job is gone). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
}

export async function startRedis(dir: string): Promise<Redis> {
  const binary = redisServerBinary();
  const port = await freePort();
  let server: ChildProcess | undefined;
  const start = async () => {
    server = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    await waitFor(`redis-server on port ${port}`, () => answersPing(port), 10_000);
  };
  const stop = async () => {
    const s = server;
    if (!s || s.exitCode !== null || s.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      s.once('exit', () => resolve());
      s.kill('SIGTERM');
    });
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

export interface Proc {
  child: ChildProcess;
  logFile: string;
  log(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills the process group (the worker and its `dpkd exec` children). */
  killGroup(signal: NodeJS.Signals): void;
}

/** The bundled `dpkd` with these args, in its own process group, output to a log file. */
export function startDpkd(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Proc {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [dpkdScript, ...args], {
    cwd: workspaceRoot,
    env: { ...process.env, DPKD_TEST_NODES: '1', ...env },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    logFile,
    log: () => readFileSync(logFile, 'utf8'),
    exited,
    killGroup: (signal) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The lines of a Count / EmitDpEvent count file: `node key pid [charged=...]`. */
export function countLines(file: string): Array<{ node: string; key: string; pid: string; charged?: string }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [node, key, pid, charged] = line.split(' ');
      return { node: node!, key: key!, pid: pid!, ...(charged ? { charged } : {}) };
    });
}
