import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempName } from './process-tag';

/** Bytes to write: a whole buffer or string, or a stream of chunks (never held in memory at once). */
export type WriteSource = string | Uint8Array | AsyncIterable<Uint8Array | string>;

export interface WriteAtomicOptions {
  /** Where the temp file goes; must be on the same filesystem as the target (rename is atomic only there). Default: the target's directory. */
  tmpDir?: string;
  /** File mode of the result, e.g. 0o444 for immutable objects. Default 0o644. */
  mode?: number;
}

/**
 * Writes `path` so that a reader sees either the old content or the whole new content, never a
 * prefix, even if this process is killed half-way: the bytes go to a temp file that is fsynced,
 * then renamed over the target, then the directory is fsynced so the rename survives a power cut.
 * A crash leaves at most a temp file, which `Store.cleanupStaleTemp` removes.
 */
export async function writeFileAtomic(path: string, data: WriteSource, options: WriteAtomicOptions = {}): Promise<void> {
  const tmpDir = options.tmpDir ?? dirname(path);
  const tmpPath = join(tmpDir, `${tmpDir === dirname(path) ? '.' : ''}${tempName(basename(path))}.tmp`);
  await writeTempFile(tmpPath, data, options.mode);
  try {
    await rename(tmpPath, path);
  } catch (error) {
    await unlink(tmpPath).catch(() => undefined);
    throw error;
  }
  await fsyncDir(dirname(path));
}

/**
 * Writes and fsyncs a new file (which must not exist), calling `onChunk` with each chunk on the
 * way so a caller can hash while streaming. Removes the file again if anything fails.
 * Returns the number of bytes written.
 */
export async function writeTempFile(
  tmpPath: string,
  data: WriteSource,
  mode = 0o644,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<number> {
  const handle = await open(tmpPath, 'wx', mode);
  let size = 0;
  try {
    const chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> =
      typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
    for await (const chunk of chunks) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      onChunk?.(bytes);
      let offset = 0;
      while (offset < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset);
        offset += bytesWritten;
      }
      size += bytes.byteLength;
    }
    await handle.sync();
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(tmpPath).catch(() => undefined);
    throw error;
  }
  return size;
}

/** Makes a rename or unlink in `dir` durable. Some platforms (Windows) cannot open a directory: that is not an error there. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw error;
  } finally {
    await handle?.close();
  }
}
