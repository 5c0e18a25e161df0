import { appendFile, mkdir, open, readFile, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalJson } from './canonical-json';
import { sha256Hex } from './hash';
import { writeFileAtomic } from './atomic-write';
import { withFileLock, type LockOptions } from './lock';

/** The `prev` of the first line. */
export const GENESIS_HASH = '0'.repeat(64);

/** A stored log line: the caller's entry plus its position and chain links. */
export type LogRecord<T extends object> = T & {
  /** 1-based; equals the line number. */
  seq: number;
  /** `hash` of the previous line (GENESIS_HASH for the first). */
  prev: string;
  /** sha256 of the canonical JSON of this record without `hash`. */
  hash: string;
};

export interface TornTail {
  /** Byte offset where the incomplete last line starts. */
  offset: number;
  bytes: number;
}

export interface LogVerifyResult {
  ok: boolean;
  /**
   * Every complete line chains and the head agrees: true when ok, and also when the only fault is a torn
   * last line (an append that was interrupted mid-write, which the next append sets aside).
   */
  intact: boolean;
  /** Entries checked and found good (all of them when ok). */
  entries: number;
  /** seq of the first line that failed (for a torn tail: the seq it would have had). */
  firstBadSeq?: number;
  reason?: string;
  torn?: TornTail;
}

const RESERVED = ['seq', 'prev', 'hash'] as const;

/**
 * An append-only, hash-chained JSON-lines log (the privacy ledger is one). Each line is the
 * canonical JSON of `{...entry, seq, prev, hash}` where `prev` is the previous line's hash, so an
 * edited, removed, reordered or inserted line breaks the chain. A side file `<path>.head` holds
 * the last seq and hash, so that removing lines from the end is noticed too.
 *
 * What it does not do: stop someone who rewrites the whole chain and the head (there is no
 * secret); anchor the head somewhere else (a run record, git) for that.
 *
 * Appends hold the lock `<path>.lock` and write each line with one write + fsync. A crash can
 * still leave an incomplete last line (a "torn tail"): reads report it instead of failing, and
 * the next append moves it to `<path>.torn` before writing.
 */
export class AppendLog<T extends object = Record<string, unknown>> {
  readonly headPath: string;
  readonly lockPath: string;
  readonly tornPath: string;

  constructor(readonly path: string) {
    this.headPath = `${path}.head`;
    this.lockPath = `${path}.lock`;
    this.tornPath = `${path}.torn`;
  }

  /** Appends one entry atomically (under the log's lock) and returns it as stored. */
  async append(entry: T, lockOptions?: LockOptions): Promise<LogRecord<T>> {
    for (const key of RESERVED) {
      if (key in entry) throw new TypeError(`A log entry must not have its own "${key}" field: the log sets seq, prev and hash.`);
    }
    canonicalJson(entry); // fail on a non-JSON entry before taking the lock
    await mkdirFor(this.path);
    return withFileLock(
      this.lockPath,
      async () => {
        const tail = await this.readTail();
        if (tail.torn) await this.moveTornTail(tail.torn);
        const unhashed = { ...entry, seq: tail.lastSeq + 1, prev: tail.lastHash };
        const hash = sha256Hex(canonicalJson(unhashed));
        const record = { ...unhashed, hash } as LogRecord<T>;
        const handle = await open(this.path, 'a');
        try {
          await handle.write(`${canonicalJson(record)}\n`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await writeFileAtomic(this.headPath, `${canonicalJson({ seq: record.seq, hash })}\n`);
        return record;
      },
      lockOptions,
    );
  }

  /** All complete entries, and the torn tail if the last line is incomplete. Does not check the chain (see verify). */
  async readAll(): Promise<{ entries: LogRecord<T>[]; torn?: TornTail }> {
    const { lines, torn } = await this.readLines();
    const entries = lines.map((line, i) => {
      try {
        return JSON.parse(line) as LogRecord<T>;
      } catch {
        throw new Error(`${this.path} line ${i + 1} is not JSON (edited by hand?); run verify to see what is wrong.`);
      }
    });
    return torn ? { entries, torn } : { entries };
  }

  /** Checks every line's hash, seq and link to the previous line, and the head file. */
  async verify(): Promise<LogVerifyResult> {
    const { lines, torn } = await this.readLines();
    let prev = GENESIS_HASH;
    const bad = (index: number, reason: string): LogVerifyResult => ({
      ok: false,
      intact: false,
      entries: index,
      firstBadSeq: index + 1,
      reason,
      ...(torn ? { torn } : {}),
    });
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return bad(i, `line ${i + 1} is not JSON`);
      }
      if (typeof record !== 'object' || record === null || Array.isArray(record)) return bad(i, `line ${i + 1} is not a JSON object`);
      if (canonicalJson(record) !== line) return bad(i, `line ${i + 1} is not in canonical form (edited by hand?)`);
      const { hash, ...unhashed } = record;
      if (hash !== sha256Hex(canonicalJson(unhashed))) return bad(i, `line ${i + 1} does not match its hash: it was edited`);
      if (record.seq !== i + 1) return bad(i, `line ${i + 1} has seq ${String(record.seq)}: lines were removed, inserted or reordered`);
      if (record.prev !== prev)
        return bad(
          i,
          `line ${i + 1} does not link to the line before it (prev ≠ previous hash): lines were removed, inserted or reordered`,
        );
      prev = hash as string;
    }
    const count = lines.length;
    let head: { seq: number; hash: string } | undefined;
    try {
      head = await this.readHead();
    } catch (error) {
      return bad(count, (error as Error).message);
    }
    if (head !== undefined && (typeof head.seq !== 'number' || typeof head.hash !== 'string'))
      return bad(count, `${this.headPath} has no seq and hash`);
    // The head is written just after the line, so a crash between the two leaves it one behind.
    const headSeq = head?.seq ?? 0;
    if (headSeq > count)
      return bad(count, `the log ends at seq ${count} but its head records seq ${headSeq}: lines were removed from the end`);
    if (head && head.seq > 0) {
      const atHead = JSON.parse(lines[head.seq - 1]!) as { hash: string };
      if (atHead.hash !== head.hash)
        return bad(head.seq - 1, `line ${head.seq} does not match the hash recorded in ${this.headPath}: the log was rewritten`);
    }
    if (count - headSeq > 1)
      return bad(headSeq + 1, `lines after seq ${headSeq + 1} were appended without updating ${this.headPath} (not by AppendLog)`);
    if (torn) {
      return {
        ok: false,
        intact: true,
        entries: count,
        firstBadSeq: count + 1,
        reason: `the last line is torn (an append was interrupted, ${torn.bytes} bytes); the next append moves it to ${this.tornPath}`,
        torn,
      };
    }
    return { ok: true, intact: true, entries: count };
  }

  private async readLines(): Promise<{ lines: string[]; torn?: TornTail }> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [] };
      throw error;
    }
    const end = text.lastIndexOf('\n') + 1;
    const lines = text.slice(0, end).split('\n').slice(0, -1);
    if (end === text.length) return { lines };
    const offset = Buffer.byteLength(text.slice(0, end));
    return { lines, torn: { offset, bytes: Buffer.byteLength(text) - offset } };
  }

  /**
   * The last complete line's seq and hash, reading only the end of the file (a ledger grows
   * with every run; an append must not re-read it all).
   */
  private async readTail(): Promise<{ lastSeq: number; lastHash: string; torn?: TornTail }> {
    const size = (await stat(this.path).catch(() => undefined))?.size ?? 0;
    if (size === 0) return { lastSeq: 0, lastHash: GENESIS_HASH };
    const handle = await open(this.path, 'r');
    try {
      for (let window = 64 * 1024; ; window *= 4) {
        const start = Math.max(0, size - window);
        const buffer = Buffer.alloc(size - start);
        await handle.read(buffer, 0, buffer.length, start);
        const lastNewline = buffer.lastIndexOf(0x0a);
        const prevNewline = lastNewline > 0 ? buffer.lastIndexOf(0x0a, lastNewline - 1) : -1;
        if (prevNewline === -1 && start > 0) continue; // the last complete line starts before this window
        const torn =
          lastNewline + 1 < buffer.length ? { offset: start + lastNewline + 1, bytes: buffer.length - lastNewline - 1 } : undefined;
        if (lastNewline === -1) return { lastSeq: 0, lastHash: GENESIS_HASH, ...(torn ? { torn } : {}) };
        const line = buffer.subarray(prevNewline + 1, lastNewline).toString('utf8');
        let last: { seq?: unknown; hash?: unknown };
        try {
          last = JSON.parse(line) as typeof last;
        } catch {
          throw new Error(`The last line of ${this.path} is not JSON, so nothing can be chained to it. Run verify and restore the log.`);
        }
        if (typeof last.seq !== 'number' || typeof last.hash !== 'string') {
          throw new Error(
            `The last line of ${this.path} has no seq/hash, so nothing can be chained to it. Run verify and restore the log.`,
          );
        }
        return { lastSeq: last.seq, lastHash: last.hash, ...(torn ? { torn } : {}) };
      }
    } finally {
      await handle.close();
    }
  }

  /** Keeps the bytes of an interrupted append (evidence) and cuts them from the log. */
  private async moveTornTail(torn: TornTail): Promise<void> {
    const handle = await open(this.path, 'r');
    const bytes = Buffer.alloc(torn.bytes);
    try {
      await handle.read(bytes, 0, torn.bytes, torn.offset);
    } finally {
      await handle.close();
    }
    await appendFile(this.tornPath, Buffer.concat([bytes, Buffer.from('\n')]));
    await truncate(this.path, torn.offset);
  }

  private async readHead(): Promise<{ seq: number; hash: string } | undefined> {
    try {
      return JSON.parse(await readFile(this.headPath, 'utf8')) as { seq: number; hash: string };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`${this.headPath} is unreadable (${(error as Error).message}); it records the log's last seq and hash.`, {
        cause: error,
      });
    }
  }
}

async function mkdirFor(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
}
