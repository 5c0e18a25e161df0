import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LockBusyError, LockTimeoutError, LockWaitAborted, Store, processIdentity, withFileLock } from '../src/index';
import { hostTag } from '../src/process-tag';
import { bundleWorker, killHard, startWorker } from './helpers/child';
import { useTempDirs } from './helpers/temp';

const tempDir = useTempDirs();
let worker: ReturnType<typeof bundleWorker>;
beforeAll(() => {
  worker = bundleWorker();
});
afterAll(() => worker.dispose());

/** Replays an enter/exit log and counts how often a process entered while another was inside. */
function overlaps(log: string): { overlapping: number; sections: number } {
  let inside = 0;
  let overlapping = 0;
  let sections = 0;
  for (const line of log.trim().split('\n')) {
    if (line.startsWith('enter')) {
      if (inside > 0) overlapping++;
      inside++;
      sections++;
    } else inside--;
  }
  return { overlapping, sections };
}

async function runContenders(useLock: boolean, processes: number, iterations: number) {
  const dir = tempDir();
  const counterFile = join(dir, 'counter');
  const logFile = join(dir, 'sections.log');
  writeFileSync(counterFile, '0');
  writeFileSync(logFile, '');
  const args = { root: join(dir, 'store'), lockName: 'exclusive', iterations, counterFile, logFile, useLock };
  const children = Array.from({ length: processes }, () => startWorker(worker.script, 'lock-loop', args));
  await Promise.all(children.map((c) => c.waitFor('ready')));
  for (const c of children) c.child.stdin!.write('go\n');
  const codes = await Promise.all(children.map((c) => c.exited));
  expect(codes, children.map((c) => c.stderr()).join('\n')).toEqual(children.map(() => 0));
  return { ...overlaps(readFileSync(logFile, 'utf8')), counter: Number(readFileSync(counterFile, 'utf8')) };
}

describe('withLock across processes', () => {
  test('two processes never hold the lock at once: 0 overlapping critical sections, no lost update', async () => {
    const result = await runContenders(true, 2, 40);
    expect(result).toEqual({ overlapping: 0, sections: 80, counter: 80 });
  });

  test('control: without the lock the same workload overlaps (so the check above can fail)', async () => {
    const result = await runContenders(false, 2, 40);
    expect(result.sections).toBe(80);
    expect(result.overlapping).toBeGreaterThan(0);
  });

  test('a lock held by a live process is busy; a lock whose holder was killed is stale and is broken', async () => {
    const store = await Store.open(tempDir());
    const holder = startWorker(worker.script, 'hold-lock', { root: store.root, lockName: 'node-x' });
    await holder.waitFor('held');
    const lockFile = JSON.parse(readFileSync(join(store.locksDir, 'node-x.lock'), 'utf8'));
    expect(lockFile).toMatchObject({ pid: holder.child.pid, hostname: hostname(), hostTag });
    expect(Number.isNaN(Date.parse(lockFile.startedAt))).toBe(false);

    const busy = store.withLock('node-x', () => 'never', { wait: false });
    await expect(busy).rejects.toBeInstanceOf(LockBusyError);
    await expect(busy).rejects.toThrow(new RegExp(`held by pid ${holder.child.pid}`));
    await expect(store.withLock('node-x', () => 'never', { timeoutMs: 150 })).rejects.toBeInstanceOf(LockTimeoutError);

    await killHard(holder);
    expect(await store.withLock('node-x', () => 'mine now', { wait: false })).toBe('mine now');
    expect(existsSync(join(store.locksDir, 'node-x.lock'))).toBe(false);
  });

  test('a waiting caller gets the lock once the holder dies', async () => {
    const store = await Store.open(tempDir());
    const holder = startWorker(worker.script, 'hold-lock', { root: store.root, lockName: 'w' });
    await holder.waitFor('held');
    let acquired = false;
    const waiting = store.withLock('w', () => {
      acquired = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(acquired).toBe(false);
    await killHard(holder);
    await waiting;
    expect(acquired).toBe(true);
  });

  test('stale lock files are broken: dead pid, our own pid with an unknown token, empty file; other hosts are not', async () => {
    const dir = tempDir();
    const lockPath = join(dir, 'x.lock');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const holder = (pid: number, tag = hostTag) =>
      JSON.stringify({ pid, hostname: 'h', hostTag: tag, startedAt: new Date().toISOString(), token: 'feedfacefeedface', command: 'test' });

    writeFileSync(lockPath, holder(dead));
    expect(await withFileLock(lockPath, () => 1, { wait: false })).toBe(1);

    writeFileSync(lockPath, holder(process.pid)); // left by an earlier process that had our pid
    expect(await withFileLock(lockPath, () => 2, { wait: false })).toBe(2);

    writeFileSync(lockPath, '');
    await expect(withFileLock(lockPath, () => 3, { wait: false })).rejects.toBeInstanceOf(LockBusyError);
    utimesSync(lockPath, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
    expect(await withFileLock(lockPath, () => 3, { wait: false })).toBe(3);

    writeFileSync(lockPath, holder(dead, '0badc0de'));
    await expect(withFileLock(lockPath, () => 4, { wait: false })).rejects.toThrow(/another machine is never broken automatically/);
  });
});

describe('locks know their holder: pid, host, process identity, heartbeat', () => {
  const lockFor = (pid: number, identity?: string) =>
    JSON.stringify({
      pid,
      hostname: hostname(),
      hostTag,
      startedAt: '2026-01-01T00:00:00.000Z',
      token: 'feedfacefeedface',
      command: 'dpkd run old.json',
      ...(identity ? { identity } : {}),
    });

  test('a lock whose pid now belongs to an unrelated live process (pid reuse after a restart) is broken', async () => {
    const unrelated = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const lockPath = join(tempDir(), 'reused.lock');
      const identity = processIdentity(unrelated.pid!);
      expect(identity).toBeDefined(); // Linux: boot id and start time
      writeFileSync(lockPath, lockFor(unrelated.pid!, `${identity!.split('/')[0]}/1`)); // same pid, another start time
      expect(await withFileLock(lockPath, () => 'broken and taken', { wait: false })).toBe('broken and taken');
      writeFileSync(lockPath, lockFor(unrelated.pid!, `another-boot/${identity!.split('/')[1]}`)); // a pid of an earlier boot
      expect(await withFileLock(lockPath, () => 'broken again', { wait: false })).toBe('broken again');
      writeFileSync(lockPath, lockFor(unrelated.pid!, identity)); // really that process: live
      await expect(withFileLock(lockPath, () => 'never', { wait: false })).rejects.toThrow(
        new RegExp(`held by pid ${unrelated.pid} on this machine since 2026-01-01T00:00:00.000Z, last heartbeat \\d+ s ago`),
      );
    } finally {
      unrelated.kill('SIGKILL');
    }
  });

  test('our own lock file records our identity', async () => {
    const lockPath = join(tempDir(), 'mine.lock');
    await withFileLock(lockPath, () => {
      expect(JSON.parse(readFileSync(lockPath, 'utf8')).identity).toBe(processIdentity(process.pid));
    });
  });

  test('waiting on a live lock says who holds it and since when; one abort ends the wait', async () => {
    const store = await Store.open(tempDir());
    const holder = startWorker(worker.script, 'hold-lock', { root: store.root, lockName: 'busy' });
    try {
      await holder.waitFor('held');
      const controller = new AbortController();
      const told: string[] = [];
      const waiting = store.withLock('busy', () => 'never', { signal: controller.signal, onWait: (w) => told.push(w.description) });
      for (let i = 0; i < 200 && told.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(told).toHaveLength(1);
      expect(told[0]).toMatch(new RegExp(`held by pid ${holder.child.pid} on this machine since .*last heartbeat`));
      controller.abort();
      await expect(waiting).rejects.toBeInstanceOf(LockWaitAborted);
      // the in-process queue is free again
      await expect(store.withLock('other', () => 'fine', { wait: false })).resolves.toBe('fine');
    } finally {
      await killHard(holder);
    }
  });
});

describe('withLock within one process', () => {
  test('concurrent async callers are serialized, in order', async () => {
    const store = await Store.open(tempDir());
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.withLock('q', async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 3));
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('wait: false fails at once when another task holds it; timeouts free the queue; errors release the lock', async () => {
    const store = await Store.open(tempDir());
    let release!: () => void;
    const held = store.withLock('q', () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 10));
    await expect(store.withLock('q', () => 1, { wait: false })).rejects.toThrow(/another task in this process/);
    await expect(store.withLock('q', () => 1, { timeoutMs: 20 })).rejects.toBeInstanceOf(LockTimeoutError);
    const later = store.withLock('q', () => 'later');
    release();
    await held;
    expect(await later).toBe('later');
    await expect(
      store.withLock('q', () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.withLock('q', () => 'free again', { wait: false })).toBe('free again');
  });
});
