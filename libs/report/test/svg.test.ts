// The SVG chart, checked as a person sees it: rendered to pixels with resvg, the bars are found by their colour
// and measured. The table has the shape of the Report node's (libs/nodes reportColumns).
import { Resvg } from '@resvg/resvg-js';
import { describe, expect, test } from 'vitest';
import { BAR_COLOR, renderTable, type Column } from '../src';

const columns = (better?: 'lower'): Column[] => [
  { key: 'method', label: 'method', kind: 'text' },
  { key: 'params', label: 'parameters', kind: 'integer' },
  { key: 'compressionRatio', label: 'compression ratio', kind: 'ratio', digits: 3 },
  { key: 'epsilon', label: 'ε', kind: 'epsilon', digits: 2 },
  { key: 'delta', label: 'δ', kind: 'delta' },
  { key: 'perplexity', label: 'test perplexity', kind: 'number', digits: 2, ...(better ? { better } : {}) },
];

// Compression ratio and perplexity are ordered differently on purpose: the old chart plotted the ratio.
const rows = [
  { method: 'DP-SGD student', params: 370_560, compressionRatio: 0.278, epsilon: 2, delta: 2e-6, perplexity: 408.67 },
  { method: 'DistilDP', params: 370_560, compressionRatio: 0.278, epsilon: 2.02, delta: 2e-6, perplexity: 683.16 },
  { method: 'DP teacher', params: 1_334_272, compressionRatio: 1, epsilon: 2, delta: 2e-6, perplexity: 204.3 },
];

const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

/** Each bar's length in pixels, top to bottom: the widest run of the bar colour on each band of bar rows. */
function barLengths(svg: string): { lengths: number[]; width: number; inked: number } {
  const image = new Resvg(svg).render();
  const { width, height, pixels } = image;
  const [r, g, b] = hex(BAR_COLOR);
  const lengths: number[] = [];
  let inBar = false;
  let inked = 0;
  for (let y = 0; y < height; y++) {
    let run = 0;
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      if (pixels[i] !== 255 || pixels[i + 1] !== 255 || pixels[i + 2] !== 255) inked++;
      if (pixels[i] === r && pixels[i + 1] === g && pixels[i + 2] === b) run++;
    }
    if (run > 0 && !inBar) lengths.push(run);
    else if (run > 0) lengths[lengths.length - 1] = Math.max(lengths.at(-1)!, run);
    inBar = run > 0;
  }
  return { lengths, width, inked };
}

describe('svg chart', () => {
  test('the bars are the headline metric (perplexity), in pixels proportional to it', () => {
    const svg = renderTable({ title: 'IMDb test perplexity', columns: columns('lower'), rows }, 'svg');
    const { lengths, inked, width } = barLengths(svg);
    expect(lengths).toHaveLength(3);
    expect(inked).toBeGreaterThan(1000); // not a blank image
    // The longest bar is the largest perplexity (DistilDP, 683), not the largest compression ratio (the teacher).
    const longest = lengths[1]!;
    rows.forEach((row, i) => expect(Math.abs(lengths[i]! - (longest * row.perplexity) / 683.16)).toBeLessThanOrEqual(2));
    expect(longest).toBeLessThan(width);
  });

  test('the title names the metric and which way is better; ε and the compression ratio label each bar', () => {
    const svg = renderTable({ title: 'IMDb test perplexity, epsilon = 2', columns: columns('lower'), rows }, 'svg');
    expect(svg).toContain('<text x="8" y="22" font-weight="bold">test perplexity (lower is better); labels: compression ratio, ε</text>');
    expect(svg).toContain('IMDb test perplexity, epsilon = 2</text>');
    expect(svg).toContain('>683.16 · compression ratio 0.278 · ε 2.02</text>');
    expect(svg).toContain('>204.30 · compression ratio 1.000 · ε 2.00</text>');
  });

  test('a table cached before columns said which way is better still plots perplexity, not the ratio', () => {
    const svg = renderTable({ columns: columns(), rows }, 'svg');
    expect(svg).toContain('font-weight="bold">test perplexity; labels');
    const { lengths } = barLengths(svg);
    expect(lengths[1]).toBeGreaterThan(lengths[0]!);
    expect(lengths[0]).toBeGreaterThan(lengths[2]!);
  });

  test('a row without a value draws no bar and says —', () => {
    const svg = renderTable({ columns: columns('lower'), rows: [rows[0]!, { ...rows[1]!, perplexity: null }] }, 'svg');
    expect(barLengths(svg).lengths).toHaveLength(1);
    expect(svg).toContain('>— · compression ratio 0.278 · ε 2.02</text>');
  });
});
