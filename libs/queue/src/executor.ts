// The queue executor: the engine's ExecutorApi over BullMQ. `dpkd run --queue` keeps its own planning, cache
// hits, budget refusal and ledger check (the scheduler does them before any execute); each action that is
// ready goes to Redis as a job holding only its key, a `dpkd worker` on any machine runs it against the shared
// store, and this side follows the job's events and reads the committed manifest from the store.
import { Effect } from 'effect';
import { Queue, QueueEvents } from 'bullmq';
import { NodeFailed, failureInfo, writeSpec, type ActionManifest, type ActionSpec, type ExecutorApi, type FailureInfo } from '@dpkd/engine';
import type { Store } from '@dpkd/store';
import { parseQueueUrl, type QueueConnection } from './connection';
import {
  KEEP_COMPLETED,
  KEEP_FAILED,
  cancelKeyFor,
  jobIdFor,
  queueNameFor,
  type ActionJobData,
  type ActionJobProgress,
  type ActionJobResult,
} from './jobs';

export interface QueueExecutorOptions {
  /** The --queue URL (or its parsed form). */
  queue: string | QueueConnection;
  store: Store;
  /** The graph's nodes: per action key, the `timeout` and `resources.cpus` that become job options. */
  nodes: ReadonlyArray<{ key: string; timeoutSeconds?: number; resources?: { cpus?: number } }>;
  /** Redis unreachable this long: the actions waiting on it fail with a message saying so (default 30 s). */
  lostAfterMs?: number;
  /** How often jobs in flight are checked against Redis, for events missed or jobs lost in a restart (default 2 s). */
  checkEveryMs?: number;
  /** Giving up on Redis at start (default 10 s). */
  connectTimeoutMs?: number;
  /** Run-level notices (a job re-enqueued after Redis lost it, Redis unreachable). */
  notice?(message: string): void;
}

export interface QueueExecutor {
  executor: ExecutorApi;
  /** Closes the Redis connections (after the run). */
  close(): Promise<void>;
}

/** Redis cannot be reached: a one-line error naming the URL (without its password) and what to check. */
export class QueueUnavailable extends Error {
  override name = 'QueueUnavailable';
}

interface InFlight {
  spec: ActionSpec;
  data: ActionJobData;
  queue: Queue;
  logPath: string;
  progress(p: ActionJobProgress & { type: 'progress' }): void;
  notice?(message: string): void;
  /** The worker's own account of the failure (sent on the progress channel just before it fails the job). */
  failure?: FailureInfo;
  addedAt: number;
  settle(outcome: { ok: true; cached: boolean } | { ok: false; failure: FailureInfo }): void;
}

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis within ${ms} ms`)), ms))),
  ]);
};

export async function openQueueExecutor(options: QueueExecutorOptions): Promise<QueueExecutor> {
  const target = typeof options.queue === 'string' ? parseQueueUrl(options.queue) : options.queue;
  const { store } = options;
  const lostAfterMs = options.lostAfterMs ?? 30_000;
  const checkEveryMs = options.checkEveryMs ?? 2_000;
  const byKey = new Map(options.nodes.map((n) => [n.key, n]));
  const cpusOf = (key: string) => Math.max(1, Math.floor(byKey.get(key)?.resources?.cpus ?? 1));
  const base = { connection: target.connection, prefix: target.prefix };
  let lastError = '';
  const onError = (error: Error) => void (lastError = error.message);

  // One queue (and one event stream) per core count the graph asks for.
  const classes = [...new Set([1, ...options.nodes.map((n) => cpusOf(n.key))])].sort((a, b) => a - b);
  const queues = new Map<number, Queue>();
  const events: QueueEvents[] = [];
  const inFlight = new Map<string, InFlight>();
  for (const cpus of classes) {
    const queue = new Queue(queueNameFor(cpus), base);
    queue.on('error', onError);
    queues.set(cpus, queue);
    const stream = new QueueEvents(queueNameFor(cpus), base);
    stream.on('error', onError);
    stream.on('completed', ({ jobId, returnvalue }) => inFlight.get(jobId)?.settle({ ok: true, cached: resultOf(returnvalue).cached }));
    stream.on('failed', ({ jobId, failedReason }) => {
      const job = inFlight.get(jobId);
      job?.settle({ ok: false, failure: job.failure ?? { message: failedReason } });
    });
    stream.on('progress', ({ jobId, data }) => {
      const job = inFlight.get(jobId);
      const message = data as ActionJobProgress;
      if (!job || typeof message !== 'object' || message === null) return;
      if (message.type === 'progress') job.progress(message);
      else if (message.type === 'notice') job.notice?.(message.message);
      else if (message.type === 'failed') job.failure = message.failure;
    });
    events.push(stream);
  }
  const all = [...queues.values(), ...events];
  const close = async () => {
    clearInterval(checker);
    await Promise.allSettled(all.map((c) => withTimeout(c.close(), 3000, 'close')));
  };
  try {
    await withTimeout(Promise.all(all.map((c) => c.waitUntilReady())), options.connectTimeoutMs ?? 10_000, 'connect');
  } catch (error) {
    await close();
    throw new QueueUnavailable(
      `cannot reach Redis at ${target.describe} (--queue): ${lastError || (error as Error).message}. Is redis-server running there, and the password (DPKD_REDIS_PASSWORD) right?`,
    );
  }

  // Jobs in flight are checked against Redis now and then: an event missed during a reconnect is read from the
  // job, a job Redis lost (restarted without persistence) is enqueued again unless its manifest is already in the
  // store, and Redis unreachable for longer than lostAfterMs fails what waits on it (the rerun resumes from the cache).
  let lastContact = Date.now();
  let warned = false;
  let checking = false;
  const check = async () => {
    if (checking || inFlight.size === 0) return void (lastContact = Date.now());
    checking = true;
    try {
      for (const [jobId, job] of [...inFlight]) {
        if (Date.now() - job.addedAt < checkEveryMs) continue;
        const state = await withTimeout(job.queue.getJobState(jobId), 3000, 'job state');
        lastContact = Date.now();
        if (state === 'completed' || state === 'failed') {
          const stored = await withTimeout(job.queue.getJob(jobId), 3000, 'job');
          if (state === 'completed') job.settle({ ok: true, cached: resultOf(stored?.returnvalue).cached });
          else job.settle({ ok: false, failure: job.failure ?? { message: stored?.failedReason ?? 'the job failed' } });
        } else if (state === 'unknown') {
          const manifest = await store.getManifest<ActionManifest>(job.spec.key);
          if (manifest) job.settle({ ok: true, cached: manifest.provenance?.run !== job.spec.run });
          else {
            job.addedAt = Date.now();
            await withTimeout(add(job.queue, job.data), 3000, 'enqueue');
            options.notice?.(`${job.spec.nodeId}: its job was lost from Redis (restarted without persistence?); enqueued it again`);
          }
        }
      }
      if (warned) options.notice?.(`Redis at ${target.describe} is reachable again`);
      warned = false;
    } catch (error) {
      const down = Date.now() - lastContact;
      if (!warned)
        options.notice?.(
          `Redis at ${target.describe} does not answer (${lastError || (error as Error).message}); waiting up to ${Math.round(lostAfterMs / 1000)} s`,
        );
      warned = true;
      if (down > lostAfterMs) {
        const message = `lost the queue: Redis at ${target.describe} did not answer for ${Math.round(down / 1000)} s (${lastError || (error as Error).message}); actions that finished are in the store, rerun to continue from them`;
        for (const job of inFlight.values()) job.settle({ ok: false, failure: { message } });
      }
    } finally {
      checking = false;
    }
  };
  const checker = setInterval(() => void check(), checkEveryMs);

  const add = (queue: Queue, data: ActionJobData) =>
    queue.add('action', data, { jobId: jobIdFor(data), attempts: 1, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED });

  const execute: ExecutorApi['execute'] = (spec, execOptions) =>
    Effect.async<{ manifest: ActionManifest; cached: boolean }, NodeFailed>((resume) => {
      const failed = (failure: FailureInfo) =>
        new NodeFailed({ nodeId: spec.nodeId, key: spec.key, logPath: execOptions.logPath, attempt: spec.attempt, ...failure });
      const node = byKey.get(spec.key);
      const data: ActionJobData = {
        key: spec.key,
        run: spec.run,
        attempt: spec.attempt,
        node: spec.nodeId,
        cpus: cpusOf(spec.key),
        ...(node?.timeoutSeconds !== undefined ? { timeoutSeconds: node.timeoutSeconds } : {}),
      };
      const jobId = jobIdFor(data);
      const queue = queues.get(data.cpus)!;
      let done = false;
      const job: InFlight = {
        spec,
        data,
        queue,
        logPath: execOptions.logPath,
        addedAt: Date.now(),
        progress: ({ type: _type, ...p }) => execOptions.progress(p),
        ...(execOptions.notice ? { notice: execOptions.notice } : {}),
        settle: (outcome) => {
          if (done) return;
          done = true;
          inFlight.delete(jobId);
          if (!outcome.ok) return resume(Effect.fail(failed(outcome.failure)));
          store.getManifest<ActionManifest>(spec.key).then(
            (manifest) =>
              resume(
                manifest
                  ? Effect.succeed({ manifest, cached: outcome.cached })
                  : Effect.fail(
                      failed({
                        message: `the worker reported success but ${store.root} has no manifest for ${spec.key.slice(0, 12)}: does the worker's --store name this same shared directory?`,
                      }),
                    ),
              ),
            (error) => resume(Effect.fail(failed(failureInfo(error)))),
          );
        },
      };
      // Listening before enqueueing: the job's events cannot pass unseen.
      inFlight.set(jobId, job);
      writeSpec(store, spec)
        .then(() => add(queue, data))
        .catch((error) => job.settle({ ok: false, failure: { message: `could not enqueue the action: ${failureInfo(error).message}` } }));
      // Interrupted (timeout, Ctrl-C): a waiting job is removed, a running one is asked to stop (its worker polls
      // the cancel key and stops `dpkd exec`, which commits nothing). Neither waits on an unreachable Redis.
      return Effect.promise(async () => {
        if (done) return;
        done = true;
        inFlight.delete(jobId);
        await withTimeout(
          (async () => {
            const client = await queue.getBackend().client;
            await client.set(cancelKeyFor(target.prefix, jobId), '1', { EX: 3600 });
            await queue.remove(jobId).catch(() => 0); // refused for a job a worker holds: the cancel key stops it
          })(),
          3000,
          'cancel',
        ).catch(() => undefined);
      });
    });

  return { executor: { execute }, close };
}

/** A job's return value as BullMQ hands it back (an object, or JSON text from a stored job). */
function resultOf(value: unknown): ActionJobResult {
  if (typeof value === 'string') {
    try {
      return resultOf(JSON.parse(value));
    } catch {
      return { cached: false };
    }
  }
  return { cached: Boolean((value as Partial<ActionJobResult> | null)?.cached) };
}
