// The scheduler: an Effect program over the expanded DAG. One fiber per distinct action key waits on its
// upstream Deferreds, then takes one of `jobs` semaphore permits; failures skip descendants only.
import { availableParallelism, hostname } from 'node:os';
import { Clock, Deferred, Duration, Effect, Either } from 'effect';
import { type DatasetDescription, InvalidNodeInput, type NodeProgress } from '@dpkd/graph';
import type { ActionSpec } from './action';
import {
  ActionFailed,
  BudgetExceeded,
  PrivacyDeclarationInvalid,
  LedgerDamaged,
  NodeFailed,
  NodeTimedOut,
  PlanFailure,
  StoreFailure,
  UnknownNodeType,
  messageOf,
} from './errors';
import { checkCachedOutputs } from './integrity';
import { ledgerClaims, requireIntactLedger } from './ledger-guard';
import { privacySettingsOf, type AccountantName, type EngineGraph, type EngineNode } from './graph-types';
import { nodeLogPath } from './layout';
import type { ActionManifest } from './manifest';
import { planGraph, privacyJson, type GraphPlan } from './plan';
import { mergeLineage, planPrivacy, type Lineage } from './privacy-plan';
import { newRunId, type NodeRecord, type RunRecord } from './run-records';
import { ArtifactStore, Executor, NodeRegistry, Progress, RunRecords } from './services';

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

/**
 * The cores that running heavy nodes share: a node holds its threads' worth while it runs, so running
 * nodes × threads ≤ cores. `want` (a node's resources.cpus) waits for that many (at most all); without it
 * the node takes every core free when it starts (at least one, waiting for one if none is free).
 */
export const makeCorePool = (total: number) => {
  if (!Number.isFinite(total)) {
    const local = availableParallelism();
    return {
      acquire: (want: number | undefined) => Effect.succeed(Math.max(1, want ?? local)),
      release: (_n: number) => Effect.void,
      get free() {
        return Infinity;
      },
    };
  }
  let free = total;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const acquire = (want: number | undefined): Effect.Effect<number> =>
    Effect.async<number>((resume) => {
      const tryTake = (): boolean => {
        const n = want === undefined ? free : Math.min(Math.max(1, want), total);
        if (free < Math.max(1, n)) return false;
        free -= n;
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
      wake();
    });
  return {
    acquire,
    release,
    get free() {
      return free;
    },
  };
};

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
    const store = yield* ArtifactStore;
    const registry = yield* NodeRegistry;
    const executor = yield* Executor;
    const records = yield* RunRecords;
    const progress = yield* Progress;

    const plan: GraphPlan = yield* Effect.tryPromise({
      try: () =>
        planGraph(graph, {
          store,
          registry,
          ...(options.accountant ? { accountant: options.accountant } : {}),
          ...(options.datasetCache ? { datasetCache: options.datasetCache } : {}),
        }),
      // A node's own input check (InvalidNodeInput) stays itself: the CLI reports it with its pointer, exit 2.
      catch: (e) => (e instanceof InvalidNodeInput ? e : new PlanFailure({ nodeId: '(plan)', message: messageOf(e) })),
    });
    if (plan.unknownTypes.length > 0) {
      const first = plan.unknownTypes[0]!;
      return yield* Effect.fail(new UnknownNodeType({ nodeId: first.node, type: first.type }));
    }
    if (plan.invalid.length > 0) return yield* Effect.fail(new PrivacyDeclarationInvalid({ errors: plan.invalid }));
    if (plan.violations.length > 0) return yield* Effect.fail(new BudgetExceeded({ violations: plan.violations }));

    const accountant = options.accountant ?? privacySettingsOf(graph).accountant;
    const startMs = yield* Clock.currentTimeMillis;
    const runId = options.runId ?? newRunId(new Date(startMs));
    const plannedClaims = plan.privacy.claims;
    const cachedAtPlan = new Set(plan.nodes.filter((n) => n.status === 'cached').map((n) => n.key));

    // Before anything runs: the cached results this run builds on or presents are checked (see checkCachedResults),
    // and, if any action to run writes the ledger (a DP mechanism, or a gap-only use of a private split), the
    // ledger is checked (chain, head, every DP manifest charged).
    const fingerprints = yield* checkCachedResults(graph, cachedAtPlan, (message) =>
      progress.emit({ type: 'notice', run: runId, message, at: Date.now() }),
    );
    const writesLedger = graph.nodes.some((n) => !cachedAtPlan.has(n.key) && ledgerClaims(plannedClaims[n.id] ?? []).length > 0);
    if (writesLedger) {
      yield* Effect.tryPromise({
        try: () => requireIntactLedger(store),
        catch: (e) => (e instanceof LedgerDamaged ? e : new StoreFailure({ operation: 'check the privacy ledger', message: messageOf(e) })),
      });
    }

    const nodeRecords = new Map<string, NodeRecord>(
      graph.nodes.map((n) => [n.id, { id: n.id, type: n.type, key: n.key, status: 'pending', seconds: 0, attempts: [] }]),
    );
    const record: RunRecord = {
      recordFormat: 1,
      id: runId,
      graph: { name: graph.name, ...(options.graphFile ? { file: options.graphFile } : {}) },
      status: 'running',
      startedAt: new Date(startMs).toISOString(),
      host: hostname(),
      pid: process.pid,
      jobs: options.jobs,
      sweepPoints: graph.sweepPoints,
      nodes: [...nodeRecords.values()],
      privacy: { accountant: plan.privacy.accountant, datasets: plan.privacy.datasets, gaps: plan.privacy.gaps, notes: plan.privacy.notes },
    };
    const saveRecord = Effect.suspend(() => records.write({ ...record, nodes: [...nodeRecords.values()] }));
    // The record is rewritten (atomically, fsynced) as nodes finish, but at most once a second: rewriting a
    // 1,000-node record per node would make a big cached rerun quadratic. The final write is unconditional.
    let lastSave = 0;
    const saveRecordThrottled = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis;
      if (now - lastSave < 1000) return;
      lastSave = now;
      yield* saveRecord;
    });
    yield* saveRecord;
    yield* Effect.tryPromise(() => store.cleanupStaleTemp()).pipe(Effect.orElseSucceed(() => [])); // best effort: stale temp files only cost space
    const toRun = new Set(graph.nodes.filter((n) => !cachedAtPlan.has(n.key)).map((n) => n.key)).size;
    yield* progress.emit({ type: 'run-start', run: runId, graph: graph.name, nodes: graph.nodes.length, toRun, at: startMs });

    // Sweep points share nodes by key: each distinct action runs once, its outcome goes to every node id.
    const byKey = new Map<string, EngineNode[]>();
    for (const node of graph.nodes) (byKey.get(node.key) ?? byKey.set(node.key, []).get(node.key)!).push(node);
    const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
    const plannedByKey = new Map(plan.nodes.map((p) => [p.key, p]));
    const done = new Map<string, Deferred.Deferred<Outcome>>();
    for (const key of byKey.keys()) done.set(key, yield* Deferred.make<Outcome>());
    const semaphore = yield* Effect.makeSemaphore(Math.max(1, options.jobs));
    const cores = makeCorePool(Math.max(1, Math.floor(options.cores ?? availableParallelism()))); // floor(Infinity) is Infinity: no sharing

    const finish = (key: string, outcome: Outcome) =>
      Effect.gen(function* () {
        const at = yield* Clock.currentTimeMillis;
        for (const node of byKey.get(key)!) {
          const r = nodeRecords.get(node.id)!;
          r.status = outcome.status;
          r.seconds = outcome.seconds;
          r.attempts = outcome.attempts;
          if (outcome.ok) {
            r.outputs = outcome.manifest.outputs;
            r.metrics = outcome.manifest.metrics;
            r.epsilon = plan.privacy.lineageEpsilon[node.id] ?? {};
          } else {
            r.error = outcome.error;
            if (outcome.invalidInput) r.invalidInput = outcome.invalidInput;
          }
          if (outcome.status === 'failed' || outcome.status === 'ran') r.log = nodeLogPath(store, key);
          yield* progress.emit({
            type: 'node-end',
            run: runId,
            node: node.id,
            key,
            status: outcome.status,
            seconds: outcome.seconds,
            ...(outcome.ok ? {} : { error: outcome.error }),
            ...(r.log ? { log: r.log } : {}),
            at,
          });
        }
        yield* Deferred.succeed(done.get(key)!, outcome);
        yield* saveRecordThrottled;
      });

    // A heavy node holds cores while it runs: its resources.cpus, or (a data-parallel node) the free ones,
    // or one. The thread count goes to the node in its spec, never into its key.
    const withCores = <A, E>(node: EngineNode, run: (threads: number) => Effect.Effect<A, E>): Effect.Effect<A, E> => {
      if (!node.heavy) return run(1);
      const want = node.resources?.cpus ?? (registry.get(node.type)?.parallel ? undefined : 1);
      return Effect.acquireUseRelease(cores.acquire(want), run, (n) => cores.release(n));
    };

    const execute = (key: string, node: EngineNode, upstream: Map<string, Outcome>, threads = 1) =>
      Effect.gen(function* () {
        const inputs: ActionSpec['inputs'] = {};
        const upstreamLineage: Lineage = {};
        for (const [port, ref] of Object.entries(node.inputs)) {
          const from = nodeById.get(ref.node)!;
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
            ...(fingerprints.has(output.digest) ? { fingerprint: fingerprints.get(output.digest)! } : {}),
          };
          mergeLineage(upstreamLineage, outcome.manifest.lineage);
        }
        const material = plannedByKey.get(key)!.material;
        const claims = plannedClaims[node.id] ?? [];
        const logPath = nodeLogPath(store, key);
        const attempts: NodeRecord['attempts'] = [];
        const maxAttempts = 1 + Math.max(0, node.retries ?? 0);
        const started = yield* Clock.currentTimeMillis;
        let lastError = '';
        for (let attempt = 1; attempt <= maxAttempts; attempt++) {
          const spec: ActionSpec = {
            key,
            nodeId: node.id,
            baseId: node.baseId,
            type: node.type,
            version: node.version,
            params: node.params,
            seed: node.seed,
            inputs,
            plannedClaims: claims,
            upstreamLineage,
            keyMaterial: material,
            accountant,
            graph: graph.name,
            run: runId,
            attempt,
            ...(threads > 1 ? { threads } : {}),
          };
          const attemptStart = yield* Clock.currentTimeMillis;
          yield* progress.emit({ type: 'node-start', run: runId, node: node.id, key, attempt, at: attemptStart });
          const r = nodeRecords.get(node.id)!;
          r.status = 'running';
          const report = (p: NodeProgress) =>
            Effect.runFork(progress.emit({ type: 'node-progress', run: runId, node: node.id, at: Date.now(), ...p }));
          const notice = (message: string) =>
            Effect.runFork(progress.emit({ type: 'notice', run: runId, message: `${node.id}: ${message}`, at: Date.now() }));
          let run: Effect.Effect<{ manifest: ActionManifest; cached: boolean }, NodeFailed | NodeTimedOut> = executor.execute(spec, {
            heavy: node.heavy,
            logPath,
            progress: report,
            notice,
          });
          if (node.timeoutSeconds !== undefined) {
            const seconds = node.timeoutSeconds;
            run = run.pipe(
              Effect.timeoutFail({
                duration: Duration.seconds(seconds),
                onTimeout: () => new NodeTimedOut({ nodeId: node.id, key, seconds, logPath, attempt }),
              }),
            );
          }
          const result = yield* Effect.either(run);
          const now = yield* Clock.currentTimeMillis;
          if (Either.isRight(result)) {
            attempts.push({ attempt, seconds: (now - attemptStart) / 1000 });
            return {
              ok: true as const,
              status: result.right.cached ? ('cached' as const) : ('ran' as const),
              manifest: result.right.manifest,
              seconds: (now - started) / 1000,
              attempts,
            };
          }
          lastError = result.left.message;
          attempts.push({ attempt, seconds: (now - attemptStart) / 1000, error: lastError });
          // No charge here: a DP attempt was charged before it started (action.ts), exactly once, whatever its end.
          // Invalid input fails every attempt the same way (and each DP attempt is charged): no retry.
          const invalidInput = result.left._tag === 'NodeFailed' ? result.left.invalidInput : undefined;
          if (invalidInput)
            return yield* Effect.fail(new ActionFailed({ message: lastError, seconds: (now - started) / 1000, attempts, invalidInput }));
        }
        const now = yield* Clock.currentTimeMillis;
        return yield* Effect.fail(
          new ActionFailed({
            message: `${lastError}${maxAttempts > 1 ? ` (after ${maxAttempts} attempts)` : ''}`,
            seconds: (now - started) / 1000,
            attempts,
          }),
        );
      });

    const runAction = (key: string) =>
      Effect.gen(function* () {
        const nodes = byKey.get(key)!;
        const node = nodes[0]!;
        const depKeys = [...new Set(nodes.flatMap((n) => n.deps.map((d) => nodeById.get(d)!.key)))].filter((k) => k !== key);
        const upstream = new Map<string, Outcome>();
        for (const depKey of depKeys) upstream.set(depKey, yield* Deferred.await(done.get(depKey)!));
        const broken = depKeys.filter((k) => !upstream.get(k)!.ok);
        if (broken.length > 0) {
          const names = broken.map((k) => byKey.get(k)![0]!.id);
          return yield* finish(key, {
            ok: false,
            status: 'skipped',
            error: `upstream ${names.join(', ')} did not succeed`,
            seconds: 0,
            attempts: [],
          });
        }
        if (cachedAtPlan.has(key)) {
          const manifest = yield* Effect.tryPromise({
            try: () => store.getManifest<ActionManifest>(key),
            catch: (e) => new StoreFailure({ operation: 'getManifest', message: messageOf(e) }),
          }).pipe(Effect.orElseSucceed(() => undefined));
          if (manifest) return yield* finish(key, { ok: true, status: 'cached', manifest, seconds: 0, attempts: [] });
        }
        const result = yield* Effect.either(semaphore.withPermits(1)(withCores(node, (threads) => execute(key, node, upstream, threads))));
        if (Either.isRight(result)) return yield* finish(key, result.right);
        const { message, seconds, attempts, invalidInput } = result.left;
        return yield* finish(key, {
          ok: false,
          status: 'failed',
          error: message,
          seconds,
          attempts,
          ...(invalidInput ? { invalidInput } : {}),
        });
      });

    const interrupted = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis;
      // A node whose action committed while the interrupt was on its way is not "interrupted": its manifest says so.
      for (const r of nodeRecords.values()) {
        if (r.status !== 'running' && r.status !== 'pending') continue;
        const manifest = yield* Effect.tryPromise(() => store.getManifest<ActionManifest>(r.key)).pipe(
          Effect.orElseSucceed(() => undefined),
        );
        if (!manifest) {
          r.status = 'interrupted';
          continue;
        }
        r.status = manifest.provenance?.run === runId ? 'ran' : 'cached';
        r.outputs = manifest.outputs;
        r.metrics = manifest.metrics;
        r.epsilon = plan.privacy.lineageEpsilon[r.id] ?? {};
      }
      record.status = 'interrupted';
      record.finishedAt = new Date(now).toISOString();
      record.seconds = (now - startMs) / 1000;
      yield* saveRecord.pipe(
        Effect.catchAll((e) =>
          progress.emit({ type: 'notice', run: runId, message: `the run record could not be written: ${e.message}`, at: now }),
        ),
      );
      yield* progress.emit({ type: 'run-end', run: runId, status: 'interrupted', seconds: record.seconds, at: now });
    });

    yield* Effect.forEach([...byKey.keys()], runAction, { concurrency: 'unbounded', discard: true }).pipe(
      Effect.onInterrupt(() => interrupted),
    );

    const endMs = yield* Clock.currentTimeMillis;
    const nodes = [...nodeRecords.values()];
    const anyFailed = nodes.some((n) => n.status === 'failed' || n.status === 'skipped');
    record.status = anyFailed ? 'failed' : 'succeeded';
    record.finishedAt = new Date(endMs).toISOString();
    record.seconds = (endMs - startMs) / 1000;
    yield* saveRecord;
    yield* progress.emit({ type: 'run-end', run: runId, status: record.status, seconds: record.seconds, at: endMs });
    const summary: RunSummary = {
      run: runId,
      status: record.status,
      nodes: nodes.map((n) => ({
        id: n.id,
        status: n.status as 'ran' | 'cached' | 'failed' | 'skipped',
        seconds: n.seconds,
        ...(n.error ? { error: n.error } : {}),
        ...(n.status === 'failed' && n.log ? { log: n.log } : {}),
        ...(n.status === 'failed' && n.invalidInput ? { invalidInput: n.invalidInput } : {}),
      })),
      privacy: privacyJson(plan.privacy),
      record: { ...record, nodes },
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
function checkCachedResults(graph: EngineGraph, cached: Set<string>, notice: (message: string) => Effect.Effect<void>) {
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
        const manifest = yield* Effect.tryPromise({
          try: () => store.getManifest<ActionManifest>(key),
          catch: (e) => new StoreFailure({ operation: 'getManifest', message: messageOf(e) }),
        });
        const result = manifest
          ? yield* Effect.tryPromise({
              try: () => checkCachedOutputs(store, manifest, { hash, reader: node.id }),
              catch: (e) => new StoreFailure({ operation: 'verify cached outputs', message: messageOf(e) }),
            })
          : undefined;
        if (result?.ok) {
          checked.set(key, hash);
          for (const [digest, fingerprint] of result.fingerprints) fingerprints.set(digest, fingerprint);
          continue;
        }
        if (result) {
          yield* Effect.tryPromise({
            try: () => store.deleteManifest(key),
            catch: (e) => new StoreFailure({ operation: 'deleteManifest', message: messageOf(e) }),
          });
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
