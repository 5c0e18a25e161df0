// One action from start to commit: run the node in a scratch dir, move its outputs into the store, append
// its executed mechanisms to the ledger, then write the manifest. The in-process executor and `dpkd exec`
// (the worker) both call runActionLocked, so both commit the same way.
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { NodeProgress, NodeRunContext, NodeRunResult, PrivacyClaim } from '@dpkd/graph';
import { writeFileAtomic, type Store } from '@dpkd/store';
import type { AccountantName } from './graph-types';
import { type KeyMaterial } from './key-material';
import { recordKey } from './key-index';
import { nodeLogPath, nodeLogsDir, specPath, specsDir } from './layout';
import { appendToLedger } from './ledger';
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
  inputs: Record<string, { key: string; port: string; digest: string; kind: string; meta?: unknown; lineage: Lineage }>;
  plannedClaims: PrivacyClaim[];
  upstreamLineage: Lineage;
  keyMaterial: KeyMaterial;
  accountant: AccountantName;
  graph: string;
  run: string;
  attempt: number;
}

export interface ActionHooks {
  signal: AbortSignal;
  progress(p: NodeProgress): void;
  executor: 'in-process' | 'worker';
}

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
  return store.withLock(`action-${spec.key}`, async () => {
    const existing = await store.getManifest<ActionManifest>(spec.key);
    if (existing) return { manifest: existing, cached: true };
    return { manifest: await performAction(store, registry, spec, hooks), cached: false };
  });
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
    const inputs: NodeRunContext['inputs'] = {};
    for (const [port, input] of Object.entries(spec.inputs)) {
      inputs[port] = { kind: input.kind, path: store.objectPath(input.digest), meta: input.meta, lineage: input.lineage };
    }
    let result: NodeRunResult;
    try {
      result = await impl.run({
        id: spec.nodeId,
        key: spec.key,
        type: spec.type,
        params: spec.params,
        seed: spec.seed,
        inputs,
        scratchDir,
        signal: hooks.signal,
        progress: hooks.progress,
        log: (line) => void pendingLogs.push(log(line)),
      });
    } catch (error) {
      await log(`# failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      throw error;
    }
    if (hooks.signal.aborted) throw new ActionAborted(spec.key);

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

    // Ledger first, then manifest: a crash in between charges a mechanism whose result is discarded
    // (over-counting), never the reverse.
    await appendToLedger(
      store,
      executed,
      { key: spec.key, node: spec.nodeId, type: spec.type, graph: spec.graph, run: spec.run, attempt: spec.attempt, outcome: 'executed' },
      spec.accountant,
    );
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
    };
    await store.putManifest(spec.key, manifest);
    await recordKey(store, spec.baseId, spec.key, spec.keyMaterial);
    return manifest;
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}
