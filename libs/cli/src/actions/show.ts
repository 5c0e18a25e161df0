// `dpkd show NODE`: one node's result from the store: params, metrics, the (ε, δ) of its output's lineage and
// its log (registered by commands/show.ts; loaded when `show`, `run` or `status` runs). Also the one place that
// turns a node's manifest into what a person reads, so the end of `run` and `status` print the same numbers. ε is
// @dpkd/privacy's lineagePrivacy over the manifest's lineage (the rule the plan, the ledger and the Report use),
// never copied from params.
import { existsSync } from 'node:fs';
import { formatDiagnostic } from '@dpkd/graph';
import {
  formatEps,
  latestRunRecord,
  listRunRecords,
  nodeLogPath,
  openStore,
  privacySettingsOf,
  resolveStoreDir,
  type AccountantName,
  type ActionManifest,
} from '@dpkd/engine';
import { lineagePrivacy, type LineagePrivacy } from '@dpkd/privacy';
import type { Store } from '@dpkd/store';
import { CliError, ExitCode } from '../cli-error';

export interface NodeResult {
  id: string;
  type: string;
  key: string;
  params: Record<string, unknown>;
  /** Undefined when the action has no result in the store (not run yet, or removed). */
  metrics?: Record<string, unknown>;
  privacy?: LineagePrivacy;
  log?: string;
  /** The run that computed it. */
  run?: string;
}

/** A node's result read from its manifest (params from the graph when it has not run). */
export async function readNodeResult(
  store: Store,
  node: { id: string; type: string; key: string; params?: Record<string, unknown> },
  accountant: AccountantName,
): Promise<NodeResult> {
  const manifest = await store.getManifest<ActionManifest>(node.key);
  const log = nodeLogPath(store, node.key);
  return {
    id: node.id,
    type: node.type,
    key: node.key,
    params: manifest?.params ?? node.params ?? {},
    ...(manifest ? { metrics: manifest.metrics, privacy: lineagePrivacy(manifest.lineage, accountant), run: manifest.provenance.run } : {}),
    ...(existsSync(log) ? { log } : {}),
  };
}

/** "ε 2.000 at δ 2.0e-6 (imdb)", "ε 0 (no DP mechanism on private data)" or "ε ∞ (non-private)". */
export function formatPrivacy(p: LineagePrivacy): string {
  if (p.mechanisms === 0) return 'ε 0 (no DP mechanism on private data)';
  if (p.nonPrivate || !Number.isFinite(p.epsilon)) return `ε ∞ (non-private step on ${p.unit})`;
  return `ε ${formatEps(p.epsilon)} at δ ${p.delta.toExponential(1)} (${p.unit})`;
}

/** The metrics a person looks for first, in this order (Evaluate's perplexity, a model's validation perplexity, ...). */
const HEADLINE = ['perplexity', 'validationPerplexity', 'finalLoss', 'generated', 'rows'];

const formatValue = (v: unknown): string =>
  typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(Math.abs(v) >= 100 ? 2 : 4) : String(v);

/** The headline metric of a result, e.g. "perplexity 412.31", or '' when it has none. */
export function headlineMetric(metrics: Record<string, unknown> | undefined): string {
  const name = HEADLINE.find((k) => typeof metrics?.[k] === 'number');
  return name ? `${name} ${formatValue(metrics![name])}` : '';
}

/** The scalar metrics as `name=value` (objects and lists are in `dpkd show`). */
export function scalarMetrics(metrics: Record<string, unknown> | undefined): string {
  return Object.entries(metrics ?? {})
    .filter(([, v]) => ['number', 'string', 'boolean'].includes(typeof v))
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ');
}

/** One line per result: "ppl (Evaluate): perplexity 412.31 · ε 2.000 at δ 2.0e-6 (imdb) · 2 gap(s)". */
export function resultLine(r: NodeResult): string {
  if (!r.metrics || !r.privacy) return `${r.id} (${r.type}): no result in the store`;
  const parts = [
    headlineMetric(r.metrics),
    formatPrivacy(r.privacy),
    ...(r.privacy.gaps.length ? [`${r.privacy.gaps.length} privacy gap(s)`] : []),
  ];
  return `${r.id} (${r.type}): ${parts.filter(Boolean).join(' · ')}`;
}

const print = (text: string) => void process.stdout.write(`${text}\n`);

export interface ShowOptions {
  graph?: string;
  run?: string;
  store?: string;
  json?: boolean;
}

/** The node of a graph file or of the latest run (or `--run`), by expanded id or, if unique, by its id in the file. */
async function findNode(store: Store, id: string, opts: { graph?: string; run?: string }) {
  const pick = <T extends { id: string }>(nodes: T[], baseOf: (n: T) => string, where: string): T => {
    const exact = nodes.find((n) => n.id === id);
    if (exact) return exact;
    const byBase = nodes.filter((n) => baseOf(n) === id);
    if (byBase.length === 1) return byBase[0]!;
    if (byBase.length > 1)
      throw new CliError(
        `node \`${id}\` has ${byBase.length} sweep instances in ${where}; name one: ${byBase.map((n) => n.id).join(', ')}`,
        ExitCode.invalidInput,
      );
    throw new CliError(`no node \`${id}\` in ${where}; its nodes: ${nodes.map((n) => n.id).join(', ')}`, ExitCode.invalidInput);
  };
  if (opts.graph) {
    // The key environment (tfjs backend, tokenizer) only for a graph file: a node of a recorded run needs neither.
    const { loadGraph } = await import('../registry');
    const loaded = await loadGraph(opts.graph);
    if (!loaded.graph) throw new CliError(loaded.diagnostics.map(formatDiagnostic).join('\n'), ExitCode.invalidInput);
    const node = pick(loaded.graph.nodes, (n) => n.baseId, opts.graph);
    return { node, accountant: privacySettingsOf(loaded.graph).accountant };
  }
  const record = opts.run ? (await listRunRecords(store)).find((r) => r.id === opts.run) : await latestRunRecord(store);
  if (!record) {
    throw new CliError(
      opts.run
        ? `no run ${opts.run} in ${store.root} (see \`dpkd status\`)`
        : `no run yet in ${store.root}: run a graph first, or name one with --graph FILE`,
      ExitCode.invalidInput,
    );
  }
  const node = pick(record.nodes, (n) => n.id.replace(/\[.*$/, ''), `run ${record.id} (${record.graph.name})`);
  return { node, accountant: record.privacy.accountant };
}

export async function showCommand(id: string, opts: ShowOptions): Promise<void> {
  const store = await openStore(resolveStoreDir(opts.store));
  const { node, accountant } = await findNode(store, id, opts);
  const r = await readNodeResult(store, node, accountant);
  if (opts.json) return print(JSON.stringify(r, (_k, v) => (v === Infinity ? null : v), 1));
  print(`${r.id} (${r.type})  key ${r.key}`);
  print(`  params:  ${JSON.stringify(r.params)}`);
  if (!r.metrics || !r.privacy) {
    print('  result:  none in the store (not run yet, or removed by `cache gc`)');
    if (r.log) print(`  log:     ${r.log}`);
    process.exitCode = ExitCode.failed;
    return;
  }
  print(`  metrics: ${JSON.stringify(r.metrics)}`);
  print(`  privacy: ${formatPrivacy(r.privacy)}, ${r.privacy.mechanisms} DP mechanism(s) in its lineage (${accountant} accountant)`);
  for (const gap of r.privacy.gaps) print(`    not covered by ε: ${gap}`);
  for (const w of r.privacy.warnings) print(`    accountant: ${w}`);
  print(`  run:     ${r.run}`);
  print(`  log:     ${r.log ?? '(none: its run kept no log)'}`);
}
