// Report: a result table from the metrics of many nodes. ε and δ come from each metrics input's lineage
// (the DP events in its ancestry) through the accountant, never from params. Reads artifacts only.
import { readFileSync } from 'node:fs';
import type { Lineage, NodeImplementation } from '@dpkd/graph';
import { type AccountantName, type DpEvent, epsilonOf } from '@dpkd/privacy';
import type { ReportParams } from '@dpkd/schema';
import { NodeInputError, writeJsonOutput } from './common';

/** The plain shape of @dpkd/report's Table (layer 3, not importable from here). */
export interface TableColumn {
  key: string;
  label: string;
  kind?: 'text' | 'integer' | 'number' | 'ratio' | 'epsilon' | 'delta';
  digits?: number;
}
export interface PlainTable {
  title?: string;
  columns: TableColumn[];
  rows: Array<Record<string, string | number | null>>;
  notes?: string[];
}

export const REPORT_COLUMNS: TableColumn[] = [
  { key: 'method', label: 'method', kind: 'text' },
  { key: 'params', label: 'parameters', kind: 'integer' },
  { key: 'compressionRatio', label: 'compression ratio', kind: 'ratio', digits: 3 },
  { key: 'epsilon', label: 'ε', kind: 'epsilon', digits: 2 },
  { key: 'delta', label: 'δ', kind: 'delta' },
  { key: 'perplexity', label: 'test perplexity', kind: 'number', digits: 2 },
];

export interface LineagePrivacy {
  epsilon: number;
  delta: number;
  /** The private unit the numbers are about (the one with the largest ε), if any event exists. */
  unit?: string;
  events: number;
  warnings: string[];
}

/**
 * ε of an artifact's lineage: per unit, the composition of its distinct events at δ = 1/(smallest n);
 * NonPrivate anywhere gives ∞; no event gives ε = 0, δ = 0. With several units, the largest ε is reported.
 */
export function lineagePrivacy(lineage: Lineage, accountant: AccountantName): LineagePrivacy {
  let result: LineagePrivacy = { epsilon: 0, delta: 0, events: 0, warnings: [] };
  for (const [unit, byKey] of Object.entries(lineage)) {
    const entries = Object.values(byKey);
    if (entries.length === 0) continue;
    const delta = 1 / Math.min(...entries.map((e) => e.n));
    const events = entries.map((e) => e.event);
    let epsilon: number;
    let warnings: string[] = [];
    if (events.some((e) => e.type === 'NonPrivate')) epsilon = Infinity;
    else {
      const composed: DpEvent = events.length === 1 ? events[0]! : { type: 'Composed', events };
      const report = epsilonOf(composed, delta, { accountant });
      epsilon = report.epsilon;
      warnings = report.warnings ?? [];
    }
    if (result.unit === undefined || epsilon > result.epsilon) result = { epsilon, delta, unit, events: entries.length, warnings };
  }
  return result;
}

interface RowSpec {
  label: string;
  metrics: string;
  method?: string;
  reference?: string;
}

type Params = Omit<ReportParams, 'seed' | 'rows'> & { rows?: RowSpec[]; accountant: AccountantName };

const readMetrics = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

export const ReportNode: NodeImplementation = {
  type: 'Report',
  async run(ctx) {
    const p = ctx.params as unknown as Params;
    const accountant = p.accountant ?? 'pld';
    const ports = Object.keys(ctx.inputs).sort();
    const specs: RowSpec[] = p.rows ?? ports.map((port) => ({ label: port, metrics: port }));
    const unknown = specs.flatMap((r) => [r.metrics, ...(r.reference ? [r.reference] : [])]).filter((port) => !ctx.inputs[port]);
    if (unknown.length > 0) throw new NodeInputError(`Report node ${ctx.id}: rows name input port(s) ${[...new Set(unknown)].join(', ')} that are not connected (inputs: ${ports.join(', ') || 'none'})`);
    const metricsOf = new Map(ports.map((port) => [port, readMetrics(ctx.inputs[port]!.path)]));
    const paramsOf = (port: string): number | null => {
      const v = metricsOf.get(port)?.params;
      return typeof v === 'number' ? v : null;
    };
    const warnings = new Set<string>();
    const units = new Set<string>();
    const rows = specs.map((spec) => {
      const metrics = metricsOf.get(spec.metrics)!;
      const privacy = lineagePrivacy(ctx.inputs[spec.metrics]!.lineage, accountant);
      privacy.warnings.forEach((w) => warnings.add(w));
      if (privacy.unit) units.add(privacy.unit);
      const params = paramsOf(spec.metrics);
      const reference = spec.reference ? paramsOf(spec.reference) : null;
      const perplexity = typeof metrics.perplexity === 'number' ? metrics.perplexity : null;
      return {
        method: spec.label,
        params,
        compressionRatio: params !== null && reference ? params / reference : null,
        epsilon: privacy.epsilon,
        delta: privacy.delta,
        perplexity,
        ...(spec.method ? { group: spec.method } : {}),
      };
    });
    const notes = [
      `ε from each row's lineage (the distinct DP events in its ancestry) with the ${accountant} accountant at δ = 1/n (n = training examples of ${[...units].join(', ') || 'the private dataset'}); never copied from params. ε = 0 (δ = 0): no DP event on private data; ∞: a non-private step.`,
      'Not in ε (held-out uses, see `dpkd plan`): checkpoint selection on the private validation split and evaluation on the private test split.',
      'compression ratio = student parameters / reference (teacher) parameters. Perplexity: test texts joined by a blank line, non-overlapping windows, exp of the mean window NLL (the paper\'s procedure), on this tokenizer\'s 4,098 tokens.',
      ...[...warnings].map((w) => `accountant: ${w}`),
    ];
    const table: PlainTable = { ...(p.title ? { title: p.title } : {}), columns: REPORT_COLUMNS, rows, notes };
    const file = await writeJsonOutput(ctx, 'table.json', table);
    return { outputs: { table: { file } }, metrics: { rows: rows.length } };
  },
};
