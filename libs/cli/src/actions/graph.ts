// `dpkd validate | plan | graph`: the graph language's commands (no execution). Loaded when one of them runs
// (commands/graph.ts registers them).
import { formatEps, openStore, planGraph, planJson, renderPlan, resolveStoreDir } from '@dpkd/engine';
import { type ExpandedGraph, formatDiagnostic, toDot, toMermaid } from '@dpkd/graph';
import { CliError, ExitCode, userError } from '../cli-error';
import { loadGraph, modelShape, nodeRegistry, publicModelShape } from '../registry';

/** Loads one graph; an invalid one prints its diagnostics (stderr) and exits 2. */
async function loadOrFail(file: string): Promise<ExpandedGraph> {
  const result = await loadGraph(file);
  if (!result.graph) {
    for (const d of result.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
    const n = result.diagnostics.length;
    throw new CliError(`${file} is not a valid graph (${n} error${n === 1 ? '' : 's'}); see docs/graphs.md`, ExitCode.invalidInput);
  }
  return result.graph;
}

/**
 * The JSON pointer of the budget that covers a privacy unit: budgets are keyed by a corpus name or by a
 * Dataset node id (whose corpus is the unit); `/privacy/budgets` when none matches.
 */
function budgetPointer(graph: ExpandedGraph, unit: string): string {
  const budgets = Object.keys((graph.source as { privacy?: { budgets?: Record<string, unknown> } }).privacy?.budgets ?? {});
  const corpusOf = (id: string) => graph.nodes.find((n) => n.baseId === id && n.type === 'Dataset')?.params.corpus;
  const key = budgets.find((k) => k === unit) ?? budgets.find((k) => corpusOf(k) === unit);
  return key === undefined ? '/privacy/budgets' : `/privacy/budgets/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

export async function validateCommand(files: string[]): Promise<void> {
  let invalid = 0;
  for (const file of files) {
    const result = await loadGraph(file);
    if (result.graph) {
      const g = result.graph;
      process.stdout.write(
        `${file}: valid (${g.nodes.length} nodes, ${g.sweepPoints.length} sweep point${g.sweepPoints.length === 1 ? '' : 's'})\n`,
      );
    } else {
      invalid++;
      for (const d of result.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
    }
  }
  if (invalid)
    throw new CliError(`${invalid} of ${files.length} graph file${files.length === 1 ? ' is' : 's are'} invalid`, ExitCode.invalidInput);
}

export async function planCommand(file: string, options: { json?: boolean; store?: string }): Promise<void> {
  const graph = await loadOrFail(file);
  const store = await openStore(resolveStoreDir(options.store));
  const plan = await planGraph(graph, { store, registry: nodeRegistry(), modelShape, publicModelShape }).catch((error: unknown) => {
    throw userError(error, file) ?? error;
  });
  process.stdout.write(options.json ? `${JSON.stringify(planJson(plan))}\n` : `${renderPlan(plan).trimEnd()}\n`);
  // Privacy declarations that cannot be planned (mixed private/public, two budgets, δ ≥ 1/N): invalid input.
  if (plan.invalid.length > 0) {
    for (const e of plan.invalid) process.stderr.write(`${file}: ${e.pointer}: ${e.message}\n`);
    process.exitCode = ExitCode.invalidInput;
    return;
  }
  if (plan.violations.length > 0) {
    for (const v of plan.violations) {
      if (v.refusals?.length && v.nonPrivateNodes.length === 0 && v.epsilon <= v.budget) {
        for (const r of v.refusals)
          process.stderr.write(
            `${file}: ${budgetPointer(graph, v.unit)}: ${v.unit}: refused: ${r.reason} (nodes: ${r.nodes.join(', ')})\n`,
          );
        continue;
      }
      const what =
        v.nonPrivateNodes.length > 0
          ? `non-private use by ${v.nonPrivateNodes.join(', ')}`
          : `ε=${formatEps(v.epsilon)} at δ=${v.delta.toExponential(2)}`;
      process.stderr.write(
        `${file}: ${budgetPointer(graph, v.unit)}: ${v.unit}: ${what} exceeds the budget ε=${v.budget}; spend less (smaller ε, fewer DP nodes) or raise the budget\n`,
      );
    }
    process.exitCode = ExitCode.budgetExceeded;
  }
}

export async function graphCommand(file: string, options: { format: 'mermaid' | 'dot' }): Promise<void> {
  const graph = await loadOrFail(file);
  process.stdout.write(options.format === 'dot' ? toDot(graph) : toMermaid(graph));
}
