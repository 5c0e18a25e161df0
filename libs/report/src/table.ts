/** A result table: plain data, rendered to Markdown, CSV, LaTeX (booktabs), JSON or an SVG bar chart. */
export interface Column {
  key: string;
  label: string;
  /** How to print numbers: `epsilon` prints ∞ for non-private rows, `delta` in scientific notation. */
  kind?: 'text' | 'integer' | 'number' | 'ratio' | 'epsilon' | 'delta';
  /** Significant decimals for `number`, `ratio` and `epsilon`. */
  digits?: number;
  /** A result metric and which way is better: the chart plots the first such column (the headline). */
  better?: 'lower' | 'higher';
}

export type Cell = string | number | null;

export interface Table {
  title?: string;
  columns: Column[];
  rows: Array<Record<string, Cell>>;
  /** Footnotes: what the numbers mean and where practice differs from theory. */
  notes?: string[];
  /** Per row (parallel to rows): footnotes on that row alone, e.g. the privacy gaps in its lineage. */
  rowNotes?: string[][];
}

/** The distinct row notes numbered 1.., and each row's numbers. */
function numberedRowNotes(t: Table): { texts: string[]; marks: number[][] } {
  const texts: string[] = [];
  const marks = t.rows.map((_, i) =>
    (t.rowNotes?.[i] ?? []).map((text) => {
      let at = texts.indexOf(text);
      if (at < 0) at = texts.push(text) - 1;
      return at + 1;
    }),
  );
  return { texts, marks };
}

export const tableFormats = ['md', 'csv', 'tex', 'json', 'svg'] as const;
export type TableFormat = (typeof tableFormats)[number];

/** The text of one cell as a human reads it; `infinity` is how the target format writes ∞. */
function formatCell(value: Cell | undefined, column: Column, infinity: string): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return value > 0 ? infinity : `-${infinity}`;
  switch (column.kind) {
    case 'integer':
      return Math.round(value).toLocaleString('en-US');
    case 'delta':
      return value === 0 ? '0' : value.toExponential(1);
    case 'ratio':
      return value.toFixed(column.digits ?? 3);
    case 'number':
    case 'epsilon':
      return value.toFixed(column.digits ?? 2);
    default:
      return String(value);
  }
}

const isNumeric = (c: Column) => c.kind !== undefined && c.kind !== 'text';

function markdown(t: Table): string {
  const header = `| ${t.columns.map((c) => c.label).join(' | ')} |`;
  const rule = `|${t.columns.map((c) => (isNumeric(c) ? '---:' : ':---')).join('|')}|`;
  const { texts, marks } = numberedRowNotes(t);
  const mark = (i: number, c: number) => (c === 0 && marks[i]!.length ? ` [${marks[i]!.join(',')}]` : '');
  const body = t.rows.map(
    (r, i) => `| ${t.columns.map((c, k) => (formatCell(r[c.key], c, '∞') + mark(i, k)).replace(/\|/g, '\\|')).join(' | ')} |`,
  );
  const lines = [...(t.title ? [`**${t.title}**`, ''] : []), header, rule, ...body];
  if (texts.length) lines.push('', ...texts.map((n, i) => `[${i + 1}] ${n}`));
  if (t.notes?.length) lines.push('', ...t.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

/** RFC 4180: quote a field that holds a comma, quote or line break; raw numbers for machines. */
function csv(t: Table): string {
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const cell = (v: Cell | undefined) =>
    v === null || v === undefined ? '' : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : '-inf') : quote(v);
  const lines = [t.columns.map((c) => quote(c.label)).join(','), ...t.rows.map((r) => t.columns.map((c) => cell(r[c.key])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

const texEscape = (s: string) =>
  s.replace(/[\\&%$#_{}~^]/g, (ch) =>
    ch === '\\' ? '\\textbackslash{}' : ch === '~' ? '\\textasciitilde{}' : ch === '^' ? '\\textasciicircum{}' : `\\${ch}`,
  );

function latex(t: Table): string {
  const spec = t.columns.map((c) => (isNumeric(c) ? 'r' : 'l')).join('');
  const { texts, marks } = numberedRowNotes(t);
  const row = (cells: string[]) => `${cells.join(' & ')} \\\\`;
  const lines = [
    '\\begin{table}[t]',
    '\\centering',
    `\\begin{tabular}{${spec}}`,
    '\\toprule',
    row(t.columns.map((c) => texEscape(c.label))),
    '\\midrule',
    ...t.rows.map((r, i) =>
      row(
        t.columns.map((c, k) => {
          const text = formatCell(r[c.key], c, '\\infty');
          const mark = k === 0 && marks[i]!.length ? `\\textsuperscript{${marks[i]!.join(',')}}` : '';
          return (text.includes('\\infty') ? `$${text}$` : texEscape(text)) + mark;
        }),
      ),
    ),
    '\\bottomrule',
    '\\end{tabular}',
    ...texts.map((n, i) => `\\par\\footnotesize\\textsuperscript{${i + 1}} ${texEscape(n)}`),
    ...(t.title ? [`\\caption{${texEscape(t.title)}}`] : []),
    '\\end{table}',
  ];
  return `${lines.join('\n')}\n`;
}

/** JSON keeps raw numbers; JSON has no ∞, so a non-finite number is written as the string "Infinity". */
function json(t: Table): string {
  const rows = t.rows.map((r) =>
    Object.fromEntries(
      t.columns.map((c) => {
        const v = r[c.key] ?? null;
        return [c.key, typeof v === 'number' && !Number.isFinite(v) ? (v > 0 ? 'Infinity' : '-Infinity') : v];
      }),
    ),
  );
  const rowNotes = t.rowNotes?.some((n) => n.length) ? { rowNotes: t.rows.map((_, i) => t.rowNotes?.[i] ?? []) } : {};
  return `${JSON.stringify({ ...(t.title ? { title: t.title } : {}), rows, ...rowNotes, ...(t.notes?.length ? { notes: t.notes } : {}) }, null, 2)}\n`;
}

const xmlEscape = (s: string) => s.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The fill of the chart's bars (exported so a test can find them in a rendered image). */
export const BAR_COLOR = '#4878a8';

/**
 * The column a chart plots: `valueKey` if given, else the first column that says which way is better,
 * else the first measured `number` column (ratios, ε, δ and counts describe a row; they are not its result).
 */
function headlineColumn(t: Table, valueKey?: string): Column | undefined {
  return (
    t.columns.find((c) => c.key === valueKey) ?? t.columns.find((c) => c.better !== undefined) ?? t.columns.find((c) => c.kind === 'number')
  );
}

/**
 * A horizontal bar chart of the headline column (bars from zero), one bar per row labelled by the first text
 * column, each bar annotated with the row's ε and ratio columns (e.g. the compression ratio). The bold title
 * says what the bars are and which way is better; the table's own title is the subtitle. Hand-written: a
 * plotting library would dwarf this lib, and the chart is one `<rect>` per row.
 */
function svg(t: Table, valueKey?: string): string {
  const label = t.columns.find((c) => !isNumeric(c)) ?? t.columns[0]!;
  const value = headlineColumn(t, valueKey) ?? t.columns.find(isNumeric) ?? t.columns[1]!;
  const annotations = t.columns.filter((c) => c !== value && (c.kind === 'epsilon' || c.kind === 'ratio'));
  const bars = t.rows.map((r) => ({
    name: formatCell(r[label.key], label, '∞'),
    v: r[value.key],
    note: annotations.map((c) => `${c.label} ${formatCell(r[c.key], c, '∞')}`).join(' · '),
  }));
  const finite = bars.map((b) => b.v).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const max = Math.max(1e-12, ...finite);
  const heading = `${value.label}${value.better ? ` (${value.better} is better)` : ''}${annotations.length ? `; labels: ${annotations.map((c) => c.label).join(', ')}` : ''}`;
  const [rowH, left, width, top] = [26, 260, 360, t.title ? 58 : 40];
  const height = top + bars.length * rowH + 28;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 300}" height="${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<title>${xmlEscape(heading)}</title>`,
    `<text x="8" y="22" font-weight="bold">${xmlEscape(heading)}</text>`,
    ...(t.title ? [`<text x="8" y="42" fill="#555">${xmlEscape(t.title)}</text>`] : []),
    ...bars.flatMap((b, i) => {
      const y = top + i * rowH;
      const w = typeof b.v === 'number' && Number.isFinite(b.v) ? Math.max(1, (b.v / max) * width) : 0;
      const text = [formatCell(b.v ?? null, value, '∞'), ...(b.note ? [b.note] : [])].join(' · ');
      return [
        `<text x="${left - 8}" y="${y + 17}" text-anchor="end">${xmlEscape(b.name)}</text>`,
        `<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${BAR_COLOR}"/>`,
        `<text x="${left + w + 6}" y="${y + 17}">${xmlEscape(text)}</text>`,
      ];
    }),
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + bars.length * rowH}" stroke="#333"/>`,
    `<text x="${left}" y="${height - 8}" fill="#555">${xmlEscape(value.label)} (bars start at 0)</text>`,
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

export function renderTable(table: Table, format: TableFormat, options: { valueKey?: string } = {}): string {
  switch (format) {
    case 'md':
      return markdown(table);
    case 'csv':
      return csv(table);
    case 'tex':
      return latex(table);
    case 'json':
      return json(table);
    case 'svg':
      return svg(table, options.valueKey);
  }
}
