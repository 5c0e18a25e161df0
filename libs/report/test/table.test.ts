import { describe, expect, test } from 'vitest';
import { renderTable, type Table } from '../src';

const table: Table = {
  title: 'Test PPL on IMDb',
  columns: [
    { key: 'method', label: 'Method' },
    { key: 'params', label: 'Params', kind: 'integer' },
    { key: 'epsilon', label: 'ε', kind: 'epsilon' },
    { key: 'delta', label: 'δ', kind: 'delta' },
    { key: 'perplexity', label: 'PPL', kind: 'number' },
  ],
  rows: [
    { method: 'DistilDP', params: 371_000, epsilon: 1.994, delta: 2e-4, perplexity: 88.123 },
    { method: 'FineTune, "no DP" & 100%_raw', params: 1_330_000, epsilon: Infinity, delta: 0, perplexity: 61.5 },
  ],
  notes: ['ε from the PLD accountant'],
};

describe('renderTable', () => {
  test('markdown aligns numbers right and prints ∞ for non-private rows', () => {
    const md = renderTable(table, 'md');
    expect(md).toContain('| Method | Params | ε | δ | PPL |');
    expect(md).toContain('|:---|---:|---:|---:|---:|');
    expect(md).toContain('| DistilDP | 371,000 | 1.99 | 2.0e-4 | 88.12 |');
    expect(md).toContain('| ∞ |');
    expect(md).toContain('- ε from the PLD accountant');
  });

  test('csv quotes fields with commas and quotes, keeps raw numbers', () => {
    const lines = renderTable(table, 'csv').split('\r\n');
    expect(lines[0]).toBe('Method,Params,ε,δ,PPL');
    expect(lines[1]).toBe('DistilDP,371000,1.994,0.0002,88.123');
    expect(lines[2]).toBe('"FineTune, ""no DP"" & 100%_raw",1330000,inf,0,61.5');
  });

  test('latex escapes specials and uses booktabs rules', () => {
    const tex = renderTable(table, 'tex');
    expect(tex).toContain('\\toprule');
    expect(tex).toContain('\\bottomrule');
    expect(tex).toContain('FineTune, "no DP" \\& 100\\%\\_raw & 1,330,000 & $\\infty$');
    expect(tex).toContain('\\begin{tabular}{lrrrr}');
  });

  test('json keeps raw values and writes ∞ as "Infinity"', () => {
    const parsed = JSON.parse(renderTable(table, 'json'));
    expect(parsed.rows[0]).toEqual({ method: 'DistilDP', params: 371000, epsilon: 1.994, delta: 0.0002, perplexity: 88.123 });
    expect(parsed.rows[1].epsilon).toBe('Infinity');
  });

  test('svg draws one bar per row, longest for the largest value, escaping labels', () => {
    const out = renderTable(table, 'svg', { valueKey: 'perplexity' });
    const widths = [...out.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(2);
    expect(widths[0]).toBeGreaterThan(widths[1]!);
    expect(out).toContain('&#34;no DP&#34; &#38; 100%_raw');
  });
});

describe('row notes', () => {
  test('numbered per distinct text, marked on the row label (md, tex) and kept per row (json)', () => {
    const t: Table = {
      columns: [
        { key: 'method', label: 'method', kind: 'text' },
        { key: 'epsilon', label: 'ε', kind: 'epsilon' },
      ],
      rows: [
        { method: 'a', epsilon: 1 },
        { method: 'b', epsilon: 2 },
        { method: 'c', epsilon: 0 },
      ],
      rowNotes: [['shuffled batches'], ['shuffled batches', 'evaluation on test'], []],
    };
    const md = renderTable(t, 'md');
    expect(md).toContain('| a [1] | 1.00 |');
    expect(md).toContain('| b [1,2] | 2.00 |');
    expect(md).toContain('| c | 0.00 |');
    expect(md).toContain('[1] shuffled batches\n[2] evaluation on test');
    expect(renderTable(t, 'tex')).toContain('a\\textsuperscript{1}');
    expect(JSON.parse(renderTable(t, 'json')).rowNotes).toEqual(t.rowNotes);
  });
});
