// The scheduler: an Effect program over the expanded DAG. One fiber per distinct action key waits on its
// upstream Deferreds, then takes one of `jobs` semaphore permits; failures skip descendants only.
import { availableParallelism, hostname } from 'node:os';
import { Clock, Deferred, Duration, Effect, Runtime, Schedule } from 'effect';
import { type DatasetDescription, InvalidNodeInput, type NodeProgress } from '@dpkd/graph';
import type { ActionSpec } from './action';
import {
  ActionFailed,
  BudgetExceeded,
  PrivacyDeclarationInvalid,
  NodeTimedOut,
  PlanFailure,
  UnknownNodeType,
  messageOf,
  type NodeFailed,
} from './errors';
import { ledgerClaims } from './ledger-guard';
import { privacySettingsOf, type AccountantName, type EngineGraph, type EngineNode } from './graph-types';
import { nodeLogPath } from './layout';
import type { ActionManifest } from './manifest';
import { planGraph, privacyJson, type GraphPlan } from './plan';
import { mergeLineage, planPrivacy, type Lineage } from './privacy-plan';
import { newRunId, type NodeRecord, type RunRecord } from './run-records';
import { ArtifactStore, Executor, NodeRegistry, Progress, RunRecords, type EngineEvent } from './services';

export interface RunOptions {
  jobs: number;
  graphFile?: string;
  accountant?: AccountantName;
  runId?: string;
  datasetCache?: Map<string, DatasetDescription>;
  /**
   * Cores the running heavy nodes share (default: os.availableParallelism()). Infinity: no sharing (actions run
   * elsewhere, e.g. on queue workers); each data-parallel node then gets resources.cpus or this machine's cores.
   */
  cores?: number;
}

export interface CorePool {
  /** Cores for one heavy node (`id`: its action key), held until `release`; waits until enough are free. */
  acquire(want: number | undefined, id?: string): Effect.Effect<number>;
  release(n: number): Effect.Effect<void>;
  /** The node `id` has all its inputs: it will ask for cores, and shares the free ones until it holds some. */
  markReady(id: string): Effect.Effect<void>;
  /** The node `id` no longer wants cores (it finished, or was skipped without asking). */
  unmarkReady(id: string): Effect.Effect<void>;
  readonly free: number;
}

/**
 * The cores that running heavy nodes share: a node holds its threads' worth while it runs, so running
 * nodes × threads ≤ cores. `want` (a node's resources.cpus) waits for that many (at most all). Without it (a
 * data-parallel node) the free cores are split among the heavy nodes that want cores now: the node takes
 * ceil(free / contenders), at least one (waiting for one if none is free), where contenders are the heavy nodes
 * marked ready that hold no cores yet (waiting ones included), itself included, but no more than `slots` (the
 * run's `--jobs`) minus the nodes already holding cores, since more than that cannot run at once anyway. Why:
 * taking every free core made a second heavy node, ready a moment later, wait for the whole of the first's run.
 */
export const makeCorePool = (total: number, options: { slots?: number } = {}): CorePool => {
  if (!Number.isFinite(total)) return unlimitedCores();
  const slots = options.slots ?? Infinity;
  let free = total;
  let holders = 0;
  const ready = new Set<string>();
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const contenders = (id: string | undefined) => {
    const others = ready.size - (id !== undefined && ready.has(id) ? 1 : 0);
    return Math.max(1, Math.min(1 + others, slots - holders));
  };
  const share = (want: number | undefined, id: string | undefined) =>
    want === undefined ? Math.max(1, Math.ceil(free / contenders(id))) : Math.min(Math.max(1, want), total);
  const acquire = (want: number | undefined, id?: string): Effect.Effect<number> =>
    Effect.async<number>((resume) => {
      const tryTake = (): boolean => {
        const n = share(want, id);
        if (free < n) return false;
        free -= n;
        holders += 1;
        if (id !== undefined) ready.delete(id);
        resume(Effect.succeed(n));
        return true;
      };
      if (tryTake()) return;
      const waiter = () => {
        if (!tryTake()) waiters.push(waiter);
      };
      waiters.push(waiter);
      return Effect.sync(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
      });
    });
  const release = (n: number) =>
    Effect.sync(() => {
      free += n;
      holders -= 1;
      wake();
    });
  return {
    acquire,
    release,
    markReady: (id) => Effect.sync(() => void ready.add(id)),
    unmarkReady: (id) => Effect.sync(() => void ready.delete(id)),
    get free() {
      return free;
    },
  };
};

/** Actions run elsewhere (queue workers): nothing is shared, a data-parallel node gets this machine's cores. */
function unlimitedCores(): CorePool {
  const local = availableParallelism();
  return {
    acquire: (want) => Effect.succeed(Math.max(1, want ?? local)),
    release: () => Effect.void,
    markReady: () => Effect.void,
    unmarkReady: () => Effect.void,
    get free() {
      return Infinity;
    },
  };
}

export interface RunSummary {
  run: string;
  status: 'succeeded' | 'failed';
  /** `invalidInput`: the node's own input check failed at run time (exit 2, the pointer names what to fix). */
  nodes: Array<{
    id: string;
    status: 'ran' | 'cached' | 'failed' | 'skipped';
    seconds: number;
    error?: string;
    log?: string;
    invalidInput?: { pointer: string };
  }>;
  privacy: Record<string, unknown>;
  record: RunRecord;
}

type Outcome =
  | { ok: true; status: 'ran' | 'cached'; manifest: ActionManifest; seconds: number; attempts: NodeRecord['attempts'] }
  | {
      ok: false;
      status: 'failed' | 'skipped';
      error: string;
      seconds: number;
      attempts: NodeRecord['attempts'];
      invalidInput?: { pointer: string };
    };

/** Plans, refuses over-budget graphs, then runs every missing action. */
export const runGraph = (graph: EngineGraph, options: RunOptions) =>
  Effect.gen(function* () {
    const plan = yield* planRun(graph, options);
    yield* refuseUnrunnable(plan);
    const run = yield* startRun(graph, plan, options);
    yield* Effect.forEach(run.byKey.keys(), (key) => runAction(run, key), { concurrency: 'unbounded', discard: true }).pipe(
      Effect.onInterrupt(() => recordInterrupted(run)),
    );
    return yield* summarise(run);
  });

/** Every way runGraph can fail (a node's failure is not one: it is in the summary). */
export type RunGraphError = Effect.Effect.Error<ReturnType<typeof runGraph>>;

/** One run as its steps share it: the graph and its plan, the record being written, and the per-key coordination. */
interface Run {
  readonly id: string;
  readonly graph: EngineGraph;
  readonly options: RunOptions;
  readonly plan: GraphPlan;
  readonly accountant: AccountantName;
  readonly startMs: number;
  /** Keys whose manifest existed at plan time and whose outputs checked out (checkCachedResults). */
  readonly cached: Set<string>;
  /** Digest -> fingerprint of the objects checked before the run, so workers do not hash them again. */
  readonly fingerprints: Map<string, string>;
  readonly record: RunRecord;
  readonly nodeRecords: Map<string, NodeRecord>;
  /** Sweep points share nodes by key: each distinct action runs once, its outcome goes to every node id. */
  readonly byKey: Map<string, EngineNode[]>;
  readonly nodeById: Map<string, EngineNode>;
  readonly upstreamKeys: Map<string, string[]>;
  readonly downstreamKeys: Map<string, string[]>;
  readonly done: Map<string, Deferred.Deferred<Outcome>>;
  readonly succeeded: Set<string>;
  readonly jobs: Effect.Semaphore;
  readonly cores: CorePool;
  /** When the record was last written (see saveRecordThrottled). */
  lastSave: number;
}

/** The plan: cache status and privacy of every node. A node's own input check (InvalidNodeInput) stays itself: the CLI reports it with its pointer, exit 2. */
const planRun = (graph: EngineGraph, options: RunOptions) =>
  Effect.gen(function* () {
    const store = yield* ArtifactStore;
    const registry = yield* NodeRegistry;
    return yield* Effect.tryPromise({
      try: () =>
        planGraph(graph, {
          store: store.raw,
          registry,
          ...(options.accountant ? { accountant: options.accountant } : {}),
          ...(options.datasetCache ? { datasetCache: options.datasetCache } : {}),
        }),
      catch: (e) => (e instanceof InvalidNodeInput ? e : new PlanFailure({ nodeId: '(plan)', message: messageOf(e) })),
    });
  });

/** Unknown node types, invalid privacy declarations and over-budget graphs are refused before anything runs. */
const refuseUnrunnable = (plan: GraphPlan): Effect.Effect<void, UnknownNodeType | PrivacyDeclarationInvalid | BudgetExceeded> => {
  const unknown = plan.unknownTypes[0];
  if (unknown) return Effect.fail(new UnknownNodeType({ nodeId: unknown.node, type: unknown.type }));
  if (plan.invalid.length > 0) return Effect.fail(new PrivacyDeclarationInvalid({ errors: plan.invalid }));
  if (plan.violations.length > 0) return Effect.fail(new BudgetExceeded({ violations: plan.violations }));
  return Effect.void;
};

/** Checks what the run builds on, writes its first record and announces it; then the actions may start. */
const startRun = (graph: EngineGraph, plan: GraphPlan, options: RunOptions) =>
  Effect.gen(function* () {
    const startMs = yield* Clock.currentTimeMillis;
    const id = options.runId ?? newRunId(new Date(startMs));
    const cached = new Set(plan.nodes.filter((n) => n.status === 'cached').map((n) => n.key));
    const fingerprints = yield* checkCachedResults(graph, cached, (message) => emitNow({ type: 'notice', run: id, message }));
    yield* requireLedgerIfCharged(graph, plan, cached);
    const run = yield* newRun({ id, graph, plan, options, startMs, cached, fingerprints });
    yield* saveRecord(run);
    yield* removeStaleTemp;
    const toRun = new Set(graph.nodes.filter((n) => !cached.has(n.key)).map((n) => n.key)).size;
    const progress = yield* Progress;
    yield* progress.emit({ type: 'run-start', run: id, graph: graph.name, nodes: graph.nodes.length, toRun, at: startMs });
    yield* markReadyForCores(run, run.byKey.keys());
    return run;
  });

/**
 * If any action to run writes the ledger (a DP mechanism, or a gap-only use of a private split), the ledger must
 * check out (chain, head, every DP manifest charged) before anything starts.
 */
const requireLedgerIfCharged = (graph: EngineGraph, plan: GraphPlan, cached: Set<string>) =>
  Effect.gen(function* () {
    const writesLedger = graph.nodes.some((n) => !cached.has(n.key) && ledgerClaims(plan.privacy.claims[n.id] ?? []).length > 0);
    if (!writesLedger) return;
    const store = yield* ArtifactStore;
    yield* store.requireIntactLedger();
  });

/** Best effort: stale temp files of crashed runs only cost space, so failing to remove them stops nothing. */
const removeStaleTemp = Effect.flatMap(ArtifactStore, (store) => store.cleanupStaleTemp()).pipe(Effect.ignore);

const newRun = (start: Pick<Run, 'id' | 'graph' | 'plan' | 'options' | 'startMs' | 'cached' | 'fingerprints'>) =>
  Effect.gen(function* () {
    const { graph, options, plan } = start;
    const nodeRecords = new Map<string, NodeRecord>(
      graph.nodes.map((n) => [n.id, { id: n.id, type: n.type, key: n.key, status: 'pending', seconds: 0, attempts: [] }]),
    );
    const record: RunRecord = {
      recordFormat: 1,
      id: start.id,
      graph: { name: graph.name, ...(options.graphFile ? { file: options.graphFile } : {}) },
      status: 'running',
      startedAt: new Date(start.startMs).toISOString(),
      host: hostname(),
      pid: process.pid,
      jobs: options.jobs,
      sweepPoints: graph.sweepPoints,
      nodes: [...nodeRecords.values()],
      privacy: { accountant: plan.privacy.accountant, datasets: plan.privacy.datasets, gaps: plan.privacy.gaps, notes: plan.privacy.notes },
    };
    const byKey = new Map<string, EngineNode[]>();
    for (const node of graph.nodes) (byKey.get(node.key) ?? byKey.set(node.key, []).get(node.key)!).push(node);
    const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
    const upstreamKeys = new Map(
      [...byKey].map(([key, nodes]) => [
        key,
        [...new Set(nodes.flatMap((n) => n.deps.map((d) => nodeById.get(d)!.key)))].filter((k) => k !== key),
      ]),
    );
    const downstreamKeys = new Map([...byKey.keys()].map((key) => [key, [] as string[]]));
    for (const [key, upstream] of upstreamKeys) for (const k of upstream) downstreamKeys.get(k)!.push(key);
    const done = new Map<string, Deferred.Deferred<Outcome>>();
    for (const key of byKey.keys()) done.set(key, yield* Deferred.make<Outcome>());
    const run: Run = {
      ...start,
      accountant: options.accountant ?? privacySettingsOf(graph).accountant,
      record,
      nodeRecords,
      byKey,
      nodeById,
      upstreamKeys,
      downstreamKeys,
      done,
      succeeded: new Set(),
      jobs: yield* Effect.makeSemaphore(Math.max(1, options.jobs)),
      // floor(Infinity) is Infinity: no sharing
      cores: makeCorePool(Math.max(1, Math.floor(options.cores ?? availableParallelism())), { slots: Math.max(1, options.jobs) }),
      lastSave: 0,
    };
    return run;
  });

const saveRecord = (run: Run) =>
  Effect.flatMap(RunRecords, (records) => records.write({ ...run.record, nodes: [...run.nodeRecords.values()] }));

/**
 * The record is rewritten (atomically, fsynced) as nodes finish, but at most once a second: rewriting a
 * 1,000-node record per node would make a big cached rerun quadratic. The final write is unconditional.
 */
const saveRecordThrottled = (run: Run) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis;
    if (now - run.lastSave < 1000) return;
    run.lastSave = now;
    yield* saveRecord(run);
  });

/** An event without its time, which emitNow stamps. */
type Unstamped<E> = E extends unknown ? Omit<E, 'at'> : never;

/** Emits a progress event stamped with the Clock's time (the TestClock's under test). */
const emitNow = (event: Unstamped<EngineEvent>) =>
  Effect.gen(function* () {
    const progress = yield* Progress;
    const at = yield* Clock.currentTimeMillis;
    yield* progress.emit({ ...event, at } as EngineEvent);
  });

/**
 * The heavy actions among `keys` that will run and whose every input exists (cached, or produced in this run)
 * now share the free cores (see makeCorePool). A cached input counts from the start, so two trainings on cached
 * datasets split the cores instead of racing for all of them.
 */
const markReadyForCores = (run: Run, keys: Iterable<string>) =>
  Effect.forEach(
    keys,
    (key) => {
      const heavy = run.byKey.get(key)![0]!.heavy;
      const inputsExist = run.upstreamKeys.get(key)!.every((k) => run.succeeded.has(k) || run.cached.has(k));
      return heavy && !run.cached.has(key) && inputsExist ? run.cores.markReady(key) : Effect.void;
    },
    { discard: true },
  );

/** One distinct action: wait for its inputs, then skip it, reuse its cached result, or run it; then record the outcome. */
const runAction = (run: Run, key: string) =>
  Effect.gen(function* () {
    const upstream = yield* awaitUpstream(run, key);
    const broken = [...upstream].filter(([, outcome]) => !outcome.ok).map(([k]) => run.byKey.get(k)![0]!.id);
    if (broken.length > 0)
      return yield* finish(run, key, {
        ok: false,
        status: 'skipped',
        error: `upstream ${broken.join(', ')} did not succeed`,
        seconds: 0,
        attempts: [],
      });
    const cached = yield* cachedOutcome(run, key);
    if (cached) return yield* finish(run, key, cached);
    const outcome = yield* run.jobs
      .withPermits(1)(withCores(run, key, (threads) => executeAction(run, key, upstream, threads)))
      .pipe(Effect.catchTag('ActionFailed', (e) => Effect.succeed(failedOutcome(e))));
    return yield* finish(run, key, outcome);
  });

const awaitUpstream = (run: Run, key: string) =>
  Effect.gen(function* () {
    const upstream = new Map<string, Outcome>();
    for (const k of run.upstreamKeys.get(key)!) upstream.set(k, yield* Deferred.await(run.done.get(k)!));
    return upstream;
  });

/**
 * The result of an action cached at plan time. A manifest that cannot be read now is said so in a notice and
 * the action runs again (its run reads the manifest once more under the action lock, and fails if it must).
 */
const cachedOutcome = (run: Run, key: string) =>
  Effect.gen(function* () {
    if (!run.cached.has(key)) return undefined;
    const store = yield* ArtifactStore;
    const manifest = yield* store.getManifest(key).pipe(
      Effect.catchTag('StoreFailure', (e) =>
        emitNow({
          type: 'notice',
          run: run.id,
          message: `${run.byKey.get(key)![0]!.id}: the cached result could not be read (${e.message}): it runs again`,
        }).pipe(Effect.as(undefined)),
      ),
    );
    return manifest ? ({ ok: true, status: 'cached', manifest, seconds: 0, attempts: [] } satisfies Outcome) : undefined;
  });

const failedOutcome = ({ message, seconds, attempts, invalidInput }: ActionFailed): Outcome => ({
  ok: false,
  status: 'failed',
  error: message,
  seconds,
  attempts,
  ...(invalidInput ? { invalidInput } : {}),
});

/** Records an action's outcome for every node id that shares its key, and releases the actions waiting on it. */
const finish = (run: Run, key: string, outcome: Outcome) =>
  Effect.gen(function* () {
    const store = yield* ArtifactStore;
    for (const node of run.byKey.get(key)!) {
      const r = run.nodeRecords.get(node.id)!;
      r.status = outcome.status;
      r.seconds = outcome.seconds;
      r.attempts = outcome.attempts;
      if (outcome.ok) {
        r.outputs = outcome.manifest.outputs;
        r.metrics = outcome.manifest.metrics;
        r.epsilon = run.plan.privacy.lineageEpsilon[node.id] ?? {};
      } else {
        r.error = outcome.error;
        if (outcome.invalidInput) r.invalidInput = outcome.invalidInput;
      }
      if (outcome.status === 'failed' || outcome.status === 'ran') r.log = nodeLogPath(store.raw, key);
      yield* emitNow({
        type: 'node-end',
        run: run.id,
        node: node.id,
        key,
        status: outcome.status,
        seconds: outcome.seconds,
        ...(outcome.ok ? {} : { error: outcome.error }),
        ...(r.log ? { log: r.log } : {}),
      });
    }
    yield* run.cores.unmarkReady(key);
    if (outcome.ok) {
      run.succeeded.add(key);
      yield* markReadyForCores(run, run.downstreamKeys.get(key)!);
    }
    yield* Deferred.succeed(run.done.get(key)!, outcome);
    yield* saveRecordThrottled(run);
  });

/**
 * A heavy node holds cores while it runs: its resources.cpus, or (a data-parallel node) its share of the free
 * ones, or one. The thread count goes to the node in its spec, never into its key.
 */
const withCores = <A, E, R>(run: Run, key: string, use: (threads: number) => Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const node = run.byKey.get(key)![0]!;
    if (!node.heavy) return yield* use(1);
    const registry = yield* NodeRegistry;
    const want = node.resources?.cpus ?? (registry.get(node.type)?.parallel ? undefined : 1);
    return yield* Effect.acquireUseRelease(run.cores.acquire(want, key), use, (n) => run.cores.release(n));
  });

/**
 * Runs an action's attempts: one, then up to `retries` more (Schedule.recurs) while the failure is not the
 * node's own input check (the input will not change, and each DP attempt is charged). No charge here: a DP
 * attempt was charged before it started (action.ts), exactly once, whatever its end.
 */
const executeAction = (run: Run, key: string, upstream: Map<string, Outcome>, threads: number) =>
  Effect.gen(function* () {
    const node = run.byKey.get(key)![0]!;
    const spec = yield* actionSpec(run, key, upstream, threads);
    const attempts: NodeRecord['attempts'] = [];
    const started = yield* Clock.currentTimeMillis;
    const secondsSinceStart = Effect.map(Clock.currentTimeMillis, (now) => (now - started) / 1000);
    return yield* runAttempt(run, node, spec, attempts).pipe(
      Effect.retry({ schedule: Schedule.recurs(Math.max(0, node.retries ?? 0)), while: (e) => invalidInputOf(e) === undefined }),
      Effect.flatMap(({ manifest, cached }) =>
        Effect.map(secondsSinceStart, (seconds): Outcome => ({ ok: true, status: cached ? 'cached' : 'ran', manifest, seconds, attempts })),
      ),
      Effect.catchAll((error) =>
        Effect.flatMap(secondsSinceStart, (seconds) => {
          const invalidInput = invalidInputOf(error);
          const message = `${error.message}${!invalidInput && attempts.length > 1 ? ` (after ${attempts.length} attempts)` : ''}`;
          return Effect.fail(new ActionFailed({ message, seconds, attempts, ...(invalidInput ? { invalidInput } : {}) }));
        }),
      ),
    );
  });

const invalidInputOf = (error: NodeFailed | NodeTimedOut) => (error._tag === 'NodeFailed' ? error.invalidInput : undefined);

/** The spec of an action but its attempt number: inputs from the upstream manifests, planned claims, key material. */
const actionSpec = (run: Run, key: string, upstream: Map<string, Outcome>, threads: number) =>
  Effect.gen(function* () {
    const node = run.byKey.get(key)![0]!;
    const inputs: ActionSpec['inputs'] = {};
    const upstreamLineage: Lineage = {};
    for (const [port, ref] of Object.entries(node.inputs)) {
      const from = run.nodeById.get(ref.node)!;
      const outcome = upstream.get(from.key);
      if (!outcome?.ok)
        return yield* Effect.fail(new ActionFailed({ message: `upstream ${ref.node} has no result`, seconds: 0, attempts: [] }));
      const output = outcome.manifest.outputs[ref.port];
      if (!output)
        return yield* Effect.fail(
          new ActionFailed({
            seconds: 0,
            attempts: [],
            message: `upstream ${ref.node} has no output port "${ref.port}" (it has: ${Object.keys(outcome.manifest.outputs).join(', ') || 'none'})`,
          }),
        );
      inputs[port] = {
        key: from.key,
        port: ref.port,
        digest: output.digest,
        kind: output.kind,
        lineage: outcome.manifest.lineage,
        ...(output.meta !== undefined ? { meta: output.meta } : {}),
        ...(run.fingerprints.has(output.digest) ? { fingerprint: run.fingerprints.get(output.digest)! } : {}),
      };
      mergeLineage(upstreamLineage, outcome.manifest.lineage);
    }
    const spec: Omit<ActionSpec, 'attempt'> = {
      key,
      nodeId: node.id,
      baseId: node.baseId,
      type: node.type,
      version: node.version,
      params: node.params,
      seed: node.seed,
      inputs,
      plannedClaims: run.plan.privacy.claims[node.id] ?? [],
      upstreamLineage,
      keyMaterial: run.plan.nodes.find((p) => p.key === key)!.material,
      accountant: run.accountant,
      graph: run.graph.name,
      run: run.id,
      ...(threads > 1 ? { threads } : {}),
    };
    return spec;
  });

/** One attempt, numbered after those in `attempts`, to which it adds itself (with its error if it failed). */
const runAttempt = (run: Run, node: EngineNode, spec: Omit<ActionSpec, 'attempt'>, attempts: NodeRecord['attempts']) =>
  Effect.gen(function* () {
    const store = yield* ArtifactStore;
    const executor = yield* Executor;
    const attempt = attempts.length + 1;
    const logPath = nodeLogPath(store.raw, spec.key);
    const attemptStart = yield* Clock.currentTimeMillis;
    const record = (error?: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        attempts.push({ attempt, seconds: (now - attemptStart) / 1000, ...(error !== undefined ? { error } : {}) });
      });
    yield* emitNow({ type: 'node-start', run: run.id, node: node.id, key: spec.key, attempt });
    run.nodeRecords.get(node.id)!.status = 'running';
    const callbacks = yield* nodeCallbacks(run, node);
    return yield* executor
      .execute({ ...spec, attempt }, { heavy: node.heavy, logPath, ...callbacks })
      .pipe(
        withNodeTimeout(node, { key: spec.key, logPath, attempt }),
        Effect.tapBoth({ onFailure: (e) => record(e.message), onSuccess: () => record() }),
      );
  });

/** The node's `timeoutSeconds` (from the graph) as a NodeTimedOut failure; the attempt is interrupted. */
const withNodeTimeout =
  (node: EngineNode, at: { key: string; logPath: string; attempt: number }) =>
  <A, R>(execution: Effect.Effect<A, NodeFailed, R>): Effect.Effect<A, NodeFailed | NodeTimedOut, R> => {
    const seconds = node.timeoutSeconds;
    if (seconds === undefined) return execution;
    return Effect.timeoutFail(execution, {
      duration: Duration.seconds(seconds),
      onTimeout: () => new NodeTimedOut({ nodeId: node.id, seconds, ...at }),
    });
  };

/**
 * The progress and notice callbacks a node calls from outside Effect: each event runs on this run's runtime, so
 * it carries the run's services and is stamped by its Clock.
 */
const nodeCallbacks = (run: Run, node: EngineNode) =>
  Effect.map(Effect.runtime<Progress>(), (runtime) => {
    const fork = Runtime.runFork(runtime);
    return {
      progress: (p: NodeProgress) => void fork(emitNow({ type: 'node-progress', run: run.id, node: node.id, ...p })),
      notice: (message: string) => void fork(emitNow({ type: 'notice', run: run.id, message: `${node.id}: ${message}` })),
    };
  });

/**
 * On interruption: a node still running or pending is recorded as `interrupted`, unless its action committed
 * while the interrupt was on its way (its manifest says so); then the record is written and the run ends.
 */
const recordInterrupted = (run: Run) =>
  Effect.gen(function* () {
    const store = yield* ArtifactStore;
    const now = yield* Clock.currentTimeMillis;
    for (const r of run.nodeRecords.values()) {
      if (r.status !== 'running' && r.status !== 'pending') continue;
      // A manifest that cannot be read does not show a commit: the node is recorded as interrupted.
      const manifest = yield* store.getManifest(r.key).pipe(Effect.catchTag('StoreFailure', () => Effect.succeed(undefined)));
      if (!manifest) {
        r.status = 'interrupted';
        continue;
      }
      r.status = manifest.provenance?.run === run.id ? 'ran' : 'cached';
      r.outputs = manifest.outputs;
      r.metrics = manifest.metrics;
      r.epsilon = run.plan.privacy.lineageEpsilon[r.id] ?? {};
    }
    run.record.status = 'interrupted';
    run.record.finishedAt = new Date(now).toISOString();
    run.record.seconds = (now - run.startMs) / 1000;
    const progress = yield* Progress;
    yield* saveRecord(run).pipe(
      Effect.catchTag('StoreFailure', (e) =>
        progress.emit({ type: 'notice', run: run.id, message: `the run record could not be written: ${e.message}`, at: now }),
      ),
    );
    yield* progress.emit({ type: 'run-end', run: run.id, status: 'interrupted', seconds: run.record.seconds, at: now });
  });

/** The final record and the summary the CLI prints. */
const summarise = (run: Run) =>
  Effect.gen(function* () {
    const endMs = yield* Clock.currentTimeMillis;
    const nodes = [...run.nodeRecords.values()];
    const anyFailed = nodes.some((n) => n.status === 'failed' || n.status === 'skipped');
    const status = anyFailed ? 'failed' : 'succeeded';
    run.record.status = status;
    run.record.finishedAt = new Date(endMs).toISOString();
    run.record.seconds = (endMs - run.startMs) / 1000;
    yield* saveRecord(run);
    const progress = yield* Progress;
    yield* progress.emit({ type: 'run-end', run: run.id, status, seconds: run.record.seconds, at: endMs });
    const summary: RunSummary = {
      run: run.id,
      status,
      nodes: nodes.map((n) => ({
        id: n.id,
        status: n.status as 'ran' | 'cached' | 'failed' | 'skipped',
        seconds: n.seconds,
        ...(n.error ? { error: n.error } : {}),
        ...(n.status === 'failed' && n.log ? { log: n.log } : {}),
        ...(n.status === 'failed' && n.invalidInput ? { invalidInput: n.invalidInput } : {}),
      })),
      privacy: privacyJson(run.plan.privacy),
      record: { ...run.record, nodes },
    };
    return summary;
  });

/**
 * Checks the cached results a run relies on, before it starts. Outputs that the run reads (inputs of an action
 * that will run) or presents (outputs of a node nothing in the graph consumes: reports, evaluations) are
 * hashed; the other cached outputs are checked to exist with their recorded size. A cached action with a
 * missing or bad output loses its manifest and runs again (which can make more outputs "read": repeated until
 * stable). Returns the fingerprints of what was hashed, so workers do not hash those objects again.
 */
function checkCachedResults(graph: EngineGraph, cached: Set<string>, notice: (message: string) => Effect.Effect<void, never, Progress>) {
  return Effect.gen(function* () {
    const store = yield* ArtifactStore;
    const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
    const consumed = new Set(graph.nodes.flatMap((n) => n.deps));
    const fingerprints = new Map<string, string>();
    const checked = new Map<string, boolean>(); // key -> hashed?
    for (let changed = true; changed;) {
      changed = false;
      const read = new Set(graph.nodes.filter((n) => !consumed.has(n.id)).map((n) => n.key));
      for (const n of graph.nodes) if (!cached.has(n.key)) for (const ref of Object.values(n.inputs)) read.add(nodeById.get(ref.node)!.key);
      for (const node of graph.nodes) {
        const key = node.key;
        const hash = read.has(key);
        if (!cached.has(key) || checked.get(key) === true || checked.get(key) === hash) continue;
        const manifest = yield* store.getManifest(key);
        const result = manifest ? yield* store.checkCachedOutputs(manifest, { hash, reader: node.id }) : undefined;
        if (result?.ok) {
          checked.set(key, hash);
          for (const [digest, fingerprint] of result.fingerprints) fingerprints.set(digest, fingerprint);
          continue;
        }
        if (result) {
          yield* store.deleteManifest(key);
          const { reader, digest, path, problem } = result.problem;
          yield* notice(
            `cached output ${reader} (object ${digest.slice(0, 12)}…, ${path}) is ${problem === 'missing' ? 'missing' : 'corrupt'}: dropped its manifest, ${node.id} runs again`,
          );
        }
        cached.delete(key);
        changed = true;
      }
    }
    return fingerprints;
  });
}

/** Exported for tests and `plan`: privacy alone, without touching the store. */
export { planPrivacy };
