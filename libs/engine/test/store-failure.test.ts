// A store that cannot be read or written is an error a run reports (a StoreFailure in the error channel, which
// the CLI handles with catchTags), never a defect. The failures are real ones (a path taken by a directory or a
// file), so they fail for every user, root included, for whom a read-only store root would not.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Cause, Effect, Exit, Option } from 'effect';
import { describe, expect, test } from 'vitest';
import { engineDir, makeArtifactStore, runGraph, runsDir } from '../src';
import { graphOf, layerFor, openTestStore, run } from './helpers';

/** The typed failure of an exit; undefined if it succeeded or died (a defect). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) && !Cause.isDie(exit.cause) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined;

const oneNode = () => graphOf({ nodes: { a: { type: 'Sleep', params: { seconds: 0 } } } });

describe('store failures', () => {
  test('an unreadable manifest fails getManifest with a StoreFailure naming the operation', async () => {
    const store = await openTestStore();
    const key = 'a'.repeat(64);
    mkdirSync(store.manifestPath(key)); // reading it fails with EISDIR
    const failure = failureOf(await Effect.runPromiseExit(makeArtifactStore(store).getManifest(key)));
    expect(failure).toMatchObject({ _tag: 'StoreFailure', operation: 'read the manifest' });
    expect(failure?.message).toMatch(/EISDIR/);
  });

  test('an unlistable temp dir fails cleanupStaleTemp with a StoreFailure', async () => {
    const store = await openTestStore();
    rmSync(store.tmpDir, { recursive: true });
    writeFileSync(store.tmpDir, 'not a directory');
    const caught = await Effect.runPromise(
      makeArtifactStore(store)
        .cleanupStaleTemp()
        .pipe(
          Effect.as(undefined),
          Effect.catchTag('StoreFailure', (e) => Effect.succeed(e)),
        ),
    );
    expect(caught).toMatchObject({ operation: 'remove stale temp files' });
  });

  test('a run whose cached manifest became unreadable fails with a StoreFailure that catchTag handles', async () => {
    const store = await openTestStore();
    const graph = oneNode();
    expect((await run(store, graph)).summary?.status).toBe('succeeded');
    const path = store.manifestPath(graph.nodes[0]!.key);
    rmSync(path);
    mkdirSync(path); // "cached" at plan time (the path exists), unreadable when the run checks it
    const { layer } = layerFor(store);
    const caught = await Effect.runPromise(
      runGraph(graph, { jobs: 1 }).pipe(
        Effect.provide(layer),
        Effect.as(undefined),
        Effect.catchTag('StoreFailure', (e) => Effect.succeed(e)),
      ),
    );
    expect(caught).toMatchObject({ _tag: 'StoreFailure', operation: 'read the manifest' });
  });

  test('a run whose record cannot be written fails with a StoreFailure, not a defect', async () => {
    const store = await openTestStore();
    mkdirSync(engineDir(store), { recursive: true });
    writeFileSync(runsDir(store), 'not a directory');
    const { exit } = await run(store, oneNode());
    expect(failureOf(exit)).toMatchObject({ _tag: 'StoreFailure', operation: 'write the run record' });
  });
});
