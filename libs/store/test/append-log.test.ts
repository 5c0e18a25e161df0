import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppendLog, canonicalJson, GENESIS_HASH, sha256Hex, Store } from '../src/index';
import { bundleWorker, startWorker } from './helpers/child';
import { useTempDirs } from './helpers/temp';

const tempDir = useTempDirs();
let worker: ReturnType<typeof bundleWorker>;
beforeAll(() => {
  worker = bundleWorker();
});
afterAll(() => worker.dispose());

interface Charge {
  dataset: string;
  epsilon: number;
}

async function ledgerWith(n: number) {
  const store = await Store.open(tempDir());
  const log = store.appendLog<Charge>('ledger');
  for (let i = 1; i <= n; i++) await log.append({ dataset: 'imdb', epsilon: i / 2 });
  const lines = () => readFileSync(log.path, 'utf8').split('\n').slice(0, -1);
  const write = (ls: string[]) => writeFileSync(log.path, ls.map((l) => `${l}\n`).join(''));
  return { log, lines, write };
}

describe('AppendLog', () => {
  test('append returns seq, prev and hash; each line is canonical JSON chained to the one before', async () => {
    const { log, lines } = await ledgerWith(0);
    const first = await log.append({ dataset: 'imdb', epsilon: 1 });
    const second = await log.append({ dataset: 'yelp', epsilon: 2 });
    expect(first).toMatchObject({ seq: 1, prev: GENESIS_HASH, dataset: 'imdb', epsilon: 1 });
    expect(second).toMatchObject({ seq: 2, prev: first.hash });
    const { hash, ...unhashed } = second;
    expect(hash).toBe(sha256Hex(canonicalJson(unhashed)));
    expect(lines()).toEqual([canonicalJson(first), canonicalJson(second)]);
    expect((await log.readAll()).entries).toEqual([first, second]);
    expect(await log.verify()).toEqual({ ok: true, intact: true, entries: 2 });
  });

  test('refuses entries that carry their own seq, prev or hash', async () => {
    const { log } = await ledgerWith(0);
    await expect(log.append({ dataset: 'x', epsilon: 1, seq: 9 } as Charge)).rejects.toThrow(/"seq"/);
  });

  test('an empty or missing log verifies', async () => {
    const log = new AppendLog(join(tempDir(), 'none.jsonl'));
    expect(await log.verify()).toEqual({ ok: true, intact: true, entries: 0 });
    expect(await log.readAll()).toEqual({ entries: [] });
  });

  test('detects an edited line', async () => {
    const { log, lines, write } = await ledgerWith(4);
    const ls = lines();
    ls[1] = ls[1]!.replace('"epsilon":1', '"epsilon":0.1');
    write(ls);
    expect(await log.verify()).toMatchObject({ ok: false, firstBadSeq: 2, entries: 1, reason: expect.stringMatching(/edited/) });
  });

  test('detects an edited line whose own hash was recomputed (the next link breaks)', async () => {
    const { log, lines, write } = await ledgerWith(4);
    const ls = lines();
    const { hash: _, ...record } = JSON.parse(ls[1]!) as Record<string, unknown>;
    record.epsilon = 0.1;
    ls[1] = canonicalJson({ ...record, hash: sha256Hex(canonicalJson(record)) });
    write(ls);
    expect(await log.verify()).toMatchObject({ ok: false, firstBadSeq: 3, reason: expect.stringMatching(/does not link/) });
  });

  test('detects a removed line in the middle', async () => {
    const { log, lines, write } = await ledgerWith(4);
    write(lines().filter((_, i) => i !== 1));
    expect(await log.verify()).toMatchObject({
      ok: false,
      firstBadSeq: 2,
      reason: expect.stringMatching(/removed, inserted or reordered/),
    });
  });

  test('detects removed lines at the end (through the head file)', async () => {
    const { log, lines, write } = await ledgerWith(4);
    write(lines().slice(0, 2));
    expect(await log.verify()).toMatchObject({ ok: false, reason: expect.stringMatching(/removed from the end/) });
  });

  test('detects reordered lines', async () => {
    const { log, lines, write } = await ledgerWith(4);
    const ls = lines();
    write([ls[0]!, ls[2]!, ls[1]!, ls[3]!]);
    expect(await log.verify()).toMatchObject({ ok: false, firstBadSeq: 2 });
  });

  test('detects an inserted line (a duplicate, or a forged line with a valid hash)', async () => {
    const { log, lines, write } = await ledgerWith(3);
    const ls = lines();
    write([ls[0]!, ls[0]!, ls[1]!, ls[2]!]);
    expect(await log.verify()).toMatchObject({ ok: false, firstBadSeq: 2 });

    const forgedBody = { dataset: 'imdb', epsilon: 0, seq: 2, prev: (JSON.parse(ls[0]!) as { hash: string }).hash };
    const forged = canonicalJson({ ...forgedBody, hash: sha256Hex(canonicalJson(forgedBody)) });
    write([ls[0]!, forged, ls[1]!, ls[2]!]);
    expect(await log.verify()).toMatchObject({ ok: false, firstBadSeq: 3 });
  });

  test('detects a whitespace-only edit (non-canonical line)', async () => {
    const { log, lines, write } = await ledgerWith(2);
    const ls = lines();
    ls[0] = ls[0]!.replace(',', ', ');
    write(ls);
    expect(await log.verify()).toMatchObject({ ok: false, firstBadSeq: 1, reason: expect.stringMatching(/canonical/) });
  });

  test('a torn last line is reported as torn, does not break reads, and the next append sets it aside', async () => {
    const { log } = await ledgerWith(2);
    appendFileSync(log.path, '{"dataset":"imdb","eps');
    const read = await log.readAll();
    expect(read.entries.map((e) => e.seq)).toEqual([1, 2]);
    expect(read.torn).toEqual({ offset: expect.any(Number), bytes: 22 });
    expect(await log.verify()).toMatchObject({
      ok: false,
      intact: true,
      entries: 2,
      firstBadSeq: 3,
      reason: expect.stringMatching(/torn/),
    });
    const third = await log.append({ dataset: 'imdb', epsilon: 3 });
    expect(third.seq).toBe(3);
    expect(await log.verify()).toEqual({ ok: true, intact: true, entries: 3 });
    expect(readFileSync(log.tornPath, 'utf8')).toBe('{"dataset":"imdb","eps\n');
  });

  test('appends from two processes at once form one valid chain with every entry', async () => {
    const logPath = join(tempDir(), 'ledger.jsonl');
    const children = [0, 1].map(() => startWorker(worker.script, 'append-loop', { logPath, iterations: 25 }));
    await Promise.all(children.map((c) => c.waitFor('ready')));
    for (const c of children) c.child.stdin!.write('go\n');
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
    const log = new AppendLog<{ writer: number; i: number }>(logPath);
    expect(await log.verify()).toEqual({ ok: true, intact: true, entries: 50 });
    const { entries } = await log.readAll();
    for (const c of children) expect(entries.filter((e) => e.writer === c.child.pid).map((e) => e.i)).toEqual([...Array(25).keys()]);
  });

  test('appends read only the tail: a log with a long line before the last still chains', async () => {
    const { log } = await ledgerWith(1);
    await log.append({ dataset: 'x'.repeat(200_000), epsilon: 1 });
    await log.append({ dataset: 'imdb', epsilon: 2 });
    expect(await log.verify()).toEqual({ ok: true, intact: true, entries: 3 });
  });
});
