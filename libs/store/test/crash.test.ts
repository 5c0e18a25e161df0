// Interrupted writers, simulated by SIGKILLing real child processes at chosen moments.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Store, writeFileAtomic } from '../src/index';
import { bundleWorker, killHard, startWorker } from './helpers/child';
import { useTempDirs } from './helpers/temp';

const tempDir = useTempDirs();
let worker: ReturnType<typeof bundleWorker>;
beforeAll(() => {
  worker = bundleWorker();
});
afterAll(() => worker.dispose());

describe('writeFileAtomic', () => {
  test('writes bytes, strings and streams, and replaces an existing file', async () => {
    const dir = tempDir();
    const target = join(dir, 'record.json');
    await writeFileAtomic(target, '{"v":1}');
    expect(readFileSync(target, 'utf8')).toBe('{"v":1}');
    await writeFileAtomic(
      target,
      (async function* () {
        yield 'ab';
        yield new Uint8Array([99]);
      })(),
    );
    expect(readFileSync(target, 'utf8')).toBe('abc');
    expect(readdirSync(dir)).toEqual(['record.json']);
  });

  test('a writer killed mid-write leaves the old content whole; cleanupStaleTemp then removes its temp file', async () => {
    const dir = tempDir();
    const store = await Store.open(join(dir, 'store'));
    const target = join(dir, 'run-record.bin');
    writeFileSync(target, Buffer.alloc(1000, 'o'));
    const child = startWorker(worker.script, 'write-hang', { target, tmpDir: store.tmpDir, half: 4096, fill: 'n'.charCodeAt(0) });
    await child.waitFor('half');
    const [temp] = readdirSync(store.tmpDir);
    expect(statSync(join(store.tmpDir, temp!)).size).toBe(4096);
    await killHard(child);
    expect(readFileSync(target)).toEqual(Buffer.alloc(1000, 'o'));
    expect(await store.cleanupStaleTemp()).toEqual([temp]);
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  test('a reader racing a writer that is finally killed only ever sees whole contents', async () => {
    const dir = tempDir();
    const target = join(dir, 'hot.bin');
    const size = 256 * 1024;
    await writeFileAtomic(target, Buffer.alloc(size, 'a'));
    const child = startWorker(worker.script, 'write-loop', { target, size, tmpDir: dir });
    await child.waitFor('ready');
    const seen = new Set<string>();
    let reads = 0;
    const until = Date.now() + 400;
    while (Date.now() < until || seen.size < 3) {
      const bytes = readFileSync(target);
      reads++;
      expect(bytes.length).toBe(size);
      const first = bytes[0]!;
      expect(bytes.every((b) => b === first)).toBe(true);
      seen.add(String.fromCharCode(first));
      await new Promise((r) => setImmediate(r));
    }
    await killHard(child);
    const after = readFileSync(target);
    expect(after.length).toBe(size);
    expect(after.every((b) => b === after[0])).toBe(true);
    expect(reads).toBeGreaterThan(2);
  });
});

describe('Store puts and scratch dirs under a crash', () => {
  test('a put killed mid-stream makes no object visible, and its temp file is cleaned up', async () => {
    const store = await Store.open(tempDir());
    const child = startWorker(worker.script, 'put-hang', { root: store.root, half: 100_000 });
    await child.waitFor('half');
    await killHard(child);
    expect(await store.listObjects()).toEqual([]);
    expect(readdirSync(store.objectsDir)).toEqual([]);
    const leftovers = readdirSync(store.tmpDir);
    expect(leftovers).toHaveLength(1);
    expect(await store.cleanupStaleTemp()).toEqual(leftovers);
  });

  test('cleanupStaleTemp removes the scratch dir of a dead process but not of a live one', async () => {
    const store = await Store.open(tempDir());
    const mine = await store.makeScratchDir('live');
    const child = startWorker(worker.script, 'scratch-hang', { root: store.root });
    const theirs = (await child.waitFor('scratch ')).slice('scratch '.length);
    expect(existsSync(join(theirs, 'checkpoint.bin'))).toBe(true);
    expect(await store.cleanupStaleTemp()).toEqual([]);
    await killHard(child);
    expect(await store.cleanupStaleTemp()).toEqual([theirs.split('/').pop()]);
    expect(existsSync(theirs)).toBe(false);
    expect(existsSync(mine)).toBe(true);
  });
});
