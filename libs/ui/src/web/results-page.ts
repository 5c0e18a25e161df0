/// <reference lib="dom" />
// The Results page: every Report table with its plots (perplexity against ε per method, against the compression
// ratio, and the Report's own bar chart); a click on a row shows the node, the DP actions and the ledger
// entries behind it.
import { h } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';
import { href, useJson, type Route } from './api';
import { Scatter } from './charts';
import { eps, sci } from './format';

const html = htm.bind(h);

interface Column {
  key: string;
  label: string;
  kind?: string;
  digits?: number;
}
type Cell = string | number | null;
interface Table {
  title?: string;
  columns: Column[];
  rows: Array<Record<string, Cell>>;
  notes?: string[];
  rowNotes?: string[][];
}
interface Sources {
  metrics?: { id: string; key: string };
  actions: Array<{ unit: string; node: string; key: string; mechanism: boolean }>;
  ledger: number[];
}
interface Result {
  node: string;
  key: string;
  run: string;
  graph: string;
  table?: Table;
  problem?: string;
  rows: Sources[];
}

/** A cell as `dpkd report` prints it (JSON has no ∞: the table object writes it as null only for missing values). */
function cell(v: Cell | undefined, c: Column): string {
  if (v === null || v === undefined) return c.kind === 'epsilon' ? '∞' : '—';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return '∞';
  if (c.kind === 'integer') return Math.round(v).toLocaleString('en-US');
  if (c.kind === 'delta') return sci(v);
  if (c.kind === 'epsilon') return eps(v, c.digits ?? 2);
  if (c.kind === 'ratio' || c.kind === 'number') return v.toFixed(c.digits ?? (c.kind === 'ratio' ? 3 : 2));
  return String(v);
}

const numberOr = (v: Cell | undefined): number => (typeof v === 'number' ? v : NaN);

function ResultCard(props: { r: Result }) {
  const [row, setRow] = useState<number | undefined>(undefined);
  const { r } = props;
  const t = r.table;
  if (!t)
    return html`<div class="card">
      <h3>${r.node}</h3>
      <p class="error">${r.problem}</p>
    </div>`;
  const perplexityLabel = t.columns.find((c) => c.key === 'perplexity')?.label ?? 'perplexity';
  const group = (x: Record<string, Cell>) => String(x.group ?? x.method ?? '');
  const points = (xKey: string) =>
    t.rows.map((x) => ({ x: numberOr(x[xKey]), y: numberOr(x.perplexity), label: String(x.method), group: group(x) }));
  const sources = row === undefined ? undefined : r.rows[row];
  return html`<div class="card" data-testid="result-table">
    <h3>${t.title ?? r.node}</h3>
    <div class="muted">
      Report <a href=${href('graph', { run: r.run, node: r.node })}>${r.node}</a> of ${r.graph}, run ${r.run}; click a row for what is
      behind it
    </div>
    <table>
      <tr>
        ${t.columns.map((c) => html`<th>${c.label}</th>`)}
      </tr>
      ${t.rows.map(
        (x, i) =>
          html`<tr class=${i === row ? 'selected' : ''}>
            ${t.columns.map(
              (c, k) =>
                html`<td class=${c.kind && c.kind !== 'text' ? 'num' : ''}>
                  <a class="cell" data-row=${i} onClick=${() => setRow(i)}
                    >${cell(x[c.key], c)}${k === 0 && t.rowNotes?.[i]?.length ? html`<sup>${t.rowNotes[i]!.length}</sup>` : null}</a
                  >
                </td>`,
            )}
          </tr>`,
      )}
    </table>
    ${
      sources
        ? html`<div class="card" data-testid="row-sources">
            <b>${String(t.rows[row!]!.method)}</b>:
            ${sources.metrics ? html` metrics from <a href=${href('graph', { run: r.run, node: sources.metrics.id })}>${sources.metrics.id}</a> <code class="muted">${sources.metrics.key.slice(0, 12)}</code>` : null}
            <div>
              DP actions in its lineage:
              ${sources.actions.length ? sources.actions.map((a) => html`<span><a href=${href('graph', { run: r.run, node: a.node })}>${a.node}</a> (${a.unit}${a.mechanism ? '' : ', gap only'}) </span>`) : 'none (ε = 0)'}
            </div>
            <div>
              ledger entries:
              ${sources.ledger.length ? sources.ledger.map((s) => html`<a href=${href('privacy', { seq: String(s) })}>#${s}</a> `) : 'none'}
            </div>
            ${(t.rowNotes?.[row!] ?? []).map((n) => html`<div class="muted">${n}</div>`)}
          </div>`
        : null
    }
    ${
      t.notes?.length
        ? html`<ul class="muted">
            ${t.notes.map((n) => html`<li>${n}</li>`)}
          </ul>`
        : null
    }
    <div class="plots">
      <${Scatter}
        testId="plot-epsilon"
        title=${`${perplexityLabel} against ε, per method`}
        xLabel="ε"
        yLabel="perplexity"
        points=${points('epsilon')}
      />
      <${Scatter}
        testId="plot-ratio"
        title=${`${perplexityLabel} against compression ratio`}
        xLabel="compression ratio"
        yLabel="perplexity"
        points=${points('compressionRatio')}
      />
      <img alt="the Report's bar chart" src=${`/api/results/${r.key}/chart.svg`} />
    </div>
  </div>`;
}

export function ResultsPage(props: { route: Route; tick: number }) {
  const { data, error } = useJson<Result[]>('/api/results', props.tick);
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  return html`<div>
    <h2>Results</h2>
    ${data.length === 0 ? html`<p class="muted">no Report table in this store yet</p>` : data.map((r) => html`<${ResultCard} key=${r.key} r=${r} />`)}
  </div>`;
}
