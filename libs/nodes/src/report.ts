// Report: a result table from the metrics of many nodes. ε and δ come from each metrics input's lineage
// (the DP events in its ancestry) through @dpkd/privacy's lineagePrivacy, the rule plan and ledger use too,
// never from params; each row's privacy gaps (departures from the proof in its lineage) are its footnotes.
// Reads artifacts only.
import { readFileSync } from 'node:fs';
import { type AccountantName, lineagePrivacy, type UnitPrivacy } from '@dpkd/privacy';
import type { Column, Table } from '@dpkd/report';
import type { ReportParams, ReportPorts } from '@dpkd/schema';
import { NodeInputError, writeJsonOutput } from './common';
import { defineNode } from './define-node';

/** The table's columns; the perplexity column is labelled by the split its rows were evaluated on. */
export const reportColumns = (split = 'test'): Column[] => [
  { key: 'method', label: 'method', kind: 'text' },
  { key: 'params', label: 'parameters', kind: 'integer' },
  { key: 'compressionRatio', label: 'compression ratio', kind: 'ratio', digits: 3 },
  { key: 'epsilon', label: 'ε', kind: 'epsilon', digits: 2 },
  { key: 'delta', label: 'δ', kind: 'delta' },
  { key: 'perplexity', label: `${split} perplexity`, kind: 'number', digits: 2, better: 'lower' },
];

interface RowSpec {
  label: string;
  metrics: string;
  method?: string;
  reference?: string;
}

type Params = Omit<ReportParams, 'seed' | 'rows'> & { rows?: RowSpec[]; accountant: AccountantName };

const readMetrics = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

export const ReportNode = defineNode<Params, ReportPorts>({
  type: 'Report',
  async run(ctx) {
    const p = ctx.params;
    const accountant = p.accountant ?? 'pld';
    const ports = Object.keys(ctx.inputs).sort();
    const specs: RowSpec[] = p.rows ?? ports.map((port) => ({ label: port, metrics: port }));
    const unknown = specs.flatMap((r) => [r.metrics, ...(r.reference ? [r.reference] : [])]).filter((port) => !ctx.inputs[port]);
    if (unknown.length > 0)
      throw new NodeInputError(
        `Report node ${ctx.id}: rows name input port(s) ${[...new Set(unknown)].join(', ')} that are not connected (inputs: ${ports.join(', ') || 'none'})`,
      );
    const metricsOf = new Map(ports.map((port) => [port, readMetrics(ctx.inputs[port]!.path)]));
    const paramsOf = (port: string): number | null => {
      const v = metricsOf.get(port)?.params;
      return typeof v === 'number' ? v : null;
    };
    const warnings = new Set<string>();
    const units = new Set<string>();
    const memo = new Map<string, UnitPrivacy>();
    const rowNotes: string[][] = [];
    const rows = specs.map((spec) => {
      const metrics = metricsOf.get(spec.metrics)!;
      const privacy = lineagePrivacy(ctx.inputs[spec.metrics]!.lineage, accountant, memo);
      privacy.warnings.forEach((w) => warnings.add(w));
      if (privacy.unit) units.add(privacy.unit);
      rowNotes.push(privacy.gaps.map((g) => `not covered by ε: ${g}`));
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
    // Evaluate records its split: a table of validation runs (tuning) must not read as test results.
    const splits = [...new Set(specs.map((spec) => metricsOf.get(spec.metrics)!.split).filter((x) => typeof x === 'string'))].sort();
    const split = splits.length === 1 ? splits[0]! : splits.length > 1 ? `${splits.join('/')} (mixed)` : 'test';
    const notes = [
      `ε from each row's lineage (the distinct DP events in its ancestry) with the ${accountant} accountant at the δ of its privacy unit (${[...units].join(', ') || 'none'}: the budget's, else 1/(10·N), N = documents of the corpus); never copied from params. ε = 0 (δ = 0): no DP event on private data; ∞: a non-private step. Accounting is add/remove-one (docs/privacy.md).`,
      "Numbered notes: where a row's lineage departs from the proof (held-out uses of private splits, shuffled batches, seeded noise); `dpkd plan` lists them per node.",
      `compression ratio = student parameters / reference (teacher) parameters. Perplexity: the ${split} split's texts joined by a blank line, non-overlapping windows, exp of the mean window NLL (the paper's procedure), on this tokenizer's 4,098 tokens.`,
      ...[...warnings].map((w) => `accountant: ${w}`),
    ];
    const table: Table = {
      ...(p.title ? { title: p.title } : {}),
      columns: reportColumns(split),
      rows,
      notes,
      ...(rowNotes.some((n) => n.length) ? { rowNotes } : {}),
    };
    const file = await writeJsonOutput(ctx, 'table.json', table);
    return { outputs: { table: { file } }, metrics: { rows: rows.length } };
  },
});
