// Fault injection on the store and the ledger: flip, delete, truncate, append garbage, edit a line, lose the
// ledger, fail a ledger write, diverge, interrupt. Each test asserts the outcome and that nothing trains uncharged.
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Cause, Effect, Exit, Fiber, Layer } from 'effect';
import { describe, expect, test } from 'vitest';
import {
  Executor,
  LedgerDamaged,
  checkLedger,
  engineLayer,
  gcCache,
  latestRunRecord,
  readLedger,
  rebuildLedger,
  recordingProgress,
  runActionLocked,
  runGraph,
  verifiedRead,
  verifyCache,
  type ActionManifest,
  type LedgerEntry,
} from '../src';
import { graphOf, openTestStore, registry, run, runAndInterrupt, tempDir } from './helpers';
import type { Store } from '@dpkd/store';

const dataset = { type: 'FakeDataset', params: { unit: 'imdb', n: 1000 } };
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const ledgerPath = (store: Store) => join(store.logsDir, 'privacy-ledger.jsonl');
const ledgerEntries = (store: Store) => lines(ledgerPath(store)).map((l) => JSON.parse(l) as LedgerEntry & { seq: number });

/** A graph with one DP node whose training start is recorded in `counter` (with whether it was charged by then). */
function dpGraph(counter: string, params: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return graphOf({
    privacy: { accountant: 'rdp' },
    ...extra,
    nodes: {
      imdb: dataset,
      teacher: { type: 'EmitDpEvent', inputs: { data: 'imdb' }, params: { sigma: 1, q: 0.01, steps: 100, count: counter, ...params } },
    },
  });
}

/** Every training start recorded by EmitDpEvent saw its own charge in the ledger already. */
function expectChargedBeforeTraining(counter: string) {
  for (const line of lines(counter)) expect(line).toMatch(/ charged=true$/);
}

const manifestOf = async (store: Store, node: string) => {
  for (const key of await store.listManifests()) {
    const m = (await store.getManifest<ActionManifest>(key))!;
    if (m.provenance.node === node) return m;
  }
  return undefined;
};

const manifestsOf = async (store: Store, node: string) => {
  const all: ActionManifest[] = [];
  for (const key of await store.listManifests()) {
    const m = (await store.getManifest<ActionManifest>(key))!;
    if (m.provenance.node === node) all.push(m);
  }
  return all;
};

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined);

describe('the ledger never under-counts', () => {
  test('a DP attempt is charged once, before it trains, as "started"; the manifest names its charge', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const { summary } = await run(store, dpGraph(counter));
    expect(summary!.status).toBe('succeeded');
    expect(lines(counter)).toHaveLength(1);
    expectChargedBeforeTraining(counter);
    const entries = ledgerEntries(store);
    expect(entries.map((e) => e.outcome)).toEqual(['started']);
    const manifest = (await manifestOf(store, 'teacher'))!;
    expect(manifest.charges).toEqual([{ seq: entries[0]!.seq, hash: (entries[0] as unknown as { hash: string }).hash }]);
    expect((await checkLedger(store)).ok).toBe(true);
  });

  test('a failed DP attempt is charged exactly once per attempt (retries: two attempts, two entries, no double charge)', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const graph = graphOf({
      privacy: { accountant: 'rdp' },
      nodes: {
        imdb: dataset,
        teacher: {
          type: 'EmitDpEvent',
          inputs: { data: 'imdb' },
          retries: 1,
          params: { sigma: 1, q: 0.01, steps: 100, count: counter, fail: 'boom' },
        },
      },
    });
    const { summary } = await run(store, graph);
    expect(summary!.nodes.find((n) => n.id === 'teacher')!.status).toBe('failed');
    expect(lines(counter)).toHaveLength(2);
    expectChargedBeforeTraining(counter);
    const entries = ledgerEntries(store);
    expect(entries.map((e) => [e.attempt, e.outcome])).toEqual([
      [1, 'started'],
      [2, 'started'],
    ]);
    expect(await manifestOf(store, 'teacher')).toBeUndefined();
  });

  test('a diverged run fails saying so (non-finite loss, lower the learning rate), is charged once, caches nothing', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const { summary } = await run(store, dpGraph(counter, { diverge: true }));
    const teacher = summary!.nodes.find((n) => n.id === 'teacher')!;
    expect(teacher.status).toBe('failed');
    expect(teacher.error).toContain('/metrics/finalLoss = NaN');
    expect(teacher.error).toContain('lower the learning rate');
    expect(teacher.error).not.toContain('canonicalJson');
    expect(ledgerEntries(store).map((e) => e.outcome)).toEqual(['started']);
    expect(await manifestOf(store, 'teacher')).toBeUndefined();
  });

  test('a node that reports fewer steps than planned is covered by its charge; one that reports more is charged the rest', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    await run(store, dpGraph(counter, { executedSteps: 60 }));
    expect(ledgerEntries(store).map((e) => e.outcome)).toEqual(['started']);
    const more = await run(store, dpGraph(counter, { executedSteps: 140 }, { seed: 2 }));
    expect(more.summary!.nodes.map((n) => n.error ?? n.status)).toEqual(['ran', 'ran']);
    const entries = ledgerEntries(store).slice(1);
    expect(entries.map((e) => [e.outcome, (e.event as { count: number }).count])).toEqual([
      ['started', 100],
      ['executed', 140],
    ]);
    // Two teacher manifests (seed 1 and seed 2): the first is covered by its one "started" charge, the
    // second by "started" plus the "executed" remainder.
    const teachers = await manifestsOf(store, 'teacher');
    expect(teachers.map((m) => m.charges?.length).sort()).toEqual([1, 2]);
  });

  test('an interrupted DP node is charged as started', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    await runAndInterrupt(store, dpGraph(counter, { seconds: 30 }), () => lines(counter).length > 0);
    expect(lines(counter)).toHaveLength(1);
    expectChargedBeforeTraining(counter);
    expect(ledgerEntries(store).map((e) => [e.node, e.outcome])).toEqual([['teacher', 'started']]);
    expect(await manifestOf(store, 'teacher')).toBeUndefined();
    const ledger = await readLedger(store, 'rdp');
    expect(ledger.units[0]!.epsilon).toBeGreaterThan(0);
  });

  test('a ledger write that fails fails the action with a typed error: nothing trains, nothing is cached', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    // The log's own lock cannot be taken (a directory in its place): the chain checks out, every append fails.
    const lock = `${ledgerPath(store)}.lock`;
    mkdirSync(lock, { recursive: true });
    utimesSync(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const { summary } = await run(store, dpGraph(counter));
    const teacher = summary!.nodes.find((n) => n.id === 'teacher')!;
    expect(summary!.status).toBe('failed');
    expect(teacher.error).toContain('could not charge teacher to the privacy ledger');
    expect(lines(counter)).toEqual([]); // never started
    expect(await manifestOf(store, 'teacher')).toBeUndefined();
    expect(readdirSync(store.objectsDir).length).toBeGreaterThan(0); // the dataset ran; the model did not
  });
});

describe('a damaged ledger refuses DP actions before any starts', () => {
  const damage = {
    'an unreadable head': (store: Store) => {
      unlinkSync(`${ledgerPath(store)}.head`);
      mkdirSync(`${ledgerPath(store)}.head`);
    },
    'garbage appended': (store: Store) => appendFileSync(ledgerPath(store), 'garbage\n'),
    'an edited line (σ raised, ε lowered)': (store: Store) =>
      writeFileSync(ledgerPath(store), readFileSync(ledgerPath(store), 'utf8').replace('"sigma":1', '"sigma":9')),
    'the last line cut (and its head left behind)': (store: Store) => {
      const text = readFileSync(ledgerPath(store), 'utf8').trim().split('\n');
      writeFileSync(ledgerPath(store), `${text.slice(0, -1).join('\n')}${text.length > 1 ? '\n' : ''}`);
    },
    'ledger and head deleted while a DP manifest exists': (store: Store) => {
      unlinkSync(ledgerPath(store));
      unlinkSync(`${ledgerPath(store)}.head`);
    },
  };
  for (const [what, inflict] of Object.entries(damage)) {
    test(`${what}: refused (LedgerDamaged), nothing trains; rebuild restores a ledger that charges every manifest`, async () => {
      const store = await openTestStore();
      const counter = join(tempDir(), 'count.txt');
      await run(store, dpGraph(counter));
      inflict(store);
      expect((await checkLedger(store)).ok).toBe(false);

      const second = await run(store, dpGraph(counter, {}, { seed: 7 })); // a new DP action
      const error = failureOf(second.exit);
      expect(error).toBeInstanceOf(LedgerDamaged);
      expect((error as LedgerDamaged).message).toContain('dpkd ledger verify');
      expect(lines(counter)).toHaveLength(1); // only the first run trained

      const rebuilt = await rebuildLedger(store, { accountant: 'rdp' });
      expect(rebuilt.rebuilt).toBe(1);
      expect((await checkLedger(store)).ok).toBe(true);
      const entries = ledgerEntries(store);
      expect(entries.map((e) => e.outcome)).toEqual(['rebuilt']);
      expect(entries[0]!.rebuild?.at).toBeTruthy();
      if (rebuilt.keptAt) expect(existsSync(rebuilt.keptAt)).toBe(true); // evidence kept

      const third = await run(store, dpGraph(counter, {}, { seed: 7 }));
      expect(third.summary!.status).toBe('succeeded');
      expectChargedBeforeTraining(counter);
      expect(ledgerEntries(store).map((e) => e.outcome)).toEqual(['rebuilt', 'started']);
    });
  }

  test('rebuild keeps the charges of attempts that never committed (read from the damaged file)', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    await run(store, dpGraph(counter));
    await run(store, dpGraph(counter, { fail: 'boom' }, { seed: 3 }));
    expect(ledgerEntries(store)).toHaveLength(2);
    appendFileSync(ledgerPath(store), 'garbage\n');
    const rebuilt = await rebuildLedger(store, { accountant: 'rdp' });
    expect(rebuilt).toMatchObject({ rebuilt: 1, salvaged: 1 });
    expect(readFileSync(rebuilt.keptAt!, 'utf8')).toContain('garbage');
    expect(
      ledgerEntries(store)
        .map((e) => e.outcome)
        .sort(),
    ).toEqual(['rebuilt', 'salvaged']);
  });

  test('a damaged ledger does not stop a run with no DP action to start', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    await run(store, dpGraph(counter));
    appendFileSync(ledgerPath(store), 'garbage\n');
    const again = await run(store, dpGraph(counter)); // all cached
    expect(again.summary!.status).toBe('succeeded');
  });
});

describe('verified reads', () => {
  const chain = (counter: string, tag = 0) =>
    graphOf({
      nodes: {
        a: { type: 'Count', params: { file: counter } },
        b: { type: 'Count', inputs: { x: 'a' }, params: { file: counter, tag } },
      },
    });
  const objectOf = async (store: Store, node: string) => store.objectPath((await manifestOf(store, node))!.outputs.out!.digest);
  const corruptions = {
    'one bit flipped': (path: string) => {
      const bytes = readFileSync(path);
      bytes[0] = bytes[0]! ^ 1;
      chmodSync(path, 0o644);
      writeFileSync(path, bytes);
    },
    deleted: (path: string) => unlinkSync(path),
    truncated: (path: string) => {
      chmodSync(path, 0o644);
      truncateSync(path, 3);
    },
    'garbage appended': (path: string) => {
      chmodSync(path, 0o644);
      appendFileSync(path, 'garbage');
    },
  };
  for (const [what, corrupt] of Object.entries(corruptions)) {
    test(`an upstream output ${what}: the run drops its manifest, reruns the producer, and builds on a good object`, async () => {
      const store = await openTestStore();
      const counter = join(tempDir(), 'count.txt');
      await run(store, chain(counter));
      const path = await objectOf(store, 'a');
      corrupt(path);
      const second = await run(store, chain(counter, 1)); // b changes, so it reads a's output
      expect(second.summary!.nodes.map((n) => [n.id, n.status])).toEqual([
        ['a', 'ran'],
        ['b', 'ran'],
      ]);
      expect(second.events.some((e) => e.type === 'notice' && e.message.includes('a.out'))).toBe(true);
      await expect(store.verifyObject((await manifestOf(store, 'a'))!.outputs.out!.digest)).resolves.toBeTruthy();
    });
  }

  test('a deleted output of a cached node nobody reads (a sink) is noticed and recomputed, not reported later as ENOENT', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    await run(store, chain(counter));
    unlinkSync(await objectOf(store, 'b'));
    const second = await run(store, chain(counter));
    expect(second.summary!.nodes.map((n) => [n.id, n.status])).toEqual([
      ['a', 'cached'],
      ['b', 'ran'],
    ]);
  });

  test('verifiedRead names the object and the reader, and drops the producing manifest', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    await run(store, chain(counter));
    const a = (await manifestOf(store, 'a'))!;
    const path = store.objectPath(a.outputs.out!.digest);
    chmodSync(path, 0o644);
    writeFileSync(path, 'tampered');
    const read = verifiedRead(store, { digest: a.outputs.out!.digest, reader: 'b.x', producerKey: a.key });
    await expect(read).rejects.toMatchObject({
      _tag: 'ObjectUnavailable',
      problem: 'corrupt',
      reader: 'b.x',
      producer: { node: 'a', dropped: true },
    });
    await expect(read).rejects.toThrow(/b\.x: object .* is corrupt .*manifest was dropped/);
    expect(await store.getManifest(a.key)).toBeUndefined();
  });

  test('cache verify reports missing objects and every manifest downstream of a corrupt one; --repair removes them', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const graph = graphOf({
      nodes: {
        a: { type: 'Count', params: { file: counter } },
        b: { type: 'Count', inputs: { x: 'a' }, params: { file: counter } },
        c: { type: 'Count', inputs: { x: 'b' }, params: { file: counter, c: true } },
        free: { type: 'Count', params: { file: counter, free: true } },
      },
    });
    await run(store, graph);
    // A missing object: its producer must run again; what was built from it while it existed is sound.
    const missingPath = await objectOf(store, 'c');
    unlinkSync(missingPath);
    const withMissing = await verifyCache(store);
    expect(withMissing.missing.map((m) => m.path)).toEqual([missingPath]);
    expect(withMissing.affected.map((a) => a.node)).toEqual(['c']);
    // A corrupt object: its producer and everything downstream of it.
    const corruptPath = await objectOf(store, 'a');
    chmodSync(corruptPath, 0o644);
    appendFileSync(corruptPath, 'garbage');
    const report = await verifyCache(store);
    expect(report.corrupt.map((c) => c.path)).toEqual([corruptPath]);
    expect(report.affected.map((a) => a.node).sort()).toEqual(['a', 'b', 'c']);
    expect(report.affected.find((a) => a.node === 'b')!.why).toContain('is a corrupt object');
    const repaired = await verifyCache(store, { repair: true });
    expect(repaired.repaired!.manifests).toHaveLength(3);
    expect(repaired.repaired!.objects).toHaveLength(1);
    expect((await verifyCache(store)).affected).toEqual([]);
    const again = await run(store, graph);
    expect(Object.fromEntries(again.summary!.nodes.map((n) => [n.id, n.status]))).toEqual({ a: 'ran', b: 'ran', c: 'ran', free: 'cached' });
  });
});

describe('run records and gc', () => {
  test('after an interrupt, a node whose action had committed is recorded as ran, not interrupted', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const progress = recordingProgress();
    let committed!: () => void;
    const didCommit = new Promise<void>((r) => (committed = r));
    // An executor that commits the action and then is interrupted before it can report back.
    const commitsThenHangs = Layer.succeed(Executor, {
      execute: (spec) =>
        Effect.promise(() =>
          runActionLocked(store, registry, spec, {
            signal: new AbortController().signal,
            progress: () => undefined,
            executor: 'in-process',
          }),
        ).pipe(
          Effect.tap(() => Effect.sync(committed)),
          Effect.zipRight(Effect.never),
        ),
    });
    const layer = Layer.merge(engineLayer({ store, registry, executor: 'in-process', progress }), commitsThenHangs);
    const fiber = Effect.runFork(
      runGraph(graphOf({ nodes: { a: { type: 'Count', params: { file: counter } } } }), { jobs: 1 }).pipe(Effect.provide(layer)),
    );
    await didCommit;
    await Effect.runPromise(Fiber.interrupt(fiber));
    const record = (await latestRunRecord(store))!;
    expect(record.status).toBe('interrupted');
    expect(record.nodes.map((n) => [n.id, n.status])).toEqual([['a', 'ran']]);
  });

  test('gc keeps the checkpoints of actions that have not committed and removes those of committed ones', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    await run(store, graphOf({ nodes: { a: { type: 'Count', params: { file: counter } } } }));
    const committedKey = (await store.listManifests())[0]!;
    const pendingKey = 'f'.repeat(64);
    for (const key of [committedKey, pendingKey]) {
      mkdirSync(join(store.root, 'checkpoints', key), { recursive: true });
      writeFileSync(join(store.root, 'checkpoints', key, 'state.bin'), 'x');
    }
    const dry = await gcCache(store, { dryRun: true });
    expect(dry.removedCheckpoints).toEqual([committedKey]);
    expect(existsSync(join(store.root, 'checkpoints', committedKey))).toBe(true);
    const result = await gcCache(store, { dryRun: false });
    expect(result.removedCheckpoints).toEqual([committedKey]);
    expect(result.keptCheckpoints).toEqual([pendingKey]);
    expect(existsSync(join(store.root, 'checkpoints', committedKey))).toBe(false);
    expect(existsSync(join(store.root, 'checkpoints', pendingKey))).toBe(true);
    rmSync(join(store.root, 'checkpoints'), { recursive: true });
  });
});
