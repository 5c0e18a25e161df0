// Executors: in-process (tests, light nodes) and worker processes (`dpkd exec KEY`; heavy nodes).
import { spawn } from 'node:child_process';
import { Duration, Effect } from 'effect';
import type { NodeProgress } from '@dpkd/graph';
import type { Store } from '@dpkd/store';
import { ActionAborted, runActionLocked, writeSpec, type ActionSpec } from './action';
import { failureInfo, NodeFailed, type FailureInfo } from './errors';
import type { ActionManifest } from './manifest';
import type { NodeRegistryApi } from './registry';
import type { ExecutorApi } from './services';

/**
 * How long a node may keep running after its abort signal (Ctrl-C, a timeout) before the engine stops waiting
 * (in-process) or kills its worker (SIGKILL). A training node saves its checkpoint when it sees the signal,
 * after the step it is in: the grace must cover one training step plus a checkpoint write (5+ s for the zoo
 * teacher on 2 loaded cores), or the work since the last periodic checkpoint is lost. Set
 * DPKD_ABORT_GRACE_SECONDS to change it.
 */
export const DEFAULT_ABORT_GRACE_MS = 30_000;

/** A setting the user gave (an environment variable) is not valid: a one-line error naming it (the CLI exits 2). */
export class InvalidSetting extends Error {
  override name = 'InvalidSetting';
}

/** The abort grace in ms: DPKD_ABORT_GRACE_SECONDS (seconds, >= 0) or DEFAULT_ABORT_GRACE_MS. */
export function abortGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DPKD_ABORT_GRACE_SECONDS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_ABORT_GRACE_MS;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new InvalidSetting(
      `DPKD_ABORT_GRACE_SECONDS must be a number of seconds >= 0 (how long an interrupted node may take to save its checkpoint), got "${raw}"`,
    );
  }
  return seconds * 1000;
}

const failed = (spec: ActionSpec, logPath: string, failure: FailureInfo) =>
  new NodeFailed({ nodeId: spec.nodeId, key: spec.key, logPath, attempt: spec.attempt, ...failure });

export function inProcessExecutor(store: Store, registry: NodeRegistryApi, options: { graceMs?: number } = {}): ExecutorApi {
  const graceMs = options.graceMs ?? abortGraceMs();
  return {
    execute: (spec, options) =>
      Effect.async<{ manifest: ActionManifest; cached: boolean }, NodeFailed>((resume) => {
        const controller = new AbortController();
        const running = runActionLocked(store, registry, spec, {
          signal: controller.signal,
          progress: options.progress,
          executor: 'in-process',
          ...(options.notice ? { notice: options.notice } : {}),
        });
        running.then(
          (result) => resume(Effect.succeed(result)),
          (error) => resume(Effect.fail(failed(spec, options.logPath, failureInfo(error)))),
        );
        // On interruption (Ctrl-C, timeout): abort the node and wait for its cleanup (checkpoint saved, scratch
        // dir removed, nothing committed), but not forever if the node ignores its signal. `running` cannot reject here.
        const settled = running.then(
          () => undefined,
          () => undefined,
        );
        // The wait is made interruptible: this runs as a finalizer (uninterruptible), where a timeout could not stop it.
        return Effect.sync(() => controller.abort(new ActionAborted(spec.key))).pipe(
          Effect.zipRight(Effect.interruptible(Effect.promise(() => settled))),
          Effect.timeout(Duration.millis(graceMs)),
          Effect.ignore,
        );
      }),
  };
}

export interface WorkerOptions {
  /** The bundled CLI (dist/dpkd.js); the worker runs `node <script> exec KEY --store DIR`. */
  script: string;
  /** Extra environment for workers (e.g. DPKD_TEST_NODES). */
  env?: NodeJS.ProcessEnv;
  /** SIGTERM, then SIGKILL after this long (default: abortGraceMs()). */
  killGraceMs?: number;
}

/** Runs an action in a child process; progress arrives as JSON lines on its stdout. */
export function workerExecutor(store: Store, options: WorkerOptions): ExecutorApi {
  const resolved = { ...options, killGraceMs: options.killGraceMs ?? abortGraceMs() };
  return {
    execute: (spec, execOptions) =>
      Effect.flatMap(
        Effect.tryPromise({
          try: () => writeSpec(store, spec),
          catch: (e) => failed(spec, execOptions.logPath, { message: `could not write the action spec: ${failureInfo(e).message}` }),
        }),
        () => spawnWorker(store, spec, execOptions, resolved),
      ),
  };
}

function spawnWorker(
  store: Store,
  spec: ActionSpec,
  execOptions: { logPath: string; progress(p: NodeProgress): void; notice?(message: string): void },
  options: WorkerOptions & { killGraceMs: number },
): Effect.Effect<{ manifest: ActionManifest; cached: boolean }, NodeFailed> {
  return Effect.async((resume) => {
    const child = spawn(process.execPath, [options.script, 'exec', spec.key, '--store', store.root], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve())); // never rejects: the end of the worker, however it ends
    let stderr = '';
    let buffered = '';
    let cached = false;
    let failure: FailureInfo | undefined; // the worker's own account of its failure (`dpkd exec` prints it)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const message = JSON.parse(line) as { type: string } & NodeProgress & { cached?: boolean; failure?: FailureInfo };
          if (message.type === 'progress') execOptions.progress(message);
          if (message.type === 'notice' && typeof message.message === 'string') execOptions.notice?.(message.message);
          if (message.type === 'done') cached = Boolean(message.cached);
          if (message.type === 'failed' && typeof message.failure?.message === 'string') failure = message.failure;
        } catch {
          // a stray non-JSON line from a library: ignore (the node's log has its output)
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (stderr = (stderr + chunk).slice(-4000)));
    child.on('error', (error) =>
      resume(Effect.fail(failed(spec, execOptions.logPath, { message: `worker could not start: ${error.message}` }))),
    );
    child.on('close', (code, signal) => {
      if (code !== 0) {
        if (failure && !signal) return resume(Effect.fail(failed(spec, execOptions.logPath, failure)));
        const why = signal ? `worker killed by ${signal}` : `worker exited with code ${code}`;
        const tail = stderr.trim().split('\n').slice(-1)[0];
        resume(Effect.fail(failed(spec, execOptions.logPath, { message: `${why}${tail ? `: ${tail.replace(/^dpkd: /, '')}` : ''}` })));
        return;
      }
      store.getManifest<ActionManifest>(spec.key).then(
        (manifest) =>
          resume(
            manifest
              ? Effect.succeed({ manifest, cached })
              : Effect.fail(failed(spec, execOptions.logPath, { message: 'worker exited 0 but wrote no manifest' })),
          ),
        (error) => resume(Effect.fail(failed(spec, execOptions.logPath, failureInfo(error)))),
      );
    });
    // On interruption: SIGTERM (the node saves its checkpoint and stops), SIGKILL if it is still there after the grace.
    const stop = (signal: NodeJS.Signals) => Effect.sync(() => void child.kill(signal));
    // Interruptible: this runs as a finalizer (uninterruptible), where the timeout could not stop the wait.
    const exited = Effect.interruptible(Effect.promise(() => closed));
    return Effect.suspend(() =>
      child.exitCode !== null || child.signalCode !== null
        ? Effect.void
        : stop('SIGTERM').pipe(
            Effect.zipRight(exited),
            Effect.timeout(Duration.millis(options.killGraceMs)),
            Effect.catchTag('TimeoutException', () => stop('SIGKILL').pipe(Effect.zipRight(exited))),
          ),
    );
  });
}

/** Heavy node types go to workers (when a worker script is known), the rest run in-process. */
export function autoExecutor(inProcess: ExecutorApi, worker: ExecutorApi | undefined): ExecutorApi {
  return {
    execute: (spec, options) => (options.heavy && worker ? worker : inProcess).execute(spec, options),
  };
}
