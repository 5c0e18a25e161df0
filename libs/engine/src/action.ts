// One action from start to commit: verify its inputs, charge its DP mechanisms to the ledger (before it
// touches its data), run the node in a scratch dir, move its outputs into the store, then write the
// manifest. The in-process executor and `dpkd exec` (the worker) both call runActionLocked, so both commit
// the same way.
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { atNode, type NodeProgress, type NodeRunContext, type NodeRunResult, type PrivacyClaim } from '@dpkd/graph';
import type { DpEvent } from '@dpkd/privacy';
import { canonicalJson, writeFileAtomic, type Store } from '@dpkd/store';
import type { AccountantName } from './graph-types';
import { type KeyMaterial } from './key-material';
import { recordKey } from './key-index';
import { checkpointDir, nodeLogPath, nodeLogsDir, specPath, specsDir } from './layout';
import { NonFiniteResult } from './errors';
import { verifiedRead } from './integrity';
import { appendToLedger } from './ledger';
import { chargeAttempt, chargeableClaims } from './ledger-guard';
import { DPKD_VERSION, type ActionManifest, type ArtifactRef } from './manifest';
import { addClaims, mergeLineage, type Lineage } from './privacy-plan';
import type { NodeRegistryApi } from './registry';

/** Everything needed to run one action, written to the store so a worker process can run it by key. */
export interface ActionSpec {
  key: string;
  nodeId: string;
  baseId: string;
  type: string;
  version: number;
  params: Record<string, unknown>;
  seed: number;
  /** `fingerprint`: the run verified this object already (Store.verifyObject), so a worker need not hash it again. */
  inputs: Record<
    string,
    { key: string; port: string; digest: string; kind: string; meta?: unknown; lineage: Lineage; fingerprint?: string }
  >;
  plannedClaims: PrivacyClaim[];
  upstreamLineage: Lineage;
  keyMaterial: KeyMaterial;
  accountant: AccountantName;
  graph: string;
  run: string;
  attempt: number;
  /** Cores the scheduler gave this run (data-parallel replicas); not part of the key. */
  threads?: number;
}

export interface ActionHooks {
  signal: AbortSignal;
  progress(p: NodeProgress): void;
  executor: 'in-process' | 'worker';
  /** A line for the user that is not progress (e.g. who holds a lock the action waits for). */
  notice?(message: string): void;
}

/** Waiting for the action's lock says who holds it and since when, and ends on the action's abort signal (Ctrl-C). */
const lockWaitNotice = (hooks: ActionHooks) => ({
  signal: hooks.signal,
  onWait: (wait: { description: string }) => hooks.notice?.(`waiting: ${wait.description}`),
});

/**
 * What a node's log says when its run ends because its signal was aborted (Ctrl-C, a timeout, a stopped worker):
 * an expected end, so one line, not the stack trace of the abort error, which would read as a crash.
 */
export const INTERRUPTED_LINE = '# interrupted (Ctrl-C, a timeout or a stopped worker): the node stopped; nothing was committed';

export class ActionAborted extends Error {
  constructor(readonly key: string) {
    super(`action ${key.slice(0, 12)} was interrupted; nothing was committed`);
    this.name = 'ActionAborted';
  }
}

export async function writeSpec(store: Store, spec: ActionSpec): Promise<void> {
  await mkdir(specsDir(store), { recursive: true });
  await writeFileAtomic(specPath(store, spec.key), JSON.stringify(spec));
}

export async function readSpec(store: Store, key: string): Promise<ActionSpec> {
  try {
    return JSON.parse(await readFile(specPath(store, key), 'utf8')) as ActionSpec;
  } catch {
    throw new Error(`no action spec for key ${key} in ${store.root}: \`dpkd exec\` runs actions a \`dpkd run\` has planned`);
  }
}

/**
 * Runs the action unless its manifest exists, under the cross-process lock `action-<key>`: a second
 * `dpkd run` on the same store waits here and then reuses the first one's result.
 */
export async function runActionLocked(
  store: Store,
  registry: NodeRegistryApi,
  spec: ActionSpec,
  hooks: ActionHooks,
): Promise<{ manifest: ActionManifest; cached: boolean }> {
  return store.withLock(
    `action-${spec.key}`,
    async () => {
      const existing = await store.getManifest<ActionManifest>(spec.key);
      if (existing) return { manifest: existing, cached: true };
      return { manifest: await performAction(store, registry, spec, hooks), cached: false };
    },
    lockWaitNotice(hooks),
  );
}

async function performAction(store: Store, registry: NodeRegistryApi, spec: ActionSpec, hooks: ActionHooks): Promise<ActionManifest> {
  const impl = registry.get(spec.type);
  if (!impl) throw new Error(`no implementation registered for node type ${spec.type}`);
  await mkdir(nodeLogsDir(store), { recursive: true });
  const logPath = nodeLogPath(store, spec.key);
  const log = (line: string) => appendFile(logPath, `${line}\n`).catch(() => undefined);
  await log(`# ${new Date().toISOString()} ${spec.nodeId} (${spec.type}) attempt ${spec.attempt} run ${spec.run} pid ${process.pid}`);
  const scratchDir = await store.makeScratchDir(spec.key.slice(0, 12));
  const started = Date.now();
  const pendingLogs: Promise<unknown>[] = [];
  try {
    // Every input is checked against its digest before the node reads it (a corrupt or missing object drops
    // its producer's manifest, so the producer runs again, and fails this action with ObjectUnavailable).
    const inputs: NodeRunContext['inputs'] = {};
    for (const [port, input] of Object.entries(spec.inputs)) {
      const object = await verifiedRead(store, {
        digest: input.digest,
        reader: `${spec.nodeId}.${port}`,
        producerKey: input.key,
        ...(input.fingerprint ? { trusted: input.fingerprint } : {}),
      });
      inputs[port] = { kind: input.kind, path: object.path, meta: input.meta, lineage: input.lineage };
    }

    // Charge before training (see README, "The ledger never under-counts"): from here on the attempt is in the
    // ledger whatever happens to it. A damaged ledger or a failed write stops the action before it starts.
    if (hooks.signal.aborted) throw new ActionAborted(spec.key);
    const context = { key: spec.key, node: spec.nodeId, type: spec.type, graph: spec.graph, run: spec.run, attempt: spec.attempt };
    const charges = await chargeAttempt(store, spec.plannedClaims, context, spec.accountant);
    if (charges.length > 0) await log(`# charged to the privacy ledger before starting: entries ${charges.map((c) => c.seq).join(', ')}`);

    let result: NodeRunResult;
    try {
      // A node's own input check that fails only now (NodeInputError) becomes InvalidNodeInput with the node's
      // JSON pointer, as at plan time: invalid input (exit 2), not a failed node.
      const node = { id: spec.nodeId, baseId: spec.baseId, type: spec.type };
      result = await atNode(node, () =>
        impl.run({
          id: spec.nodeId,
          key: spec.key,
          type: spec.type,
          params: spec.params,
          seed: spec.seed,
          inputs,
          scratchDir,
          checkpointDir: checkpointDir(store, spec.key),
          ...(spec.threads !== undefined ? { threads: spec.threads } : {}),
          signal: hooks.signal,
          progress: hooks.progress,
          log: (line) => void pendingLogs.push(log(line)),
        }),
      );
    } catch (error) {
      await log(
        hooks.signal.aborted ? INTERRUPTED_LINE : `# failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      throw error;
    }
    if (hooks.signal.aborted) throw new ActionAborted(spec.key);
    const nonFinite = findNonFinite(result.metrics ?? {}, '/metrics');
    if (nonFinite) {
      const error = new NonFiniteResult({ nodeId: spec.nodeId, type: spec.type, pointer: nonFinite.pointer, value: nonFinite.value });
      await log(`# failed: ${error.message}`);
      throw error;
    }

    const outputs: Record<string, ArtifactRef> = {};
    for (const [port, output] of Object.entries(result.outputs)) {
      const put = await store.putFile(output.file, { move: true });
      outputs[port] = {
        digest: put.digest,
        kind: registry.outputKind(spec.type, port) ?? 'Artifact',
        bytes: put.size,
        ...(output.meta !== undefined ? { meta: output.meta } : {}),
      };
    }
    if (hooks.signal.aborted) throw new ActionAborted(spec.key); // stored objects without a manifest are gc'd

    const executed = result.privacy ?? spec.plannedClaims;
    const lineage: Lineage = {};
    mergeLineage(lineage, spec.upstreamLineage);
    addClaims(lineage, { id: spec.nodeId, key: spec.key }, executed);

    // The planned mechanisms were charged before the run. A node that reports having executed more than that
    // (DPFineTune reports the steps it took, never more than planned) is charged what it reports as well.
    if (!coveredBy(chargeableClaims(executed), chargeableClaims(spec.plannedClaims))) {
      const extra = await appendToLedger(store, executed, { ...context, outcome: 'executed' }, spec.accountant);
      charges.push(...extra.map((r) => ({ seq: r.seq, hash: r.hash })));
    }
    await Promise.all(pendingLogs);
    const seconds = (Date.now() - started) / 1000;
    await log(`# done in ${seconds.toFixed(3)} s`);
    const logDigest = (await store.putFile(logPath).catch(() => undefined))?.digest;
    const manifest: ActionManifest = {
      manifestFormat: 1,
      key: spec.key,
      type: spec.type,
      version: spec.version,
      params: spec.params,
      seed: spec.seed,
      inputs: Object.fromEntries(Object.entries(spec.inputs).map(([p, i]) => [p, { key: i.key, port: i.port, digest: i.digest }])),
      outputs,
      metrics: result.metrics ?? {},
      privacy: executed,
      lineage,
      keyMaterial: spec.keyMaterial,
      provenance: {
        ...(result.provenance ?? {}),
        dpkdVersion: DPKD_VERSION,
        host: hostname(),
        pid: process.pid,
        node: spec.nodeId,
        graph: spec.graph,
        run: spec.run,
        startedAt: new Date(started).toISOString(),
        seconds,
        attempt: spec.attempt,
        executor: hooks.executor,
      },
      ...(logDigest ? { logDigest } : {}),
      ...(charges.length > 0 ? { charges } : {}),
    };
    await store.putManifest(spec.key, manifest);
    await rm(checkpointDir(store, spec.key), { recursive: true, force: true }); // the result is committed: no resume needed
    await recordKey(store, spec.baseId, spec.key, spec.keyMaterial);
    return manifest;
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}

/**
 * Whether every executed claim is within a charged one of the same unit and split: the same event, or the
 * same mechanism self-composed no more times (ε grows with the count, so fewer steps cost no more).
 */
function coveredBy(executed: PrivacyClaim[], charged: PrivacyClaim[]): boolean {
  const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);
  const within = (e: DpEvent, c: DpEvent) =>
    same(e, c) || (e.type === 'SelfComposed' && c.type === 'SelfComposed' && same(e.event, c.event) && e.count <= c.count);
  return executed.every((x) => charged.some((c) => c.dataset.unit === x.dataset.unit && c.split === x.split && within(x.event!, c.event!)));
}

/** The first NaN or ±Infinity in a node's metrics, with its JSON pointer (canonical JSON has no form for them). */
function findNonFinite(value: unknown, pointer: string): { pointer: string; value: string } | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { pointer, value: String(value) };
  if (value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = findNonFinite(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    if (found) return found;
  }
  return undefined;
}
