// `npm run bench -- engine`: scheduler overhead per node (1,000 no-op nodes, in-process, each committing
// a tiny output + manifest to the store) and the cached rerun time of a 100-node graph (plan + run).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Effect } from 'effect';
import { actionKey, emptyKeyEnvironment, keyMaterial } from '@dpkd/graph';
import { Store } from '@dpkd/store';
import { engineLayer, makeRegistry, recordingProgress, runGraph, type EngineGraph, type EngineNode } from '@dpkd/engine';

const noop = {
  implementation: {
    type: 'NoOpBench',
    async run(ctx: { scratchDir: string; key: string }) {
      const file = join(ctx.scratchDir, 'out');
      writeFileSync(file, ctx.key);
      return { outputs: { out: { file } } };
    },
  },
  outputs: { out: 'Metrics' },
};

/** A layered DAG: node i depends on up to two earlier nodes, so the scheduler resolves real dependencies. */
function graphOf(n: number, salt: string): EngineGraph {
  const nodes: EngineNode[] = [];
  for (let i = 0; i < n; i++) {
    const deps = i === 0 ? [] : [`n${Math.floor((i - 1) / 2)}`];
    const inputs = Object.fromEntries(deps.map((d, j) => [`in${j}`, { node: d, port: 'out' }]));
    const params = { i, salt };
    const inputKeys = Object.fromEntries(
      Object.entries(inputs).map(([port, ref]) => [port, { key: nodes[Number(ref.node.slice(1))]!.key, port: ref.port }]),
    );
    const material = keyMaterial({ type: 'NoOpBench', version: 1, params, seed: 0 }, inputKeys, emptyKeyEnvironment);
    nodes.push({
      id: `n${i}`,
      baseId: `n${i}`,
      type: 'NoOpBench',
      version: 1,
      heavy: false,
      params,
      inputs,
      deps,
      key: actionKey(material),
      material,
      seed: 0,
      axes: {},
    });
  }
  return {
    name: `bench-${n}`,
    source: { name: `bench-${n}`, nodes: {} },
    sweepPoints: [{ axes: {}, nodes: nodes.map((x) => x.id) }],
    nodes,
  };
}

async function timeRun(store: Store, graph: EngineGraph, jobs: number): Promise<number> {
  const layer = engineLayer({ store, registry: makeRegistry([noop as never]), executor: 'in-process', progress: recordingProgress() });
  const t0 = performance.now();
  const summary = await Effect.runPromise(runGraph(graph, { jobs }).pipe(Effect.provide(layer)));
  const ms = performance.now() - t0;
  if (summary.status !== 'succeeded') throw new Error('bench run failed');
  return ms;
}

const dir = mkdtempSync(join(tmpdir(), 'dpkd-bench-engine-'));
try {
  const store = await Store.open(join(dir, 'store'));
  const big = graphOf(1000, 'a');
  const cold = await timeRun(store, big, 2);
  const warm = await timeRun(store, big, 2);
  console.log(
    `1000 no-op nodes, in-process, --jobs 2: ${cold.toFixed(0)} ms cold = ${(cold / 1000).toFixed(2)} ms/node (incl. output + manifest commit with fsync)`,
  );
  console.log(`1000 nodes all cached: ${warm.toFixed(0)} ms = ${(warm / 1000).toFixed(3)} ms/node (scheduler + plan only)`);
  const small = graphOf(100, 'b');
  await timeRun(store, small, 2);
  const rerun = await timeRun(store, small, 2);
  console.log(
    `100-node graph, cached rerun: ${rerun.toFixed(0)} ms (target < 2000 ms) ratio cold/cached for 1000 nodes: ${(cold / warm).toFixed(1)}x`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
