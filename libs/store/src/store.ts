import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { AppendLog } from './append-log';
import { canonicalJson } from './canonical-json';
import { fsyncDir, writeFileAtomic, writeTempFile } from './atomic-write';
import { withFileLock, type LockOptions } from './lock';
import { hostTag, isProcessAlive, parseTempName, tempName } from './process-tag';

const DIGEST = /^[0-9a-f]{64}$/;
const MANIFEST_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
/** The lock that orders commits (renames into objects/ and actions/) against gc. */
const STORE_LOCK = 'store';

export interface ObjectInfo {
  digest: string;
  size: number;
  path: string;
}

export interface PutResult extends ObjectInfo {
  /** True when the object was already in the store (the put wrote nothing). */
  existed: boolean;
}

export interface CorruptObject {
  digest: string;
  path: string;
  reason: string;
  /** The sha256 the file's content really has, when it could be read. */
  actualDigest?: string;
}

export interface VerifyResult {
  checked: number;
  bytes: number;
  corrupt: CorruptObject[];
}

export interface GcOptions {
  /** Objects that are referenced and must stay. */
  keep: ReadonlySet<string>;
  /** Manifests (action keys) that must stay. */
  keepManifests: ReadonlySet<string>;
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
  /**
   * Entries written or re-put less than this long ago are kept even if unreferenced: a writer puts
   * its outputs first and its manifest just after, and gc's keep sets may predate both.
   * Default 60 000 ms; pass 0 to collect everything unreferenced.
   */
  minAgeMs?: number;
}

export interface GcResult {
  dryRun: boolean;
  removedObjects: { digest: string; size: number }[];
  removedManifests: { key: string; size: number }[];
  removedBytes: number;
  keptObjects: number;
  keptManifests: number;
  /** Unreferenced entries kept because they are younger than minAgeMs. */
  keptYoung: number;
}

export class MissingObjectError extends Error {
  constructor(
    readonly digest: string,
    readonly path: string,
  ) {
    super(`Object ${digest} is not in the store (${path}); re-run the node that produced it, or restore the store.`);
    this.name = 'MissingObjectError';
  }
}

/** A verified object: `fingerprint` identifies the file as it was hashed (see verifyObject). */
export interface VerifiedObject extends ObjectInfo {
  fingerprint: string;
}

/** The store directory cannot be opened: it is a file, or it cannot be created or written. */
export class StoreOpenError extends Error {
  constructor(
    readonly root: string,
    readonly code: string | undefined,
    reason: string,
  ) {
    super(`Cannot open the store ${root}: ${reason}`);
    this.name = 'StoreOpenError';
  }
}

/**
 * Objects this process has hashed and found intact, by path, with the file's identity when hashed
 * (device, inode, size, mtime, ctime). Any write, truncation, chmod or replacement changes the identity,
 * so the object is hashed again; an unchanged file is not hashed twice by one process.
 */
const verifiedFiles = new Map<string, string>();
const fingerprintOf = (info: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }) =>
  `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;

export class CorruptObjectError extends Error {
  constructor(
    readonly digest: string,
    readonly path: string,
    readonly actualDigest: string,
  ) {
    super(
      `Object ${path} is corrupt: its content hashes to ${actualDigest}, not ${digest}. Run \`dpkd cache verify\`, delete it, and re-run the node that produced it.`,
    );
    this.name = 'CorruptObjectError';
  }
}

/**
 * A content-addressed store in one directory (see README for the layout): immutable objects by
 * sha256, action manifests by key, a temp dir on the same filesystem so every write can end in a
 * rename, lock files, and append-only logs.
 *
 * The API is promise-based: hashing a 100 MB output or waiting for a lock must not block the
 * engine's event loop (progress, other fibers). Lock files themselves use short sync calls.
 */
export class Store {
  readonly objectsDir: string;
  readonly actionsDir: string;
  readonly tmpDir: string;
  readonly locksDir: string;
  readonly logsDir: string;

  private constructor(readonly root: string) {
    this.objectsDir = join(root, 'objects');
    this.actionsDir = join(root, 'actions');
    this.tmpDir = join(root, 'tmp');
    this.locksDir = join(root, 'locks');
    this.logsDir = join(root, 'logs');
  }

  /** Opens (creating if needed) the store rooted at `root`. */
  static async open(root: string): Promise<Store> {
    const store = new Store(resolve(root));
    const rootInfo = await statOrUndefined(store.root).catch(() => undefined);
    if (rootInfo && !rootInfo.isDirectory()) {
      throw new StoreOpenError(
        store.root,
        'ENOTDIR',
        'it is a file, not a directory. Pass --store a directory (or set DPKD_STORE to one).',
      );
    }
    for (const dir of [store.objectsDir, store.actionsDir, store.tmpDir, store.locksDir, store.logsDir]) {
      try {
        await makeDirs(dir);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const why =
          code === 'ENOTDIR' || code === 'EEXIST'
            ? `${dir} is a file where the store keeps a directory (not a dpkd store?)`
            : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
              ? `cannot create ${dir} (${code}: no write permission, or a read-only filesystem)`
              : `cannot create ${dir} (${(error as Error).message})`;
        throw new StoreOpenError(store.root, code, why);
      }
    }
    return store;
  }

  // ---- locks ---------------------------------------------------------------------------------

  /** Runs `fn` under the cross-process lock `locks/<name>.lock` (see withFileLock). */
  withLock<T>(name: string, fn: () => T | Promise<T>, options?: LockOptions): Promise<T> {
    if (!MANIFEST_KEY.test(name)) throw new TypeError(`Lock name "${name}" must be letters, digits, '.', '_' or '-'.`);
    return withFileLock(join(this.locksDir, `${name}.lock`), fn, options);
  }

  // ---- objects -------------------------------------------------------------------------------

  /** Where the object with this digest lives (objects/ab/cdef…), whether or not it exists. */
  objectPath(digest: string): string {
    assertDigest(digest);
    return join(this.objectsDir, digest.slice(0, 2), digest.slice(2));
  }

  async has(digest: string): Promise<boolean> {
    return (await statOrUndefined(this.objectPath(digest))) !== undefined;
  }

  /** Stores bytes (a string is stored as UTF-8). Putting content that is already there writes nothing. */
  async putBytes(data: string | Uint8Array): Promise<PutResult> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const digest = createHash('sha256').update(bytes).digest('hex');
    const existing = await this.refreshIfPresent(digest);
    if (existing) return existing;
    const tmpPath = join(this.tmpDir, tempName('put'));
    await writeTempFile(tmpPath, bytes, 0o444);
    return this.commitObject(tmpPath, digest, bytes.byteLength);
  }

  /** Stores a stream, hashing it as it is written to a temp file: memory use does not grow with its size. */
  async putStream(source: AsyncIterable<Uint8Array | string>): Promise<PutResult> {
    const hash = createHash('sha256');
    const tmpPath = join(this.tmpDir, tempName('put'));
    const size = await writeTempFile(tmpPath, source, 0o444, (chunk) => hash.update(chunk));
    return this.commitObject(tmpPath, hash.digest('hex'), size);
  }

  /**
   * Stores a file. By default it is copied (streamed, hashed on the way). With `move: true` it is
   * hashed in place and renamed into the store, which is cheap for large outputs in a scratch dir
   * on the same filesystem; the file must not change after the call starts (it becomes the object).
   */
  async putFile(path: string, options: { move?: boolean } = {}): Promise<PutResult> {
    if (!options.move) return this.putStream(createReadStream(path));
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.byteLength;
    }
    const digest = hash.digest('hex');
    const handle = await open(path, 'r+');
    try {
      await handle.sync();
      await handle.chmod(0o444);
      const now = new Date();
      await handle.utimes(now, now); // rename keeps mtime; gc's grace period counts from the put
    } finally {
      await handle.close();
    }
    try {
      return await this.commitObject(path, digest, size);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      // Another filesystem: rename cannot move it, so copy and then consume the source.
      const result = await this.putStream(createReadStream(path));
      await unlink(path);
      return result;
    }
  }

  /** The object's bytes, re-hashed so that a corrupt object is never handed out as valid. */
  async getBytes(digest: string, options: { verify?: boolean } = {}): Promise<Buffer> {
    const path = this.objectPath(digest);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingObjectError(digest, path);
      throw error;
    }
    if (options.verify ?? true) {
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual !== digest) throw new CorruptObjectError(digest, path, actual);
    }
    return bytes;
  }

  /**
   * Copies an object to `dest` atomically, verifying its hash while streaming: if the object turns
   * out corrupt, `dest` is left untouched and CorruptObjectError is thrown.
   */
  async copyTo(digest: string, dest: string, options: { tmpDir?: string } = {}): Promise<void> {
    const path = this.objectPath(digest);
    if (!(await statOrUndefined(path))) throw new MissingObjectError(digest, path);
    async function* verified(): AsyncIterable<Uint8Array> {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        yield chunk;
      }
      const actual = hash.digest('hex');
      if (actual !== digest) throw new CorruptObjectError(digest, path, actual);
    }
    await writeFileAtomic(dest, verified(), options);
  }

  /**
   * Checks an object against its digest with one streaming sha256 pass (memory does not grow with its
   * size) and returns it; MissingObjectError or CorruptObjectError otherwise. An object this process has
   * already verified, or whose `trusted` fingerprint (from an earlier verifyObject, e.g. in the parent
   * process of a worker) still matches the file, is not hashed again.
   */
  async verifyObject(digest: string, options: { trusted?: string } = {}): Promise<VerifiedObject> {
    const path = this.objectPath(digest);
    const info = await statOrUndefined(path);
    if (!info) throw new MissingObjectError(digest, path);
    const fingerprint = fingerprintOf(info);
    if (verifiedFiles.get(path) === fingerprint || options.trusted === fingerprint) return { digest, size: info.size, path, fingerprint };
    const hash = createHash('sha256');
    try {
      for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingObjectError(digest, path);
      throw error;
    }
    const actual = hash.digest('hex');
    if (actual !== digest) {
      verifiedFiles.delete(path);
      throw new CorruptObjectError(digest, path, actual);
    }
    verifiedFiles.set(path, fingerprint);
    return { digest, size: info.size, path, fingerprint };
  }

  /** Every object in the store (unordered). */
  async listObjects(): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    for (const { name, path } of await this.objectFiles()) {
      if (!DIGEST.test(name)) continue;
      const info = await statOrUndefined(path);
      if (info) found.push({ digest: name, size: info.size, path });
    }
    return found;
  }

  /** Re-hashes every object; returns the ones whose content does not match their name (and stray files). */
  async verify(): Promise<VerifyResult> {
    const result: VerifyResult = { checked: 0, bytes: 0, corrupt: [] };
    for (const { name, path } of await this.objectFiles()) {
      if (!DIGEST.test(name)) {
        result.corrupt.push({ digest: name, path, reason: 'file name is not a sha256 digest (not written by the store)' });
        continue;
      }
      let actual: string;
      let size = 0;
      try {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
          hash.update(chunk);
          size += chunk.byteLength;
        }
        actual = hash.digest('hex');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed by a concurrent gc
        result.corrupt.push({ digest: name, path, reason: `unreadable: ${(error as Error).message}` });
        continue;
      }
      result.checked++;
      result.bytes += size;
      if (actual !== name)
        result.corrupt.push({
          digest: name,
          path,
          reason: 'content does not match its digest (truncated or modified)',
          actualDigest: actual,
        });
    }
    return result;
  }

  // ---- manifests -----------------------------------------------------------------------------

  manifestPath(key: string): string {
    if (!MANIFEST_KEY.test(key)) {
      throw new TypeError(
        `Manifest key "${key}" is not valid: use 1-200 letters, digits, '.', '_' or '-' (an action key is a sha256 hex digest).`,
      );
    }
    return join(this.actionsDir, `${key}.json`);
  }

  /** Writes (or replaces) the manifest for an action key, atomically, as canonical JSON. */
  async putManifest(key: string, manifest: unknown): Promise<void> {
    const path = this.manifestPath(key);
    const tmpPath = join(this.tmpDir, tempName('manifest'));
    await writeTempFile(tmpPath, `${canonicalJson(manifest)}\n`);
    await this.withLock(STORE_LOCK, async () => {
      await rename(tmpPath, path).catch(async (error) => {
        await unlink(tmpPath).catch(() => undefined);
        throw error;
      });
    });
    await fsyncDir(this.actionsDir);
  }

  async getManifest<T = unknown>(key: string): Promise<T | undefined> {
    const path = this.manifestPath(key);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`Manifest ${path} is not valid JSON (edited by hand?). Delete it; the action will run again.`);
    }
  }

  /** Action keys of all manifests, sorted. */
  async listManifests(): Promise<string[]> {
    const names = await readdir(this.actionsDir);
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -'.json'.length))
      .filter((k) => MANIFEST_KEY.test(k))
      .sort();
  }

  /** Removes a manifest; false if there was none. */
  async deleteManifest(key: string): Promise<boolean> {
    const path = this.manifestPath(key);
    return this.withLock(STORE_LOCK, async () => {
      try {
        await unlink(path);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw error;
      }
    });
  }

  // ---- gc ------------------------------------------------------------------------------------

  /**
   * Removes objects not in `keep` and manifests not in `keepManifests`, under the store lock, so
   * that no put commits (renames into the store) while gc lists and deletes. Objects still being
   * written live in tmp/ and are never touched here.
   */
  async gc(options: GcOptions): Promise<GcResult> {
    const dryRun = options.dryRun ?? false;
    const minAgeMs = options.minAgeMs ?? 60_000;
    return this.withLock(STORE_LOCK, async () => {
      const youngAfter = Date.now() - minAgeMs;
      const result: GcResult = {
        dryRun,
        removedObjects: [],
        removedManifests: [],
        removedBytes: 0,
        keptObjects: 0,
        keptManifests: 0,
        keptYoung: 0,
      };
      for (const object of await this.listObjects()) {
        if (options.keep.has(object.digest)) {
          result.keptObjects++;
          continue;
        }
        const info = await statOrUndefined(object.path);
        if (!info) continue;
        if (info.mtimeMs > youngAfter) {
          result.keptYoung++;
          continue;
        }
        if (!dryRun) await unlink(object.path);
        result.removedObjects.push({ digest: object.digest, size: info.size });
        result.removedBytes += info.size;
      }
      for (const key of await this.listManifests()) {
        if (options.keepManifests.has(key)) {
          result.keptManifests++;
          continue;
        }
        const path = this.manifestPath(key);
        const info = await statOrUndefined(path);
        if (!info) continue;
        if (info.mtimeMs > youngAfter) {
          result.keptYoung++;
          continue;
        }
        if (!dryRun) await unlink(path);
        result.removedManifests.push({ key, size: info.size });
        result.removedBytes += info.size;
      }
      return result;
    });
  }

  // ---- scratch and temp ----------------------------------------------------------------------

  /** A fresh directory inside tmp/ (same filesystem as objects, so putFile(…, { move: true }) is a rename). The caller removes it. */
  async makeScratchDir(prefix: string): Promise<string> {
    const dir = join(this.tmpDir, tempName(`scratch-${prefix}`));
    await mkdir(dir);
    return dir;
  }

  /**
   * Removes temp files and scratch dirs in tmp/ whose process is dead on this machine. Entries from
   * other hosts (a shared store) are removed only when `olderThanMs` is given and they are older.
   * Returns the removed names.
   */
  async cleanupStaleTemp(options: { olderThanMs?: number } = {}): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.tmpDir)) {
      const owner = parseTempName(name);
      if (!owner) continue;
      const path = join(this.tmpDir, name);
      let stale = owner.hostTag === hostTag ? owner.pid !== process.pid && !isProcessAlive(owner.pid) : false;
      if (!stale && owner.hostTag !== hostTag && options.olderThanMs !== undefined) {
        const info = await statOrUndefined(path);
        stale = info !== undefined && Date.now() - info.mtimeMs > options.olderThanMs;
      }
      if (!stale) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }

  // ---- logs ----------------------------------------------------------------------------------

  /** The hash-chained log `logs/<name>.jsonl` (e.g. the privacy ledger). */
  appendLog<T extends object = Record<string, unknown>>(name: string): AppendLog<T> {
    if (!MANIFEST_KEY.test(name)) throw new TypeError(`Log name "${name}" must be letters, digits, '.', '_' or '-'.`);
    return new AppendLog<T>(join(this.logsDir, `${name}.jsonl`));
  }

  // ---- internals -----------------------------------------------------------------------------

  /**
   * If the object exists and this process knows it intact, marks it fresh (mtime) under the store lock and
   * returns it: a re-put of an object gc is about to collect must either win (gc sees it young) or find it
   * gone and write it. An existing object not known intact is replaced by the put instead (commitObject).
   */
  private async refreshIfPresent(digest: string): Promise<PutResult | undefined> {
    const path = this.objectPath(digest);
    if (!(await this.knownIntact(path))) return undefined;
    return this.withLock(STORE_LOCK, async () => ((await this.knownIntact(path)) ? this.touch(path, digest) : undefined));
  }

  /** Whether this process has hashed (or written) the file and it has not changed since. */
  private async knownIntact(path: string): Promise<boolean> {
    const info = await statOrUndefined(path);
    return info !== undefined && verifiedFiles.get(path) === fingerprintOf(info);
  }

  /** Records that the file at `path` holds its digest's content, as it is now. */
  private async remember(path: string): Promise<void> {
    const info = await statOrUndefined(path);
    if (info) verifiedFiles.set(path, fingerprintOf(info));
  }

  private async touch(path: string, digest: string): Promise<PutResult | undefined> {
    const info = await statOrUndefined(path);
    if (!info) return undefined;
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined); // not ours to touch (another user's store): gc grace is only lost
    await this.remember(path);
    return { digest, size: info.size, path, existed: true };
  }

  /**
   * Renames a finished, fsynced file into objects/ under the store lock. If the object exists and this
   * process knows it intact, the new file is dropped (nothing rewritten); otherwise the new file, whose
   * hash was just computed, replaces it: a corrupt or truncated object is repaired by putting its content
   * again, never trusted because of its name.
   */
  private async commitObject(filePath: string, digest: string, size: number): Promise<PutResult> {
    const path = this.objectPath(digest);
    const result = await this.withLock(STORE_LOCK, async (): Promise<PutResult & { wrote: boolean }> => {
      if (await this.knownIntact(path)) {
        const existing = await this.touch(path, digest);
        if (existing) {
          await unlink(filePath);
          return { ...existing, wrote: false };
        }
      }
      const existed = (await statOrUndefined(path)) !== undefined;
      await mkdir(join(this.objectsDir, digest.slice(0, 2)), { recursive: true });
      await rename(filePath, path);
      await this.remember(path);
      return { digest, size, path, existed, wrote: true };
    });
    if (result.wrote) await fsyncDir(join(this.objectsDir, digest.slice(0, 2)));
    const { wrote: _wrote, ...put } = result;
    return put;
  }

  private async objectFiles(): Promise<{ name: string; path: string }[]> {
    const files: { name: string; path: string }[] = [];
    for (const prefix of (await readdir(this.objectsDir)).sort()) {
      const dir = join(this.objectsDir, prefix);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') {
          files.push({ name: prefix, path: dir });
          continue;
        }
        throw error;
      }
      for (const rest of names.sort()) files.push({ name: prefix + rest, path: join(dir, rest) });
    }
    return files;
  }
}

function assertDigest(digest: string): void {
  if (!DIGEST.test(digest)) throw new TypeError(`"${digest}" is not a sha256 digest (64 lower-case hex characters).`);
}

/**
 * `mkdir -p`, one level at a time. Node's own `mkdir(dir, { recursive: true })` never returns when the kernel answers
 * ENOENT for a directory whose parent exists (any path under /proc does): `--store /proc/x` hung instead of failing.
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let path = dir; !(await statOrUndefined(path)); path = dirname(path)) {
    missing.unshift(path);
    if (dirname(path) === path) break;
  }
  for (const path of missing) {
    await mkdir(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error; // another process made it first
    });
  }
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
