// Live layers: the real store, the node registry, executors, run records and progress. Tests build
// their own from the same pieces (e.g. a recording progress sink, the in-process executor only).
import { Layer } from 'effect';
import { Store } from '@dpkd/store';
import { autoExecutor, inProcessExecutor, workerExecutor, type WorkerOptions } from './executors';
import { consoleProgress, type ConsoleProgressOptions } from './progress';
import type { NodeRegistryApi } from './registry';
import { ArtifactStore, Executor, NodeRegistry, Progress, RunRecords, type ProgressApi } from './services';
import { makeArtifactStore } from './store-service';

export type ExecutorChoice = 'auto' | 'in-process' | 'worker';

export interface EngineLayerOptions {
  store: Store;
  registry: NodeRegistryApi;
  /** auto: heavy node types in workers (when `worker` is given), the rest in-process. */
  executor?: ExecutorChoice;
  worker?: WorkerOptions;
  progress?: ProgressApi | ConsoleProgressOptions;
}

export function engineLayer(options: EngineLayerOptions) {
  const inProcess = inProcessExecutor(options.store, options.registry);
  const worker = options.worker ? workerExecutor(options.store, options.worker) : undefined;
  const choice = options.executor ?? 'auto';
  if (choice === 'worker' && !worker) throw new Error('the worker executor needs the path of the bundled CLI (WorkerOptions.script)');
  const executor = choice === 'in-process' ? inProcess : choice === 'worker' ? worker! : autoExecutor(inProcess, worker);
  const progress = options.progress && 'emit' in options.progress ? options.progress : consoleProgress(options.progress ?? {});
  const artifacts = makeArtifactStore(options.store);
  return Layer.mergeAll(
    Layer.succeed(ArtifactStore, artifacts),
    Layer.succeed(NodeRegistry, options.registry),
    Layer.succeed(Executor, executor),
    Layer.succeed(RunRecords, { write: (record) => artifacts.writeRunRecord(record) }),
    Layer.succeed(Progress, progress),
  );
}

export const openStore = (dir: string) => Store.open(dir);
