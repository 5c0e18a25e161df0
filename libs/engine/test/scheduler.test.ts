import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cause, Exit } from 'effect';
import { describe, expect, test } from 'vitest';
import { abortGraceMs, DEFAULT_ABORT_GRACE_MS, latestRunRecord, planGraph, renderPlan } from '../src';
import { graphOf, openTestStore, registry, run, runAndInterrupt, tempDir } from './helpers';

const countLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).length : 0);

describe('scheduler', () => {
  test('two independent 1-s nodes overlap with --jobs 2 and not with --jobs 1', async () => {
    const graph = graphOf({
      nodes: { a: { type: 'Sleep', params: { seconds: 1 } }, b: { type: 'Sleep', params: { seconds: 1, tag: 'b' } } },
    });
    const overlapped = (events: Array<{ type: string }>) => {
      const firstEnd = events.findIndex((e) => e.type === 'node-end');
      return events.slice(0, firstEnd).filter((e) => e.type === 'node-start').length;
    };
    const parallel = await run(await openTestStore(), graph, { jobs: 2 });
    expect(parallel.summary?.status).toBe('succeeded');
    expect(overlapped(parallel.events)).toBe(2);
    const serial = await run(await openTestStore(), graph, { jobs: 1 });
    expect(overlapped(serial.events)).toBe(1);
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

  test('a timed-out node is retried as the graph says, each attempt recorded', async () => {
    const store = await openTestStore();
    const graph = graphOf({ nodes: { slow: { type: 'Sleep', params: { seconds: 20 }, timeout: 0.2, retries: 1 } } });
    const { summary } = await run(store, graph);
    const record = summary!.record.nodes[0]!;
    expect(record.status).toBe('failed');
    expect(record.attempts).toHaveLength(2);
    expect(record.attempts[0]!.error).toContain('timed out after 0.2 s');
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
