// Test-only node types (a documented test hook: the CLI registers them only when DPKD_TEST_NODES=1).
// They exercise the engine without ML: sleep, fail, count calls, emit a fake DP event, a fake Dataset.
import { existsSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dpSgdEvent } from '@dpkd/privacy';
import {
  type DatasetDescription,
  type InputInfo,
  type NodeImplementation,
  NodeInputError,
  type NodeRunContext,
  type PrivacyClaim,
  type Signature,
} from '@dpkd/graph';
import type { RegisteredNode } from '../registry';

const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);

/** Writes the primary output: the node's params and its inputs' contents, so keys and data flow are visible. */
async function writeOutput(ctx: NodeRunContext, extra: Record<string, unknown> = {}): Promise<string> {
  const file = join(ctx.scratchDir, 'out.json');
  await writeFile(
    file,
    JSON.stringify({ type: ctx.type, params: ctx.params, seed: ctx.seed, inputs: Object.keys(ctx.inputs).sort(), ...extra }),
  );
  return file;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason ?? new Error('aborted'));
      },
      { once: true },
    );
  });

/**
 * Sleep {seconds, steps?, saveTo?, saveSeconds?}: sleeps in `steps` slices, reporting progress; writes a half
 * file first to test cleanup. With `saveTo`, an abort is answered as a training node does: it takes
 * `saveSeconds` to "write its checkpoint", the file `saveTo` (outside the store), then gives up.
 */
export const SleepNode: NodeImplementation = {
  type: 'Sleep',
  async run(ctx) {
    const steps = Math.max(1, num(ctx.params.steps, 4));
    const ms = num(ctx.params.seconds, 0) * 1000;
    await writeFile(join(ctx.scratchDir, 'partial.bin'), 'half-written');
    for (let step = 1; step <= steps; step++) {
      try {
        await sleep(ms / steps, ctx.signal);
      } catch (aborted) {
        if (typeof ctx.params.saveTo !== 'string') throw aborted;
        await new Promise((r) => setTimeout(r, num(ctx.params.saveSeconds, 0) * 1000));
        await writeFile(ctx.params.saveTo, `saved at step ${step}`);
        throw aborted;
      }
      ctx.progress({ step, total: steps, loss: 1 / step });
    }
    ctx.log(`slept ${ms} ms`);
    return { outputs: { out: { file: await writeOutput(ctx) } }, metrics: { sleptMs: ms } };
  },
};

/**
 * Fail {message, invalidInput?}: throws; with `invalidInput` (a param name, or true for the node) it throws
 * the node's own input check (NodeInputError) at run time, as DPFineTune does for a batch larger than its data.
 */
export const FailNode: NodeImplementation = {
  type: 'Fail',
  async run(ctx) {
    ctx.log('about to fail');
    const message = String(ctx.params.message ?? 'Fail node failed');
    const param = ctx.params.invalidInput;
    if (param) throw new NodeInputError(message, typeof param === 'string' ? param : undefined);
    throw new Error(message);
  },
};

/**
 * Count {file, seconds?, holdWhile?}: appends one line per call to `file` (outside the store), so tests count
 * executions; then sleeps, and waits while the file `holdWhile` exists (a test's remote control that is not
 * part of the key's meaning: the path is in the key, the file's existence is not).
 */
export const CountNode: NodeImplementation = {
  type: 'Count',
  async run(ctx) {
    await appendFile(String(ctx.params.file), `${ctx.id} ${ctx.key} ${process.pid}\n`);
    const ms = num(ctx.params.seconds, 0) * 1000;
    if (ms > 0) await sleep(ms, ctx.signal);
    if (typeof ctx.params.holdWhile === 'string') while (existsSync(ctx.params.holdWhile)) await sleep(20, ctx.signal);
    return { outputs: { out: { file: await writeOutput(ctx) } } };
  },
};

/** FakeDataset {unit, n, corpusSize (default n), private}: describes itself; its output is a small JSON. */
export const FakeDatasetNode: NodeImplementation = {
  type: 'FakeDataset',
  async describeDataset(params): Promise<DatasetDescription> {
    const n = num(params.n, 1000);
    return { unit: String(params.unit), n, corpusSize: num(params.corpusSize, n), private: params.private !== false };
  },
  async run(ctx) {
    const description = await FakeDatasetNode.describeDataset!(ctx.params);
    return { outputs: { dataset: { file: await writeOutput(ctx, { rows: num(ctx.params.n, 1000), description }) } } };
  },
};

const datasetInput = (inputs: Record<string, InputInfo>) => Object.values(inputs).find((i) => i.dataset)?.dataset;

/**
 * Whether the store's privacy ledger already holds an entry for this action as it starts (the store root is two
 * levels above the scratch dir): what tests of "nothing trains uncharged" assert on.
 */
async function chargedAtStart(ctx: NodeRunContext): Promise<boolean> {
  const ledger = join(dirname(dirname(ctx.scratchDir)), 'logs', 'privacy-ledger.jsonl');
  const text = await readFile(ledger, 'utf8').catch(() => '');
  return text.split('\n').some((line) => line.includes(`"key":"${ctx.key}"`));
}

/**
 * EmitDpEvent {sigma, q, steps, count?, seconds?, fail?, diverge?}: DP-SGD on its `data` input's train split.
 * `count` is Count's file hook; its line ends with `charged=true|false` (chargedAtStart). `diverge` returns a
 * NaN loss in its metrics, as a diverged training run would. `executedSteps` reports that many steps as executed
 * (result.privacy, at δ = params.delta, default 1e-4), as DPFineTune reports the steps it took.
 */
export const EmitDpEventNode: NodeImplementation = {
  type: 'EmitDpEvent',
  privacy(params, inputs): PrivacyClaim[] {
    const dataset = datasetInput(inputs);
    if (!dataset) return [];
    return [
      {
        dataset,
        split: 'train',
        event: dpSgdEvent({ q: num(params.q, 0.01), sigma: num(params.sigma, 1), steps: num(params.steps, 100) }),
      },
    ];
  },
  async run(ctx) {
    if (typeof ctx.params.count === 'string')
      await appendFile(ctx.params.count, `${ctx.id} ${ctx.key} ${process.pid} charged=${await chargedAtStart(ctx)}\n`);
    const ms = num(ctx.params.seconds, 0) * 1000;
    if (ms > 0) await sleep(ms, ctx.signal);
    if (ctx.params.fail) throw new Error(String(ctx.params.fail));
    const metrics = { steps: num(ctx.params.steps, 100), ...(ctx.params.diverge ? { finalLoss: Number.NaN } : {}) };
    const dataset = Object.values(ctx.inputs).find((i) => i.kind === 'Dataset');
    const executed =
      typeof ctx.params.executedSteps === 'number' && dataset
        ? {
            privacy: EmitDpEventNode.privacy!(
              { ...ctx.params, steps: ctx.params.executedSteps },
              {
                data: {
                  kind: 'Dataset',
                  dataset: { ...JSON.parse(await readFile(dataset.path, 'utf8')).description, delta: num(ctx.params.delta, 1e-4) },
                },
              },
            ),
          }
        : {};
    return { outputs: { model: { file: await writeOutput(ctx) } }, metrics, ...executed };
  },
};

/** Peek: reads a private Dataset input with no declared mechanism (must count as NonPrivate). */
export const PeekNode: NodeImplementation = {
  type: 'Peek',
  async run(ctx) {
    return { outputs: { out: { file: await writeOutput(ctx) } } };
  },
};

/** EvalHeldOut: evaluates on the test split: a recorded gap, no event. */
export const EvalHeldOutNode: NodeImplementation = {
  type: 'EvalHeldOut',
  privacy(_params, inputs) {
    const dataset = datasetInput(inputs);
    return dataset ? [{ dataset, split: 'test', note: 'evaluation on the private test split' }] : [];
  },
  async run(ctx) {
    return { outputs: { metrics: { file: await writeOutput(ctx) } }, metrics: { score: 1 } };
  },
};

/** Post: post-processing of models (reads only artifacts): inherits its inputs' lineage, adds nothing. */
export const PostNode: NodeImplementation = {
  type: 'Post',
  async run(ctx) {
    return { outputs: { model: { file: await writeOutput(ctx) } } };
  },
};

/** Registry entries with output kinds. */
export const testNodes: RegisteredNode[] = [
  { implementation: SleepNode, outputs: { out: 'Metrics' } },
  { implementation: FailNode, outputs: { out: 'Metrics' } },
  { implementation: CountNode, outputs: { out: 'Metrics' } },
  { implementation: FakeDatasetNode, outputs: { dataset: 'Dataset' } },
  { implementation: EmitDpEventNode, outputs: { model: 'Model' } },
  { implementation: PeekNode, outputs: { out: 'Metrics' } },
  { implementation: EvalHeldOutNode, outputs: { metrics: 'Metrics' } },
  { implementation: PostNode, outputs: { model: 'Model' } },
];

const anyParams = { type: 'object' } as Record<string, unknown>;
const metricsIn = { '*': { kind: 'Metrics' as const } };
/**
 * Signatures for @dpkd/graph (`loadGraphFile(path, { extraSignatures: testSignatures })`), so test graphs
 * validate. Sleep/Fail/Count chain through Metrics ports; EmitDpEvent is heavy (runs in a worker under `auto`).
 */
export const testSignatures: Signature[] = [
  { type: 'Sleep', version: 1, heavy: false, inputs: metricsIn, outputs: { out: { kind: 'Metrics' } }, paramsSchema: anyParams },
  { type: 'Fail', version: 1, heavy: false, inputs: metricsIn, outputs: { out: { kind: 'Metrics' } }, paramsSchema: anyParams },
  { type: 'Count', version: 1, heavy: false, inputs: metricsIn, outputs: { out: { kind: 'Metrics' } }, paramsSchema: anyParams },
  { type: 'FakeDataset', version: 1, heavy: false, inputs: {}, outputs: { dataset: { kind: 'Dataset' } }, paramsSchema: anyParams },
  {
    type: 'EmitDpEvent',
    version: 1,
    heavy: true,
    inputs: { data: { kind: 'Dataset' }, teacher: { kind: 'Model', optional: true } },
    outputs: { model: { kind: 'Model' } },
    paramsSchema: anyParams,
  },
  {
    type: 'Peek',
    version: 1,
    heavy: false,
    inputs: { data: { kind: 'Dataset' } },
    outputs: { out: { kind: 'Metrics' } },
    paramsSchema: anyParams,
  },
  {
    type: 'EvalHeldOut',
    version: 1,
    heavy: false,
    inputs: { model: { kind: 'Model', optional: true }, data: { kind: 'Dataset' } },
    outputs: { metrics: { kind: 'Metrics' } },
    paramsSchema: anyParams,
  },
  {
    type: 'Post',
    version: 1,
    heavy: false,
    inputs: { '*': { kind: 'Model' } },
    outputs: { model: { kind: 'Model' } },
    paramsSchema: anyParams,
  },
];
