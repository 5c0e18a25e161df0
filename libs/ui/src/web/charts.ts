/// <reference lib="dom" />
// Two small SVG charts drawn by hand (a plotting library would outweigh the whole front end): a scatter plot
// with one colour per group, and a step line of a running total against time with a horizontal limit.
import { h } from 'preact';
import htm from 'htm';

const html = htm.bind(h);

export const PALETTE = ['#4878a8', '#e07b39', '#5a9e4b', '#b8475a', '#7d5fa8', '#8c6d46', '#c566a8', '#6f7f8f'];

interface Scale {
  at(v: number): number;
  ticks: number[];
}

function linear(min: number, max: number, from: number, to: number): Scale {
  if (min === max) [min, max] = [min - 1, max + 1];
  const span = max - min;
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= 6) ?? step * 10;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / nice) * nice; t <= max + 1e-9; t += nice) ticks.push(Number(t.toPrecision(12)));
  return { at: (v) => from + ((v - min) / (max - min)) * (to - from), ticks };
}

export interface Point {
  x: number;
  y: number;
  label: string;
  group: string;
}

const W = 460;
const H = 300;
const M = { left: 60, right: 16, top: 34, bottom: 44 };

function axes(x: Scale, y: Scale, xLabel: string, yLabel: string) {
  return html` <line x1=${M.left} y1=${H - M.bottom} x2=${W - M.right} y2=${H - M.bottom} stroke="#333" />
    <line x1=${M.left} y1=${M.top} x2=${M.left} y2=${H - M.bottom} stroke="#333" />
    ${x.ticks.map((t) => html`<text x=${x.at(t)} y=${H - M.bottom + 16} text-anchor="middle" font-size="11">${t}</text>`)}
    ${y.ticks.map((t) => html`<text x=${M.left - 6} y=${y.at(t) + 4} text-anchor="end" font-size="11">${t}</text>`)}
    <text x=${(M.left + W - M.right) / 2} y=${H - 8} text-anchor="middle" font-size="12">${xLabel}</text>
    <text
      x=${14}
      y=${(M.top + H - M.bottom) / 2}
      text-anchor="middle"
      font-size="12"
      transform=${`rotate(-90 14 ${(M.top + H - M.bottom) / 2})`}
      >${yLabel}</text
    >`;
}

/** Points coloured by group, each with a tooltip; non-finite points are left out and counted in the caption. */
export function Scatter(props: { title: string; xLabel: string; yLabel: string; points: Point[]; testId: string }) {
  const shown = props.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const groups = [...new Set(shown.map((p) => p.group))];
  const x = linear(Math.min(0, ...shown.map((p) => p.x)), Math.max(...shown.map((p) => p.x), 0.001), M.left, W - M.right);
  const y = linear(Math.min(...shown.map((p) => p.y)), Math.max(...shown.map((p) => p.y)), H - M.bottom, M.top);
  const left = props.points.length - shown.length;
  return html`<svg
    data-testid=${props.testId}
    width=${W}
    height=${H + groups.length * 16}
    font-family="DejaVu Sans, Helvetica, Arial, sans-serif"
  >
    <text x="8" y="20" font-weight="bold" font-size="13">
      ${props.title}${left ? ` (${left} point(s) with ε = ∞ or no value left out)` : ''}
    </text>
    ${shown.length ? axes(x, y, props.xLabel, props.yLabel) : html`<text x="20" y="60">no point to plot</text>`}
    ${shown.map((p) => html`<circle cx=${x.at(p.x)} cy=${y.at(p.y)} r="5" fill=${PALETTE[groups.indexOf(p.group) % PALETTE.length]} stroke="#fff"><title>${p.label}: ${props.xLabel} ${p.x.toFixed(3)}, ${props.yLabel} ${p.y.toFixed(2)}</title></circle>`)}
    ${groups.map((g, i) => html`<g><circle cx=${M.left + 6} cy=${H + i * 16 + 4} r="5" fill=${PALETTE[i % PALETTE.length]} /><text x=${M.left + 16} y=${H + i * 16 + 8} font-size="11">${g}</text></g>`)}
  </svg>`;
}

export interface StepPoint {
  t: number;
  v: number | null;
  label: string;
}

/** A running total (ε after each ledger entry) as a step line over time, with a dashed limit (the budget). */
export function StepLine(props: { title: string; yLabel: string; points: StepPoint[]; limit?: number; testId: string }) {
  const finite = props.points.filter((p): p is StepPoint & { v: number } => p.v !== null);
  const ts = props.points.map((p) => p.t);
  const [t0, t1] = [Math.min(...ts), Math.max(...ts)];
  const x = linear(0, Math.max(1, (t1 - t0) / 60_000), M.left, W - M.right); // minutes since the first entry
  const y = linear(0, Math.max(props.limit ?? 0, ...finite.map((p) => p.v), 0.1) * 1.05, H - M.bottom, M.top);
  const xs = (t: number) => x.at((t - t0) / 60_000);
  let path = '';
  let previous = 0;
  for (const p of finite) {
    path += `${path ? `H${xs(p.t)}V` : `M${xs(p.t)},${y.at(previous)}V`}${y.at(p.v)}`;
    previous = p.v;
  }
  return html`<svg data-testid=${props.testId} width=${W} height=${H} font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
    <text x="8" y="20" font-weight="bold" font-size="13">${props.title}</text>
    ${axes(x, y, `minutes since ${new Date(t0).toISOString().slice(0, 16).replace('T', ' ')}`, props.yLabel)}
    ${props.limit !== undefined ? html`<line x1=${M.left} x2=${W - M.right} y1=${y.at(props.limit)} y2=${y.at(props.limit)} stroke="#b8475a" stroke-dasharray="6 4" /><text x=${W - M.right} y=${y.at(props.limit) - 4} text-anchor="end" font-size="11" fill="#b8475a">budget ε = ${props.limit}</text>` : null}
    <path d=${path} fill="none" stroke="#4878a8" stroke-width="2" />
    ${finite.map((p) => html`<circle cx=${xs(p.t)} cy=${y.at(p.v)} r="3.5" fill="#4878a8"><title>${p.label}</title></circle>`)}
  </svg>`;
}
