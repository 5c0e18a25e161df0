// `dpkd worker`: takes action jobs from the queue and runs each as `dpkd exec KEY --store DIR` in a child process,
// exactly as a local run's worker executor does (same lock, same ledger-then-manifest commit, same failure
// report). The child keeps this process's event loop free to renew the job's lock while a node trains; if this
// machine dies, the lock lapses and BullMQ's stalled-job check hands the job to another worker.
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Job, QueueEvents, Worker } from 'bullmq';
import { abortGraceMs, type FailureInfo } from '@dpkd/engine';
import type { Store } from '@dpkd/store';
import { parseQueueUrl, type QueueConnection } from './connection';
import { ACTION_KEY, cancelKeyFor, queueNameFor, type ActionJobData, type ActionJobProgress, type ActionJobResult } from './jobs';

export interface QueueWorkerOptions {
  queue: string | QueueConnection;
  store: Store;
  /** The bundled CLI (dist/dpkd.js): each action runs as `node <script> exec KEY --store DIR`. */
  script: string;
  /** Cores this worker offers (default: all of the machine's). It takes an action only if its cpus fit the free ones. */
  cores: number;
  /**
   * How long a job's lock lives without renewal (default 30 s). A worker renews it every third of that; one
   * that is killed loses the job to another worker after at most this plus the stalled-check interval.
   */
  lockMs?: number;
  /** How often this worker looks for stalled jobs of dead workers (default: lockMs). */
  stalledIntervalMs?: number;
  /** How often one job may be taken over before it fails (default 1: one takeover). Each attempt of a DP action is charged. */
  maxStalledCount?: number;
  /** Extra environment for the `dpkd exec` children. */
  env?: NodeJS.ProcessEnv;
  log?(line: string): void;
}

export interface RunningWorker {
  /** Stops taking jobs; waits for the running ones (or, with `abandon`, stops them: their jobs are taken over). */
  stop(options?: { abandon?: boolean }): Promise<void>;
  /** Resolves when the worker has stopped. */
  stopped: Promise<void>;
}

interface Running {
  job: Job<ActionJobData>;
  child?: ReturnType<typeof spawn>;
  finished: Promise<void>;
}

export async function startQueueWorker(options: QueueWorkerOptions): Promise<RunningWorker> {
  const target = typeof options.queue === 'string' ? parseQueueUrl(options.queue) : options.queue;
  const lockMs = options.lockMs ?? 30_000;
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const base = { connection: target.connection, prefix: target.prefix };
  const workerName = `${hostname()}:${process.pid}`;
  let lastError = '';
  const onError = (error: Error) => {
    if (error.message !== lastError) log(`worker ${workerName}: Redis at ${target.describe}: ${error.message}`);
    lastError = error.message;
  };

  // One BullMQ worker (fetching manually) per core count this machine can fit, largest first when picking.
  const classes = Array.from({ length: Math.max(1, options.cores) }, (_, i) => options.cores - i);
  const fetchers = classes.map((cpus) => {
    const worker = new Worker<ActionJobData, ActionJobResult>(queueNameFor(cpus), null, {
      ...base,
      lockDuration: lockMs,
      stalledInterval: options.stalledIntervalMs ?? lockMs,
      maxStalledCount: options.maxStalledCount ?? 1,
      name: workerName,
    });
    worker.on('error', onError);
    return { cpus, worker };
  });
  // New jobs wake the loop at once; a slow poll covers jobs moved back by a stalled check and reconnects.
  const wakers = classes.map((cpus) => {
    const events = new QueueEvents(queueNameFor(cpus), base);
    events.on('error', onError);
    events.on('waiting', () => wake());
    return events;
  });
  await Promise.all([...fetchers.map((f) => f.worker.waitUntilReady()), ...wakers.map((e) => e.waitUntilReady())]);
  for (const { worker } of fetchers) void worker.startStalledCheckTimer().catch(onError);

  let stopping = false;
  let used = 0;
  const running = new Set<Running>();
  let wakeUp: (() => void) | undefined;
  const wake = () => wakeUp?.();
  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      };
      wakeUp = done;
    });

  const loop = async () => {
    while (!stopping) {
      const free = options.cores - used;
      let job: Job<ActionJobData> | undefined;
      let token = '';
      let fetchedBy: Worker<ActionJobData, ActionJobResult> | undefined;
      try {
        for (const { cpus, worker } of fetchers) {
          if (cpus > free) continue;
          token = `${workerName}:${randomBytes(6).toString('hex')}`;
          job = (await worker.getNextJob(token, { block: false })) ?? undefined;
          if (job) {
            fetchedBy = worker;
            break;
          }
        }
      } catch (error) {
        onError(error as Error);
        await idle(1000);
        continue;
      }
      if (!job || !fetchedBy) {
        await idle(1000);
        continue;
      }
      const entry: Running = { job, finished: Promise.resolve() };
      const cpus = Math.max(1, Math.floor(Number(job.data.cpus) || 1));
      used += cpus;
      running.add(entry);
      entry.finished = runJob(entry, token, fetchedBy).finally(() => {
        used -= cpus;
        running.delete(entry);
        wake();
      });
    }
  };

  /** Runs one job's action in `dpkd exec` and moves the job to completed or failed. */
  const runJob = async (entry: Running, token: string, worker: Worker<ActionJobData, ActionJobResult>): Promise<void> => {
    const { job } = entry;
    const { key } = job.data;
    const label = `${job.data.node ?? '?'} (${String(key).slice(0, 12)}, job ${job.id})`;
    // Only an action key of the store: the job cannot name a file, a command or a node type.
    if (typeof key !== 'string' || !ACTION_KEY.test(key)) {
      await job
        .moveToFailed(
          new Error(`not an action key: ${JSON.stringify(key)}; a dpkd worker runs only actions planned into its store`),
          token,
          false,
        )
        .catch(onError);
      return;
    }
    log(`worker ${workerName}: ${label} started${job.stalledCounter > 0 ? ` (taken over: stalled ${job.stalledCounter} time(s))` : ''}`);
    const started = Date.now();
    let stopReason: string | undefined;
    let failure: FailureInfo | undefined;
    let cached = false;
    let stderr = '';
    let lastProgress = 0;
    const child = spawn(process.execPath, [options.script, 'exec', key, '--store', options.store.root], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    entry.child = child;
    const stopChild = (reason: string) => {
      if (stopReason) return;
      stopReason = reason;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), abortGraceMs()).unref();
    };
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let message: { type?: string; message?: string; cached?: boolean; failure?: FailureInfo } & Record<string, unknown>;
        try {
          message = JSON.parse(line);
        } catch {
          continue; // a library's stray line: the node's log has it
        }
        if (message.type === 'done') cached = Boolean(message.cached);
        else if (message.type === 'failed' && typeof message.failure?.message === 'string') failure = message.failure;
        else if (message.type === 'notice' && typeof message.message === 'string') report({ type: 'notice', message: message.message });
        else if (message.type === 'progress' && Date.now() - lastProgress > 250) {
          lastProgress = Date.now(); // a training step can be milliseconds: Redis gets a few updates a second
          report(message as ActionJobProgress);
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (stderr = (stderr + chunk).slice(-4000)));
    const report = (progress: ActionJobProgress) => void job.updateProgress(progress).catch(() => undefined);

    // The lock is renewed while the child runs; the cancel key (set by a coordinator that timed the action out or
    // was interrupted) and the graph's timeout stop the child. A lost lock means the job was handed to another
    // worker: this attempt goes on (the action lock keeps the two from both committing) but reports nothing.
    const client = await worker.getBackend().client;
    const tick = setInterval(
      () => {
        job
          .extendLock(token, lockMs)
          .catch((error: Error) => log(`worker ${workerName}: ${label}: lock renewal failed (${error.message})`));
        client
          .get(cancelKeyFor(target.prefix, String(job.id)))
          .then((v) => v && stopChild('stopped by the coordinator (timeout or interrupt)'))
          .catch(() => undefined);
      },
      Math.max(200, Math.floor(lockMs / 3)),
    );
    const timeout = job.data.timeoutSeconds
      ? setTimeout(
          () => stopChild(`timed out after ${job.data.timeoutSeconds} s (the node's timeout in the graph)`),
          job.data.timeoutSeconds * 1000,
        )
      : undefined;
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.on('error', (error) => resolve({ code: null, signal: null, error }));
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    clearInterval(tick);
    clearTimeout(timeout);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    try {
      if (exit.code === 0) {
        await job.moveToCompleted({ cached }, token, false);
        log(`worker ${workerName}: ${label} ${cached ? 'found committed by another process' : 'done'} in ${seconds} s`);
        return;
      }
      const tail = stderr
        .trim()
        .split('\n')
        .slice(-1)[0]
        ?.replace(/^dpkd: /, '');
      const why: FailureInfo = stopReason
        ? { message: stopReason }
        : failure && !exit.signal
          ? failure
          : {
              message: exit.error
                ? `worker could not start dpkd exec: ${exit.error.message}`
                : `dpkd exec ${exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`}${tail ? `: ${tail}` : ''}`,
            };
      await job.updateProgress({ type: 'failed', failure: why }).catch(() => undefined);
      await job.moveToFailed(new Error(why.message), token, false);
      log(`worker ${workerName}: ${label} failed in ${seconds} s: ${why.message}`);
    } catch (error) {
      log(
        `worker ${workerName}: ${label}: could not report the outcome (${(error as Error).message}); the job was taken over or Redis lost it`,
      );
    }
  };

  const looping = loop();
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const stop = async ({ abandon = false } = {}) => {
    if (stopping && !abandon) return stopped;
    stopping = true;
    wake();
    await looping;
    // Abandoned jobs are not failed: their locks lapse and another worker takes them over.
    if (abandon) for (const entry of running) entry.child?.kill('SIGTERM');
    await Promise.all([...running].map((r) => r.finished));
    await Promise.allSettled([...fetchers.map((f) => f.worker.close(true)), ...wakers.map((e) => e.close())]);
    resolveStopped();
  };
  log(
    `worker ${workerName}: taking actions from ${target.describe} (prefix ${target.prefix}) into ${options.store.root} with ${options.cores} core(s)`,
  );
  return { stop, stopped };
}
