import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CorruptObjectError, MissingObjectError, Store, StoreOpenError } from '../src/index';
import { useTempDirs } from './helpers/temp';

const tempDir = useTempDirs();
const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Backdates a file so gc's grace period does not protect it. */
const age = (path: string) => utimesSync(path, new Date(2000, 0, 1), new Date(2000, 0, 1));

describe('Store layout', () => {
  test('open creates objects, actions, tmp, locks and logs', async () => {
    const root = join(tempDir(), '.dpkd');
    await Store.open(root);
    expect(readdirSync(root).sort()).toEqual(['actions', 'locks', 'logs', 'objects', 'tmp']);
  });
});

describe('objects', () => {
  test('putBytes stores content under its sha256 as objects/ab/cdef…, read-only', async () => {
    const store = await Store.open(tempDir());
    const put = await store.putBytes('hello store');
    expect(put.digest).toBe(sha('hello store'));
    expect(put.path).toBe(join(store.root, 'objects', put.digest.slice(0, 2), put.digest.slice(2)));
    expect(put).toMatchObject({ size: 11, existed: false });
    expect(readFileSync(put.path, 'utf8')).toBe('hello store');
    expect(statSync(put.path).mode & 0o222).toBe(0);
    expect(await store.has(put.digest)).toBe(true);
    expect((await store.getBytes(put.digest)).toString()).toBe('hello store');
  });

  test('putting an existing object is a no-op: same digest, no rewrite, nothing left in tmp', async () => {
    const store = await Store.open(tempDir());
    const first = await store.putBytes(new Uint8Array([1, 2, 3]));
    const inode = statSync(first.path).ino;
    const again = await store.putBytes(new Uint8Array([1, 2, 3]));
    const viaStream = await store.putStream(
      (async function* () {
        yield new Uint8Array([1, 2]);
        yield new Uint8Array([3]);
      })(),
    );
    expect(again).toMatchObject({ digest: first.digest, existed: true });
    expect(viaStream).toMatchObject({ digest: first.digest, existed: true, size: 3 });
    expect(statSync(first.path).ino).toBe(inode);
    expect(await store.listObjects()).toHaveLength(1);
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  test('putFile streams: its digest equals sha256 of the content, for a file larger than one read chunk', async () => {
    const dir = tempDir();
    const store = await Store.open(join(dir, 'store'));
    const content = randomBytes(3 * 1024 * 1024 + 17);
    const source = join(dir, 'big.bin');
    writeFileSync(source, content);
    const put = await store.putFile(source);
    expect(put).toMatchObject({ digest: sha(content), size: content.length, existed: false });
    expect(existsSync(source)).toBe(true);
    expect(readFileSync(put.path).equals(content)).toBe(true);
  });

  test('putFile with move renames the file into the store (source gone, same inode)', async () => {
    const store = await Store.open(tempDir());
    const scratch = await store.makeScratchDir('train');
    const source = join(scratch, 'model.bin');
    writeFileSync(source, 'weights');
    const inode = statSync(source).ino;
    const put = await store.putFile(source, { move: true });
    expect(put.digest).toBe(sha('weights'));
    expect(existsSync(source)).toBe(false);
    expect(statSync(put.path).ino).toBe(inode);
    writeFileSync(source, 'weights');
    expect(await store.putFile(source, { move: true })).toMatchObject({ digest: put.digest, existed: true });
    expect(existsSync(source)).toBe(false);
  });

  test('getBytes and copyTo refuse a corrupt object; copyTo leaves the destination untouched', async () => {
    const dir = tempDir();
    const store = await Store.open(join(dir, 'store'));
    const put = await store.putBytes('original content');
    const dest = join(dir, 'out.txt');
    await store.copyTo(put.digest, dest);
    expect(readFileSync(dest, 'utf8')).toBe('original content');
    chmodSync(put.path, 0o644);
    writeFileSync(put.path, 'tampered content');
    await expect(store.getBytes(put.digest)).rejects.toBeInstanceOf(CorruptObjectError);
    await expect(store.copyTo(put.digest, dest)).rejects.toThrow(/corrupt/);
    expect(readFileSync(dest, 'utf8')).toBe('original content');
    expect(readdirSync(dir).sort()).toEqual(['out.txt', 'store']);
    await expect(store.getBytes('0'.repeat(64))).rejects.toBeInstanceOf(MissingObjectError);
    await expect(store.has('not-a-digest')).rejects.toThrow(/not a sha256 digest/);
  });
});

describe('verified reads', () => {
  test('verifyObject hashes an object against its digest: intact passes, flipped, truncated, appended-to and deleted fail', async () => {
    const store = await Store.open(tempDir());
    const put = await store.putBytes('verified content');
    const ok = await store.verifyObject(put.digest);
    expect(ok).toMatchObject({ digest: put.digest, size: 16, path: put.path });
    expect(typeof ok.fingerprint).toBe('string');
    const damage: Array<(path: string) => void> = [
      (path) => writeFileSync(path, 'verified contenT'), // same size: a bit-level edit
      (path) => truncateSync(path, 4),
      (path) => writeFileSync(path, 'verified content + garbage'),
    ];
    for (const inflict of damage) {
      const again = await store.putBytes('verified content'); // repaired by the re-put (see below)
      chmodSync(again.path, 0o644);
      inflict(again.path);
      await expect(store.verifyObject(put.digest)).rejects.toBeInstanceOf(CorruptObjectError);
      await expect(store.verifyObject(put.digest, { trusted: ok.fingerprint })).rejects.toBeInstanceOf(CorruptObjectError); // an old fingerprint vouches for nothing
    }
    chmodSync(put.path, 0o644);
    writeFileSync(put.path, 'x');
    await store.putBytes('verified content');
    await expect(store.verifyObject(put.digest)).resolves.toMatchObject({ size: 16 });
    rmSync(put.path);
    await expect(store.verifyObject(put.digest)).rejects.toBeInstanceOf(MissingObjectError);
  });

  test('putting the content of a corrupt object again replaces it (a name is never trusted over a fresh hash)', async () => {
    const store = await Store.open(tempDir());
    const put = await store.putBytes('model weights');
    chmodSync(put.path, 0o644);
    writeFileSync(put.path, 'model weightZ'); // same size
    const source = join(tempDir(), 'weights.bin');
    writeFileSync(source, 'model weights');
    expect(await store.putFile(source, { move: true })).toMatchObject({ digest: put.digest, existed: true });
    expect(readFileSync(put.path, 'utf8')).toBe('model weights');
    expect(statSync(put.path).mode & 0o222).toBe(0);
    await expect(store.verifyObject(put.digest)).resolves.toBeTruthy();
  });

  test('opening a store at a path that is a file is a one-line StoreOpenError, not a stack trace from mkdir', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    await expect(Store.open(file)).rejects.toBeInstanceOf(StoreOpenError);
    await expect(Store.open(file)).rejects.toThrow(/is a file, not a directory/);
    await expect(Store.open(join(file, 'below'))).rejects.toThrow(/Cannot open the store/);
  });

  test('a store where no directory can be made (/proc) fails with a StoreOpenError instead of hanging in mkdir -p', async () => {
    await expect(Store.open('/proc/dpkd-store-test/store')).rejects.toThrow(
      /Cannot open the store.*cannot create \/proc\/dpkd-store-test/s,
    );
  });
});

describe('verify', () => {
  test('finds truncated and modified objects (digest and path) and stray files, and passes intact ones', async () => {
    const store = await Store.open(tempDir());
    const intact = await store.putBytes('intact');
    const truncated = await store.putBytes('this object will be truncated');
    const modified = await store.putBytes('this object will be modified');
    expect((await store.verify()).corrupt).toEqual([]);
    chmodSync(truncated.path, 0o644);
    truncateSync(truncated.path, 5);
    chmodSync(modified.path, 0o644);
    writeFileSync(modified.path, 'this object will be MODIFIED');
    writeFileSync(join(store.objectsDir, intact.digest.slice(0, 2), 'stray.txt'), 'x');
    const result = await store.verify();
    expect(result.checked).toBe(3);
    const byDigest = Object.fromEntries(result.corrupt.map((c) => [c.digest, c]));
    expect(Object.keys(byDigest).sort()).toEqual([truncated.digest, modified.digest, `${intact.digest.slice(0, 2)}stray.txt`].sort());
    expect(byDigest[truncated.digest]).toMatchObject({ path: truncated.path, actualDigest: sha('this ') });
    expect(byDigest[modified.digest]).toMatchObject({ path: modified.path, actualDigest: sha('this object will be MODIFIED') });
  });
});

describe('manifests', () => {
  test('put, get, list and delete round-trip plain JSON, written as canonical JSON', async () => {
    const store = await Store.open(tempDir());
    const key = sha('action');
    expect(await store.getManifest(key)).toBeUndefined();
    await store.putManifest(key, { outputs: { model: sha('m') }, timings: { ms: 12.5 } });
    await store.putManifest('other-key', { outputs: {} });
    expect(await store.getManifest(key)).toEqual({ outputs: { model: sha('m') }, timings: { ms: 12.5 } });
    expect(readFileSync(store.manifestPath(key), 'utf8')).toBe(`{"outputs":{"model":"${sha('m')}"},"timings":{"ms":12.5}}\n`);
    expect(await store.listManifests()).toEqual([key, 'other-key'].sort());
    await store.putManifest(key, { outputs: {}, replaced: true });
    expect(await store.getManifest(key)).toEqual({ outputs: {}, replaced: true });
    expect(await store.deleteManifest(key)).toBe(true);
    expect(await store.deleteManifest(key)).toBe(false);
    expect(await store.listManifests()).toEqual(['other-key']);
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  test('rejects keys that could escape actions/ and values that are not JSON', async () => {
    const store = await Store.open(tempDir());
    await expect(store.putManifest('../evil', {})).rejects.toThrow(/not valid/);
    await expect(store.putManifest('a/b', {})).rejects.toThrow(/not valid/);
    await expect(store.putManifest('ok', { n: Number.NaN })).rejects.toThrow(/NaN/);
    expect(await store.listManifests()).toEqual([]);
  });
});

describe('gc', () => {
  async function populated() {
    const store = await Store.open(tempDir());
    const a = await store.putBytes('referenced');
    const b = await store.putBytes('garbage one');
    const c = await store.putBytes('garbage two!');
    await store.putManifest('keep-me', { outputs: [a.digest] });
    await store.putManifest('drop-me', { outputs: [b.digest] });
    for (const path of [a.path, b.path, c.path, store.manifestPath('keep-me'), store.manifestPath('drop-me')]) age(path);
    return { store, a, b, c };
  }

  test('dry run reports what it would remove, with byte counts, and removes nothing', async () => {
    const { store, a, b, c } = await populated();
    const result = await store.gc({ keep: new Set([a.digest]), keepManifests: new Set(['keep-me']), dryRun: true });
    expect(result.dryRun).toBe(true);
    expect(result.removedObjects.sort((x, y) => x.size - y.size)).toEqual([
      { digest: b.digest, size: 11 },
      { digest: c.digest, size: 12 },
    ]);
    expect(result.removedManifests.map((m) => m.key)).toEqual(['drop-me']);
    expect(result.removedBytes).toBe(11 + 12 + statSync(store.manifestPath('drop-me')).size);
    expect((await store.listObjects()).length).toBe(3);
    expect(await store.listManifests()).toEqual(['drop-me', 'keep-me']);
  });

  test('removes unreferenced objects and manifests and keeps referenced ones', async () => {
    const { store, a, b, c } = await populated();
    const result = await store.gc({ keep: new Set([a.digest]), keepManifests: new Set(['keep-me']) });
    expect(result).toMatchObject({ dryRun: false, keptObjects: 1, keptManifests: 1, keptYoung: 0 });
    expect((await store.listObjects()).map((o) => o.digest)).toEqual([a.digest]);
    expect(await store.listManifests()).toEqual(['keep-me']);
    expect(await store.has(b.digest)).toBe(false);
    expect(await store.has(c.digest)).toBe(false);
    expect((await store.getBytes(a.digest)).toString()).toBe('referenced');
  });

  test('keeps unreferenced entries younger than minAgeMs (just put, manifest not yet written); a re-put refreshes an old object', async () => {
    const { store, b } = await populated();
    const fresh = await store.putBytes('just written');
    const reput = await store.putBytes('garbage one');
    expect(reput).toMatchObject({ digest: b.digest, existed: true });
    const result = await store.gc({ keep: new Set(), keepManifests: new Set(), minAgeMs: 60_000 });
    const remaining = (await store.listObjects()).map((o) => o.digest).sort();
    expect(remaining).toEqual([fresh.digest, b.digest].sort());
    expect(result.keptYoung).toBe(2);
    expect((await store.gc({ keep: new Set(), keepManifests: new Set(), minAgeMs: 0 })).removedObjects).toHaveLength(2);
    expect(await store.listObjects()).toEqual([]);
  });

  test('waits for the store lock, so it never runs while a put is committing', async () => {
    const { store, b } = await populated();
    const order: string[] = [];
    const holder = store.withLock('store', async () => {
      order.push('writer holds lock');
      await new Promise((r) => setTimeout(r, 50));
      order.push('writer releases');
    });
    const gc = store.gc({ keep: new Set(), keepManifests: new Set(), minAgeMs: 0 }).then((r) => {
      order.push('gc done');
      return r;
    });
    await holder;
    expect((await gc).removedObjects.map((o) => o.digest)).toContain(b.digest);
    expect(order).toEqual(['writer holds lock', 'writer releases', 'gc done']);
  });
});
