// The scheduler's core pool: running heavy nodes × their threads never exceed the cores; a node without
// resources.cpus takes its share of the free cores (split among the heavy nodes ready for them), one with cpus
// waits for that many (capped at all of them).
import { availableParallelism } from 'node:os';
import { Effect, Fiber, Option, TestClock } from 'effect';
import { describe, expect, it } from 'vitest';
import { makeRegistry, testNodes, type EngineGraph } from '../src';
import { makeCorePool } from '../src/scheduler';
import { graphOf, onTestClock, openTestStore, runVirtual, untilSleeping, virtualTimeExecutor } from './helpers';

describe('core pool', () => {
  it('hands out the free cores, waits when none are free, and honours an explicit count', async () => {
    const cores = makeCorePool(2);
    const program = Effect.gen(function* () {
      const greedy = yield* cores.acquire(undefined);
      expect(greedy).toBe(2);
      expect(cores.free).toBe(0);
      // An explicit request for 1 must wait until the greedy node releases.
      const waiting = yield* Effect.fork(cores.acquire(1));
      yield* Effect.yieldNow();
      expect(cores.free).toBe(0);
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true);
      yield* cores.release(greedy);
      const one = yield* Fiber.join(waiting);
      expect(one).toBe(1);
      expect(cores.free).toBe(1);
      // A greedy request now gets only what is free; more than all cores is capped at all of them.
      const rest = yield* cores.acquire(undefined);
      expect(rest).toBe(1);
      yield* cores.release(one);
      yield* cores.release(rest);
      expect(yield* cores.acquire(5)).toBe(2);
    });
    await Effect.runPromise(program);
  });

  it('an interrupted waiter leaves no claim behind', async () => {
    const cores = makeCorePool(1);
    await Effect.runPromise(
      Effect.gen(function* () {
        const held = yield* cores.acquire(undefined);
        const waiter = yield* Effect.fork(cores.acquire(1));
        yield* Effect.yieldNow();
        yield* Fiber.interrupt(waiter);
        yield* cores.release(held);
        expect(cores.free).toBe(1);
      }),
    );
  });

  it('without a limit (actions run elsewhere) a node gets its cpus or this machine cores, and nothing waits', async () => {
    const cores = makeCorePool(Infinity);
    await Effect.runPromise(
      Effect.gen(function* () {
        expect(yield* cores.acquire(3)).toBe(3);
        expect(yield* cores.acquire(undefined)).toBe(availableParallelism());
        expect(yield* cores.acquire(undefined)).toBe(availableParallelism());
      }),
    );
  });

  it('splits the free cores among the heavy nodes ready for them: two on 2 cores get 1 each, one alone gets 2', async () => {
    await Effect.runPromise(
      Effect.gen(function* () {
        const pair = makeCorePool(2);
        yield* pair.markReady('a');
        yield* pair.markReady('b');
        expect(yield* pair.acquire(undefined, 'a')).toBe(1);
        expect(yield* pair.acquire(undefined, 'b')).toBe(1);
        expect(pair.free).toBe(0);

        const alone = makeCorePool(2);
        yield* alone.markReady('a');
        expect(yield* alone.acquire(undefined, 'a')).toBe(2);
      }),
    );
  });

  it('waiting nodes count as ready: the cores a node releases are split among them', async () => {
    await Effect.runPromise(
      Effect.gen(function* () {
        const cores = makeCorePool(4);
        const first = yield* cores.acquire(undefined, 'first');
        expect(first).toBe(4);
        yield* cores.markReady('b');
        yield* cores.markReady('c');
        const b = yield* Effect.fork(cores.acquire(undefined, 'b'));
        const c = yield* Effect.fork(cores.acquire(undefined, 'c'));
        yield* Effect.yieldNow();
        yield* cores.release(first);
        expect([yield* Fiber.join(b), yield* Fiber.join(c)]).toEqual([2, 2]);
      }),
    );
  });

  it('ready nodes beyond what --jobs lets run, and nodes no longer ready, do not take a share', async () => {
    await Effect.runPromise(
      Effect.gen(function* () {
        const oneJob = makeCorePool(2, { slots: 1 });
        yield* oneJob.markReady('a');
        yield* oneJob.markReady('b');
        expect(yield* oneJob.acquire(undefined, 'a')).toBe(2); // b cannot run beside it anyway

        const cores = makeCorePool(2);
        yield* cores.markReady('a');
        yield* cores.markReady('skipped');
        yield* cores.unmarkReady('skipped'); // e.g. its upstream failed
        expect(yield* cores.acquire(undefined, 'a')).toBe(2);
        // An explicit count is not a share: it waits for what it asks.
        yield* cores.release(2);
        yield* cores.markReady('other');
        expect(yield* cores.acquire(2, 'x')).toBe(2);
      }),
    );
  });

  it('in a run, two parallel trainings made ready by one upstream get one core each; one alone gets both', async () => {
    const parallelSleep = makeRegistry(
      testNodes.map((n) => (n.implementation.type === 'Sleep' ? { ...n, implementation: { ...n.implementation, parallel: true } } : n)),
    );
    const trainings = (names: string[]): EngineGraph => {
      const graph = graphOf({
        nodes: {
          data: { type: 'Sleep', params: {} },
          ...Object.fromEntries(names.map((name) => [name, { type: 'Sleep', inputs: { x: 'data' }, params: { virtualSeconds: 1, name } }])),
        },
      });
      for (const node of graph.nodes) if (node.id !== 'data') node.heavy = true;
      return graph;
    };
    const threadsOf = (graph: EngineGraph, heavy: number) =>
      onTestClock(
        Effect.gen(function* () {
          const store = yield* Effect.promise(openTestStore);
          const { executor, threads } = virtualTimeExecutor(store, parallelSleep);
          const running = yield* Effect.fork(runVirtual(store, graph, { jobs: 2, cores: 2 }, executor, parallelSleep));
          yield* untilSleeping(1000, heavy);
          yield* TestClock.adjust('1 second');
          const { summary } = yield* Fiber.join(running);
          expect(summary.status).toBe('succeeded');
          return Object.fromEntries([...threads].filter(([id]) => id !== 'data'));
        }),
      );
    expect(await threadsOf(trainings(['a', 'b']), 2)).toEqual({ a: 1, b: 1 });
    expect(await threadsOf(trainings(['a']), 1)).toEqual({ a: 2 });
  });
});
