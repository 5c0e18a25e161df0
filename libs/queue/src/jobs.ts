// What a queued job is: an action key and the few numbers a worker needs, never a payload. The spec (node type,
// params, inputs) is in the shared store, where `dpkd run` wrote it; a worker reads it by key and runs only node
// types its own registry has, so a job cannot name code to run.

/** The job's data in Redis. */
export interface ActionJobData {
  /** The action key (sha256 hex): the spec is `specs/<key>.json` in the store. */
  key: string;
  run: string;
  attempt: number;
  /** The node id, for people reading the queue (bull-board, redis-cli); the worker does not trust it. */
  node: string;
  /** The graph's `timeout` for the node, enforced by the worker as well (it outlives a killed coordinator). */
  timeoutSeconds?: number;
  /** Cores the action needs (the graph's `resources.cpus`, default 1). */
  cpus: number;
}

/** What a worker reports on the job's progress channel: node progress, notices, and its failure before it fails. */
export type ActionJobProgress =
  | { type: 'progress'; step: number; total: number; loss?: number; epsilon?: number; message?: string }
  | { type: 'notice'; message: string }
  | { type: 'failed'; failure: { message: string; invalidInput?: { pointer: string } } };

/** The job's return value. */
export interface ActionJobResult {
  /** Another process had committed the action first (the worker found its manifest under the action lock). */
  cached: boolean;
}

export const ACTION_KEY = /^[0-9a-f]{64}$/;

/**
 * One queue per core count: a worker with n free cores asks only the queues of actions needing at most n, so it
 * never takes an action it cannot fit. Actions without `resources.cpus` go to `actions`.
 */
export const queueNameFor = (cpus: number): string => (cpus <= 1 ? 'actions' : `actions-cpus${cpus}`);

/** A job id per attempt of an action in a run: a retry or a rerun is a new job, never confused with an old one. */
export const jobIdFor = (data: Pick<ActionJobData, 'key' | 'run' | 'attempt'>): string => `${data.key}-${data.run}-${data.attempt}`;

/** The Redis key a coordinator sets to ask the worker running a job to stop it (timeout, Ctrl-C). */
export const cancelKeyFor = (prefix: string, jobId: string): string => `${prefix}:dpkd-cancel:${jobId}`;

/** Removal of finished jobs: kept a while so a coordinator that missed the event can still read the outcome. */
export const KEEP_COMPLETED = { age: 3600, count: 10_000 };
export const KEEP_FAILED = { age: 24 * 3600, count: 10_000 };
