// Plan-only harness for the privacy attacks: real node implementations, a throw-away store, the engine's
// planGraph in-process (no training), and `dpkd` for exit codes: in this process (runDpkd, the code the bin runs,
// which shares the loaded corpora and the accountant's caches with planGraph) or the bundled binary.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, inject } from 'vitest';
import { defaultSignatures, type ExpandedGraph, validateGraph } from '@dpkd/graph';
import { makeRegistry, openStore, planGraph, type GraphPlan, type RegisteredNode } from '@dpkd/engine';
import { nodeImplementations } from '@dpkd/nodes';
import { dpkd, type DpkdResult } from '../support/dpkd';

export const workspaceRoot = join(import.meta.dirname, '../..');

/**
 * A fresh temp dir under the run's scratch root (test/support/global-setup.ts), removed when the run ends: this
 * module is shared by several test files (isolate: false), so a per-file cleanup hook here would fire only once.
 */
export function scratchDir(prefix = 'dpkd-attack-'): string {
  return mkdtempSync(join(inject('scratchRoot'), prefix));
}

export const registry = makeRegistry(
  nodeImplementations.map((implementation): RegisteredNode => ({
    implementation,
    outputs: Object.fromEntries(
      Object.entries(defaultSignatures().get(implementation.type)?.outputs ?? {}).map(([port, spec]) => [port, spec.kind]),
    ),
  })),
);

/** A graph object (as a graph file would hold it) validated and expanded; fails the test on diagnostics. */
export function expandGraph(graph: Record<string, unknown>): ExpandedGraph {
  const result = validateGraph(JSON.stringify({ name: 'attack', seed: 1, ...graph }), 'attack.json');
  expect(result.diagnostics.map((d) => d.message)).toEqual([]);
  return result.graph!;
}

export const datasetCache = new Map();
let store: Awaited<ReturnType<typeof openStore>> | undefined;

/**
 * planGraph on a fresh (empty) store: what `dpkd plan` computes, without printing. `tamper` edits the expanded
 * graph first: how a test reaches the plan's own checks with a declaration `validate` already refuses.
 */
export async function plan(graph: Record<string, unknown>, tamper?: (expanded: ExpandedGraph) => void): Promise<GraphPlan> {
  store ??= await openStore(scratchDir('dpkd-attack-store-'));
  const expanded = expandGraph(graph);
  tamper?.(expanded);
  return planGraph(expanded, { store, registry, datasetCache });
}

/** A graph written to a temp file, and the `dpkd` arguments that check it (a fresh store unless validating). */
function cliArgs(args: string[], graph: Record<string, unknown>): string[] {
  const dir = scratchDir();
  const file = join(dir, 'graph.json');
  writeFileSync(file, JSON.stringify({ name: 'attack', seed: 1, ...graph }, null, 2));
  const store = args[0] === 'validate' ? [] : ['--store', join(dir, 'store')]; // validate has no store (an unknown option exits 2 too)
  return [...args, file, ...store];
}

/**
 * `dpkd` on a graph written to a temp file, in this process: runDpkd, what the bin's main runs
 * (`process.exitCode = await runDpkd(process.argv)`), its output captured. A new process per call would load
 * the corpora and calibrate σ again each time.
 */
export function cli(args: string[], graph: Record<string, unknown>): Promise<DpkdResult> {
  return dpkd(cliArgs(args, graph));
}

/** The bundled binary (dist/dpkd.js) in a child process on a graph written to a temp file. */
export function cliBinary(args: string[], graph: Record<string, unknown>): DpkdResult {
  const r = spawnSync(process.execPath, [join(workspaceRoot, 'dist/dpkd.js'), ...cliArgs(args, graph)], {
    cwd: workspaceRoot,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// Small building blocks of the attack graphs (the quickstart's shapes at toy sizes).
export const imdb = (extra: Record<string, unknown> = {}) => ({
  type: 'Dataset',
  params: { corpus: 'imdb', train: 200, validation: 20, test: 20, ...extra },
});
export const publicMix = { type: 'Dataset', params: { corpus: 'public-mix', train: 50, validation: 5, test: 5 } };
export const pretrain = { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny', steps: 2, batchSize: 4, seqLen: 32 } };
export const dpTeacher = (extra: Record<string, unknown> = {}, data = 'imdb') => ({
  type: 'DPFineTune',
  inputs: { model: 't0', data },
  params: { epsilon: 2, epochs: 1, batchSize: 20, seqLen: 32, ...extra },
});
