// Executors: in-process (tests, light nodes) and worker processes (`dpkd exec KEY`; heavy nodes).
import { spawn } from 'node:child_process';
import { Effect } from 'effect';
import type { NodeProgress } from '@dpkd/graph';
import type { Store } from '@dpkd/store';
import { ActionAborted, runActionLocked, writeSpec, type ActionSpec } from './action';
import { NodeFailed, messageOf } from './errors';
import type { ActionManifest } from './manifest';
import type { NodeRegistryApi } from './registry';
import type { ExecutorApi } from './services';

/** How long a node may keep running after its abort signal before the engine stops waiting for it. */
const ABORT_GRACE_MS = 5_000;

const failed = (spec: ActionSpec, logPath: string, message: string) =>
  new NodeFailed({ nodeId: spec.nodeId, key: spec.key, message, logPath, attempt: spec.attempt });

export function inProcessExecutor(store: Store, registry: NodeRegistryApi): ExecutorApi {
  return {
    execute: (spec, options) =>
      Effect.async<{ manifest: ActionManifest; cached: boolean }, NodeFailed>((resume) => {
        const controller = new AbortController();
        const running = runActionLocked(store, registry, spec, {
          signal: controller.signal, progress: options.progress, executor: 'in-process', ...(options.notice ? { notice: options.notice } : {}),
        });
        running.then(
          (result) => resume(Effect.succeed(result)),
          (error) => resume(Effect.fail(failed(spec, options.logPath, messageOf(error)))),
        );
        // On interruption (Ctrl-C, timeout): abort the node and wait for its cleanup (scratch dir removed,
        // nothing committed), but not forever if the node ignores its signal.
        return Effect.promise(async () => {
          controller.abort(new ActionAborted(spec.key));
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([running.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ABORT_GRACE_MS)))]);
          clearTimeout(timer);
        });
      }),
  };
}

export interface WorkerOptions {
  /** The bundled CLI (dist/dpkd.js); the worker runs `node <script> exec KEY --store DIR`. */
  script: string;
  /** Extra environment for workers (e.g. DPKD_TEST_NODES). */
  env?: NodeJS.ProcessEnv;
  /** SIGTERM, then SIGKILL after this long. */
  killGraceMs?: number;
}

/** Runs an action in a child process; progress arrives as JSON lines on its stdout. */
export function workerExecutor(store: Store, options: WorkerOptions): ExecutorApi {
  return {
    execute: (spec, execOptions) =>
      Effect.flatMap(
        Effect.tryPromise({ try: () => writeSpec(store, spec), catch: (e) => failed(spec, execOptions.logPath, `could not write the action spec: ${messageOf(e)}`) }),
        () => spawnWorker(store, spec, execOptions, options),
      ),
  };
}

function spawnWorker(
  store: Store,
  spec: ActionSpec,
  execOptions: { logPath: string; progress(p: NodeProgress): void; notice?(message: string): void },
  options: WorkerOptions,
): Effect.Effect<{ manifest: ActionManifest; cached: boolean }, NodeFailed> {
  return Effect.async((resume) => {
    const child = spawn(process.execPath, [options.script, 'exec', spec.key, '--store', store.root], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let buffered = '';
    let cached = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const message = JSON.parse(line) as { type: string } & NodeProgress & { cached?: boolean };
          if (message.type === 'progress') execOptions.progress(message);
          if (message.type === 'notice' && typeof message.message === 'string') execOptions.notice?.(message.message);
          if (message.type === 'done') cached = Boolean(message.cached);
        } catch {
          // a stray non-JSON line from a library: ignore (the node's log has its output)
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (stderr = (stderr + chunk).slice(-4000)));
    child.on('error', (error) => resume(Effect.fail(failed(spec, execOptions.logPath, `worker could not start: ${error.message}`))));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const why = signal ? `worker killed by ${signal}` : `worker exited with code ${code}`;
        const tail = stderr.trim().split('\n').slice(-1)[0];
        resume(Effect.fail(failed(spec, execOptions.logPath, `${why}${tail ? `: ${tail.replace(/^dpkd: /, '')}` : ''}`)));
        return;
      }
      store.getManifest<ActionManifest>(spec.key).then(
        (manifest) =>
          resume(manifest ? Effect.succeed({ manifest, cached }) : Effect.fail(failed(spec, execOptions.logPath, 'worker exited 0 but wrote no manifest'))),
        (error) => resume(Effect.fail(failed(spec, execOptions.logPath, messageOf(error)))),
      );
    });
    return Effect.promise(
      () =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const kill = setTimeout(() => child.kill('SIGKILL'), options.killGraceMs ?? 5_000);
          child.once('close', () => {
            clearTimeout(kill);
            done();
          });
          child.kill('SIGTERM');
        }),
    );
  });
}

/** Heavy node types go to workers (when a worker script is known), the rest run in-process. */
export function autoExecutor(inProcess: ExecutorApi, worker: ExecutorApi | undefined): ExecutorApi {
  return {
    execute: (spec, options) => (options.heavy && worker ? worker : inProcess).execute(spec, options),
  };
}
