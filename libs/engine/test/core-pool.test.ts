// The scheduler's core pool: running heavy nodes × their threads never exceed the cores; a node without
// resources.cpus takes every free core, one with cpus waits for that many (capped at all of them).
import { availableParallelism } from 'node:os';
import { Effect, Fiber, Option } from 'effect';
import { describe, expect, it } from 'vitest';
import { makeCorePool } from '../src/scheduler';

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
});
