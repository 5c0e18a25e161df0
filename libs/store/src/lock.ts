import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { hostTag, isSameLiveProcess, ownIdentity } from './process-tag';

/** What a lock file holds: who took it, so a later process can tell whether it is stale. */
export interface LockHolder {
  pid: number;
  hostname: string;
  hostTag: string;
  /** ISO time the lock was taken. The file's mtime is the holder's heartbeat (refreshed while held). */
  startedAt: string;
  /** `<boot id>/<process start time>` of the holder (Linux), so a reused pid is not mistaken for it. */
  identity?: string;
  /** Random per acquisition: a release removes the file only if it is still this acquisition's. */
  token: string;
  /** The holder's command line (truncated), for the error a waiting user reads. */
  command: string;
}

export interface LockOptions {
  /** Wait for the holder to finish (default true); false fails at once with LockBusyError. */
  wait?: boolean;
  /** Give up waiting after this long with LockTimeoutError. Default: wait forever. */
  timeoutMs?: number;
  /** Stop waiting when this fires (Ctrl-C), with LockWaitAborted. */
  signal?: AbortSignal;
  /** Called when the wait starts because a live process holds the lock (and again if the holder changes). */
  onWait?: (wait: { lockPath: string; holder: LockHolder | undefined; description: string }) => void;
}

export class LockBusyError extends Error {
  constructor(
    readonly lockPath: string,
    readonly holder: LockHolder | undefined,
    message = `${describeHolder(lockPath, holder)} Try again when it has finished.`,
  ) {
    super(message);
    this.name = 'LockBusyError';
  }
}

export class LockTimeoutError extends LockBusyError {
  constructor(lockPath: string, holder: LockHolder | undefined, timeoutMs: number) {
    super(lockPath, holder, `Gave up after ${timeoutMs} ms waiting: ${describeHolder(lockPath, holder)}`);
    this.name = 'LockTimeoutError';
  }
}

export class LockWaitAborted extends LockBusyError {
  constructor(lockPath: string, holder: LockHolder | undefined) {
    super(lockPath, holder, `Stopped waiting (interrupted): ${describeHolder(lockPath, holder)}`);
    this.name = 'LockWaitAborted';
  }
}

/** How often a holder refreshes its lock file's mtime (the heartbeat a waiting user is shown). */
const HEARTBEAT_MS = 5_000;

function describeHolder(lockPath: string, holder: LockHolder | undefined, heartbeatMs?: number): string {
  if (!holder) return `Lock ${lockPath} is held (its holder is still writing it).`;
  const where = holder.hostTag === hostTag ? 'this machine' : `host ${holder.hostname}`;
  const beat = heartbeatMs === undefined ? '' : `, last heartbeat ${Math.max(0, Math.round((Date.now() - heartbeatMs) / 1000))} s ago`;
  return (
    `Lock ${lockPath} is held by pid ${holder.pid} on ${where} since ${holder.startedAt}${beat} (${holder.command}).` +
    (holder.hostTag === hostTag
      ? ''
      : ` A lock from another machine is never broken automatically: if that process is gone, delete ${lockPath}.`)
  );
}

/** Locks this process holds right now, by token: a lock file with our pid but an unknown token is stale (pid reuse). */
const heldTokens = new Set<string>();

/** Per lock path, the number of in-process callers holding or waiting, and the tail of their queue. */
const queues = new Map<string, { pending: number; tail: Promise<void> }>();

/**
 * Runs `fn` while holding an exclusive lock on `lockPath`, across processes and within this one.
 *
 * Across processes: the lock is a file created with O_EXCL (`wx`), which the OS creates for
 * exactly one caller. It records pid, host and start time; a lock whose process is dead on this
 * machine is stale and is broken: its pid is dead, or (Linux) the pid now belongs to another process
 * (the recorded identity, boot id + process start time, differs). The holder refreshes the file's
 * mtime every few seconds (a heartbeat shown to waiting users; never used to break a lock, because a
 * live holder can block its event loop for minutes in synchronous training). Waiting polls with
 * exponential backoff and jitter, tells `onWait` who holds the lock, and ends on `signal`.
 * Within this process: callers queue on a promise chain first, so two async callers never race
 * for the file (and never see their own lock as "someone else's").
 * Not re-entrant: calling withFileLock on the same path inside `fn` deadlocks (or, with
 * `wait: false`, fails).
 */
export async function withFileLock<T>(lockPath: string, fn: () => T | Promise<T>, options: LockOptions = {}): Promise<T> {
  const path = resolve(lockPath);
  const wait = options.wait ?? true;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const releaseQueue = await enterQueue(path, wait, deadline, options);
  try {
    const me = await acquireFile(path, wait, deadline, options);
    const heartbeat = setInterval(() => beat(path, me), HEARTBEAT_MS);
    heartbeat.unref();
    try {
      return await fn();
    } finally {
      clearInterval(heartbeat);
      releaseFile(path, me);
    }
  } finally {
    releaseQueue();
  }
}

/** Refreshes the lock file's mtime if it is still ours: a waiting user sees that the holder is alive. */
function beat(path: string, me: LockHolder): void {
  const now = observe(path);
  if (now === 'gone' || now.holder?.token !== me.token) return;
  try {
    const t = new Date();
    utimesSync(path, t, t);
  } catch {
    // a read-only lock dir or a race with release: the heartbeat is information only
  }
}

/** Resolves when `promise` does, or rejects with `onAbort()` when the signal fires first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: () => Error): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}

async function enterQueue(path: string, wait: boolean, deadline: number, options: LockOptions): Promise<() => void> {
  const timeoutMs = options.timeoutMs;
  const queue = queues.get(path) ?? { pending: 0, tail: Promise.resolve() };
  if (!wait && queue.pending > 0) throw new LockBusyError(path, undefined, `Lock ${path} is held by another task in this process.`);
  let releaseSlot!: () => void;
  const slot = new Promise<void>((r) => (releaseSlot = r));
  const before = queue.tail;
  queue.tail = before.then(() => slot);
  queue.pending++;
  queues.set(path, queue);
  const release = () => {
    releaseSlot();
    if (--queue.pending === 0) queues.delete(path);
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut =
    deadline === Infinity
      ? new Promise<'timeout'>(() => undefined)
      : new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now()))));
  let outcome: 'ready' | 'timeout';
  try {
    outcome = await abortable(
      Promise.race([before.then(() => 'ready' as const), timedOut]),
      options.signal,
      () => new LockWaitAborted(path, undefined),
    );
  } catch (error) {
    release(); // as for a timeout: our slot opens when the one before it does
    throw error;
  } finally {
    clearTimeout(timer);
  }
  if (outcome === 'timeout') {
    release(); // our slot opens as soon as the one before it does, so later callers are not stuck behind us
    throw new LockTimeoutError(path, undefined, timeoutMs ?? 0);
  }
  return release;
}

async function acquireFile(path: string, wait: boolean, deadline: number, options: LockOptions): Promise<LockHolder> {
  const timeoutMs = options.timeoutMs;
  let delayMs = 2;
  let announced: string | undefined;
  for (;;) {
    const me: LockHolder = {
      pid: process.pid,
      hostname: hostname(),
      hostTag,
      startedAt: new Date().toISOString(),
      ...(ownIdentity ? { identity: ownIdentity } : {}),
      token: randomBytes(8).toString('hex'),
      command: process.argv.slice(1).join(' ').slice(0, 200),
    };
    if (tryCreate(path, me)) {
      heldTokens.add(me.token);
      return me;
    }
    const observed = observe(path);
    if (observed === 'gone') continue;
    const verdict = breakIfStale(path, observed);
    if (verdict === 'broken') continue;
    if (verdict === 'live' && !wait)
      throw new LockBusyError(
        path,
        observed.holder,
        `${describeHolder(path, observed.holder, observed.mtimeMs)} Try again when it has finished.`,
      );
    if (Date.now() + delayMs > deadline) throw new LockTimeoutError(path, observed.holder, timeoutMs ?? 0);
    if (verdict === 'live' && observed.holder && announced !== observed.holder.token) {
      announced = observed.holder.token;
      options.onWait?.({ lockPath: path, holder: observed.holder, description: describeHolder(path, observed.holder, observed.mtimeMs) });
    }
    await abortable(sleep(delayMs * (0.5 + Math.random())), options.signal, () => new LockWaitAborted(path, observed.holder));
    delayMs = Math.min(delayMs * 1.5, 200);
  }
}

/** O_EXCL create plus one write: the content is there a few microseconds after the file (see `observe` for that window). */
function tryCreate(path: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify(holder));
  } finally {
    closeSync(fd);
  }
  return true;
}

interface Observed {
  holder: LockHolder | undefined;
  ino: number;
  mtimeMs: number;
}

/** How long an empty or unreadable lock file may exist before we call its creator dead (it died between create and write). */
const UNREADABLE_GRACE_MS = 2000;

function observe(path: string): Observed | 'gone' {
  try {
    const { ino, mtimeMs } = statSync(path);
    let holder: LockHolder | undefined;
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
      if (typeof parsed.pid === 'number' && typeof parsed.token === 'string') holder = parsed;
    } catch {
      holder = undefined;
    }
    return { holder, ino, mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
}

function isStale(observed: Observed): boolean {
  const holder = observed.holder;
  if (!holder) return Date.now() - observed.mtimeMs > UNREADABLE_GRACE_MS;
  if (holder.hostTag !== hostTag) return false;
  if (holder.pid === process.pid) return !heldTokens.has(holder.token);
  return !isSameLiveProcess(holder.pid, holder.identity);
}

/**
 * Removes a stale lock without the classic race where two breakers both see it stale and the
 * slower one deletes the lock the faster one has just taken: breaking itself takes a short
 * O_EXCL "breaker" lock, then re-checks that the lock file is still the very one judged stale.
 */
function breakIfStale(path: string, observed: Observed): 'broken' | 'live' | 'contended' {
  if (!isStale(observed)) return 'live';
  const breakerPath = `${path}.break`;
  const me = { pid: process.pid, hostTag, token: randomBytes(8).toString('hex') } as LockHolder;
  if (!tryCreate(breakerPath, me)) {
    const breaker = observe(breakerPath);
    // A breaker holds its lock for microseconds; one that is stale died mid-break.
    if (breaker !== 'gone' && isStale(breaker)) unlinkQuietly(breakerPath);
    return 'contended';
  }
  try {
    const now = observe(path);
    const same =
      now !== 'gone' && now.ino === observed.ino && now.mtimeMs === observed.mtimeMs && now.holder?.token === observed.holder?.token;
    if (same) unlinkQuietly(path);
  } finally {
    unlinkQuietly(breakerPath);
  }
  return 'broken';
}

function releaseFile(path: string, me: LockHolder): void {
  heldTokens.delete(me.token);
  const now = observe(path);
  if (now !== 'gone' && now.holder?.token === me.token) unlinkQuietly(path);
  else
    process.emitWarning(
      `Lock ${path} was taken from pid ${process.pid} while held (judged stale by another process); not removing the new holder's lock.`,
    );
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
