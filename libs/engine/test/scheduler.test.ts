import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cause, Effect, Exit, Fiber, TestClock } from 'effect';
import { describe, expect, test } from 'vitest';
import {
  abortGraceMs,
  DEFAULT_ABORT_GRACE_MS,
  engineLayer,
  Executor,
  inProcessExecutor,
  latestRunRecord,
  nodeLogPath,
  planGraph,
  recordingProgress,
  renderPlan,
  runGraph,
} from '../src';
import { INTERRUPTED_LINE } from '../src/action';
import { graphOf, onTestClock, openTestStore, registry, run, runAndInterrupt, runVirtual, tempDir, untilSleeping } from './helpers';

const countLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).length : 0);

describe('scheduler', () => {
  test('two independent 1-s nodes overlap with --jobs 2 and not with --jobs 1 (TestClock: 1 s of run time, then 2 s)', async () => {
    const graph = graphOf({
      nodes: {
        a: { type: 'Sleep', params: { virtualSeconds: 1 } },
        b: { type: 'Sleep', params: { virtualSeconds: 1, tag: 'b' } },
      },
    });
    const overlapped = (events: Array<{ type: string }>) => {
      const firstEnd = events.findIndex((e) => e.type === 'node-end');
      return events.slice(0, firstEnd).filter((e) => e.type === 'node-start').length;
    };
    const parallel = await onTestClock(
      Effect.gen(function* () {
        const running = yield* Effect.fork(runVirtual(yield* Effect.promise(openTestStore), graph, { jobs: 2 }));
        yield* untilSleeping(1000, 2);
        yield* TestClock.adjust('1 second');
        return yield* Fiber.join(running);
      }),
    );
    expect(parallel.summary.status).toBe('succeeded');
    expect(overlapped(parallel.events)).toBe(2);
    expect(parallel.summary.record.seconds).toBe(1);
    // A node's progress, reported from outside Effect, is stamped by the run's Clock (here the TestClock's 1 s).
    const progressTimes = parallel.events.filter((e) => e.type === 'node-progress').map((e) => e.at);
    expect(progressTimes.length).toBeGreaterThan(0);
    expect(new Set(progressTimes)).toEqual(new Set([1000]));

    const serial = await onTestClock(
      Effect.gen(function* () {
        const running = yield* Effect.fork(runVirtual(yield* Effect.promise(openTestStore), graph, { jobs: 1 }));
        yield* untilSleeping(1000);
        yield* TestClock.adjust('1 second');
        yield* untilSleeping(2000);
        yield* TestClock.adjust('1 second');
        return yield* Fiber.join(running);
      }),
    );
    expect(overlapped(serial.events)).toBe(1);
    expect(serial.summary.record.seconds).toBe(2);
  });

  test('a finished graph reruns from the cache; a changed param is explained', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const nodes = (lr: number) => ({
      a: { type: 'Count', params: { file: counter, lr } },
      b: { type: 'Count', inputs: { x: 'a' }, params: { file: counter } },
      c: { type: 'Count', params: { file: counter, other: true } },
    });
    const first = await run(store, graphOf({ nodes: nodes(0.0001) }));
    expect(first.summary!.nodes.map((n) => n.status)).toEqual(['ran', 'ran', 'ran']);
    expect(countLines(counter)).toBe(3);
    const second = await run(store, graphOf({ nodes: nodes(0.0001) }));
    expect(second.summary!.nodes.map((n) => n.status)).toEqual(['cached', 'cached', 'cached']);
    expect(countLines(counter)).toBe(3);

    const changed = graphOf({ nodes: nodes(0.0002) });
    const plan = await planGraph(changed, { store, registry });
    const byId = Object.fromEntries(plan.nodes.map((n) => [n.id, n]));
    expect(byId.a!.status).toBe('to-run');
    expect(byId.a!.why).toEqual(['params.lr: 0.0001 -> 0.0002']);
    expect(byId.b!.why).toEqual(['inputs.x: upstream changed']);
    expect(byId.c!.status).toBe('cached');
    expect(renderPlan(plan)).toContain('params.lr: 0.0001 -> 0.0002');
    await run(store, changed);
    expect(countLines(counter)).toBe(5);
  });

  test('a failed node fails its descendants; independent branches complete', async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const graph = graphOf({
      nodes: {
        bad: { type: 'Fail', params: { message: 'boom from the test' } },
        child: { type: 'Count', inputs: { x: 'bad' }, params: { file: counter } },
        grandchild: { type: 'Count', inputs: { x: 'child' }, params: { file: counter, g: 1 } },
        free: { type: 'Count', params: { file: counter, free: true } },
      },
    });
    const { summary } = await run(store, graph);
    const status = Object.fromEntries(summary!.nodes.map((n) => [n.id, n.status]));
    expect(status).toEqual({ bad: 'failed', child: 'skipped', grandchild: 'skipped', free: 'ran' });
    expect(summary!.status).toBe('failed');
    const bad = summary!.nodes.find((n) => n.id === 'bad')!;
    expect(bad.error).toContain('boom from the test');
    expect(readFileSync(bad.log!, 'utf8')).toContain('boom from the test');
    expect(countLines(counter)).toBe(1);
    expect((await latestRunRecord(store))!.status).toBe('failed');
  });

  test("a node's own input check failing at run time is invalid input with its pointer, and is not retried", async () => {
    const store = await openTestStore();
    const counter = join(tempDir(), 'count.txt');
    const graph = graphOf({
      nodes: {
        bad: { type: 'Fail', params: { message: 'batchSize 64 exceeds the 10 training examples', invalidInput: 'batchSize' }, retries: 2 },
        child: { type: 'Count', inputs: { x: 'bad' }, params: { file: counter } },
        plain: { type: 'Fail', params: { message: 'an ordinary failure' } },
      },
    });
    const { summary } = await run(store, graph);
    const byId = Object.fromEntries(summary!.nodes.map((n) => [n.id, n]));
    expect(byId.bad).toMatchObject({ status: 'failed', invalidInput: { pointer: '/nodes/bad/params/batchSize' } });
    expect(byId.bad!.error).toBe('/nodes/bad/params/batchSize: Fail node bad: batchSize 64 exceeds the 10 training examples');
    expect(summary!.record.nodes.find((n) => n.id === 'bad')!.attempts).toHaveLength(1); // retries: 2, but the input will not change
    expect(summary!.record.nodes.find((n) => n.id === 'bad')!.invalidInput).toEqual({ pointer: '/nodes/bad/params/batchSize' });
    expect(byId.child!.status).toBe('skipped');
    expect(byId.plain!.status).toBe('failed');
    expect(byId.plain!.invalidInput).toBeUndefined();
  });

  test('a timed-out node is retried as the graph says, each attempt recorded (TestClock)', async () => {
    const graph = graphOf({ nodes: { slow: { type: 'Sleep', params: { virtualSeconds: 20 }, timeout: 0.2, retries: 1 } } });
    const { summary } = await onTestClock(
      Effect.gen(function* () {
        const running = yield* Effect.fork(runVirtual(yield* Effect.promise(openTestStore), graph));
        yield* untilSleeping(200); // the first attempt's timeout
        yield* TestClock.adjust('200 millis');
        yield* untilSleeping(400); // the retry's
        yield* TestClock.adjust('200 millis');
        return yield* Fiber.join(running);
      }),
    );
    const record = summary.record.nodes[0]!;
    expect(record.status).toBe('failed');
    expect(record.attempts).toHaveLength(2);
    expect(record.attempts.map((a) => a.seconds)).toEqual([0.2, 0.2]);
    expect(record.attempts[0]!.error).toContain('timed out after 0.2 s');
    expect(record.seconds).toBe(0.4);
    expect(summary.nodes[0]!.error).toBe("timed out after 0.2 s (the node's timeoutSeconds in the graph) (after 2 attempts)");
  });

  test('a failed node is retried as the graph says; the error names the attempts', async () => {
    const store = await openTestStore();
    const { summary } = await run(store, graphOf({ nodes: { flaky: { type: 'Fail', params: { message: 'flaky' }, retries: 2 } } }));
    const record = summary!.record.nodes[0]!;
    expect(record.attempts.map((a) => [a.attempt, a.error])).toEqual([
      [1, 'flaky'],
      [2, 'flaky'],
      [3, 'flaky'],
    ]);
    expect(summary!.nodes[0]!.error).toBe('flaky (after 3 attempts)');
    const starts = (await run(store, graphOf({ nodes: { once: { type: 'Fail', params: { message: 'once' } } } }))).summary!;
    expect(starts.nodes[0]!.error).toBe('once');
  });

  test('interruption leaves no half-written artifact and records the run as interrupted', async () => {
    const store = await openTestStore();
    const graph = graphOf({ nodes: { long: { type: 'Sleep', params: { seconds: 30 } } } });
    const { exit } = await runAndInterrupt(store, graph, (type, node) => type === 'node-start' && node === 'long');
    expect(Exit.isInterrupted(exit) || (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause))).toBe(true);
    expect(await store.listManifests()).toEqual([]);
    expect((await store.listObjects()).length).toBe(0);
    expect(readdirSync(store.tmpDir).filter((n) => n.startsWith('scratch'))).toEqual([]);
    expect((await latestRunRecord(store))!.status).toBe('interrupted');
  });

  test('an interrupted node logs one line saying so, not a stack trace', async () => {
    const store = await openTestStore();
    const graph = graphOf({ nodes: { long: { type: 'Sleep', params: { seconds: 30, steps: 300 } } } });
    await runAndInterrupt(store, graph, (type, node) => type === 'node-progress' && node === 'long'); // the node itself runs
    const log = readFileSync(nodeLogPath(store, graph.nodes[0]!.key), 'utf8');
    expect(log).toContain(INTERRUPTED_LINE);
    expect(log).not.toContain('# failed');
    expect(log).not.toMatch(/^\s+at /m); // no stack frame
  });

  test('an interrupted in-process node that outlives the abort grace is not waited for', async () => {
    const store = await openTestStore();
    const saved = join(tempDir(), 'saved');
    const params = { seconds: 30, steps: 300, saveTo: saved, saveSeconds: 5 }; // answers the abort after 5 s
    const graph = graphOf({ nodes: { stubborn: { type: 'Sleep', params } } });
    const progress = recordingProgress();
    const layer = engineLayer({ store, registry, executor: 'in-process', progress });
    const running = Effect.runFork(
      runGraph(graph, { jobs: 1 }).pipe(
        Effect.provideService(Executor, inProcessExecutor(store, registry, { graceMs: 100 })),
        Effect.provide(layer),
      ),
    );
    while (!progress.events.some((e) => e.type === 'node-progress')) await new Promise((r) => setTimeout(r, 10));
    await Effect.runPromise(Fiber.interrupt(running));
    expect(existsSync(saved)).toBe(false); // the interrupt returned after the 0.1-s grace, before the node's save
  });

  test('the abort grace is 30 s by default (a training step plus a checkpoint write), DPKD_ABORT_GRACE_SECONDS sets it, nonsense is refused', () => {
    expect(DEFAULT_ABORT_GRACE_MS).toBe(30_000);
    expect(abortGraceMs({})).toBe(30_000);
    expect(abortGraceMs({ DPKD_ABORT_GRACE_SECONDS: '2.5' })).toBe(2500);
    expect(abortGraceMs({ DPKD_ABORT_GRACE_SECONDS: '0' })).toBe(0);
    for (const bad of ['soon', '-1', 'Infinity']) {
      expect(() => abortGraceMs({ DPKD_ABORT_GRACE_SECONDS: bad })).toThrow(
        expect.objectContaining({ name: 'InvalidSetting', message: expect.stringContaining('DPKD_ABORT_GRACE_SECONDS') }),
      );
    }
  });

  test('unknown node types are refused before anything runs', async () => {
    const store = await openTestStore();
    const graph = graphOf({ nodes: { a: { type: 'Sleep' } } });
    graph.nodes[0]!.type = 'NoSuchType';
    const { exit } = await run(store, graph);
    expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toContain('NoSuchType');
  });
});
