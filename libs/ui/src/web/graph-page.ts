/// <reference lib="dom" />
// The Graph page: the expanded DAG of a run (from its record) or of a graph file (from its plan), nodes coloured
// by status, the sweep axes, and a side panel with the selected node's params, key, miss explanation, metrics,
// lineage ε and log.
import dagre from '@dagrejs/dagre';
import { h } from 'preact';
import htm from 'htm';
import { href, useJson, type Route } from './api';
import { eps, num, sci, seconds, time } from './format';
// The API's own types (type-only: erased from the browser bundle), so the page and the server cannot drift.
import type { GraphFile } from '../api/graphs';
import type { DagNode } from '../api/runs';

const html = htm.bind(h);

interface Dag {
  nodes: DagNode[];
  sweep: Record<string, unknown[]>;
  run?: { id: string; status: string; graph: { name: string; file?: string }; startedAt: string; seconds?: number };
  name?: string;
  file?: string;
  error?: string;
}
interface RunItem {
  id: string;
  graph: { name: string };
  status: string;
  startedAt: string;
}

const STATUSES = ['cached', 'ran', 'failed', 'to-run', 'running'];

const subtitle = (n: DagNode): string => `${n.type}${n.seconds ? ` · ${seconds(n.seconds)}` : ''}`;

function layoutDag(nodes: DagNode[]) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 46, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: Math.max(n.id.length * 7.4, subtitle(n).length * 6.6) + 20, height: 38 });
  const ids = new Set(nodes.map((n) => n.id));
  for (const n of nodes) for (const d of n.deps) if (ids.has(d)) g.setEdge(d, n.id);
  dagre.layout(g);
  const size = g.graph();
  return {
    width: (size.width ?? 400) + 20,
    height: (size.height ?? 200) + 20,
    nodes: nodes.map((n) => ({ n, box: g.node(n.id) })),
    edges: g.edges().map((e) => g.edge(e).points ?? []),
  };
}

function DagView(props: { dag: Dag; selected?: string; hrefOf: (id: string) => string }) {
  const { width, height, nodes, edges } = layoutDag(props.dag.nodes);
  // viewBox: a wide DAG scales down to the page instead of being cut off.
  return html`<svg class="dag" data-testid="dag" width=${width} height=${height} viewBox=${`0 0 ${width} ${height}`}>
    <defs>
      <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M0,0L10,5L0,10z" fill="#777" />
      </marker>
    </defs>
    ${edges.map((pts) => html`<polyline points=${pts.map((p: { x: number; y: number }) => `${p.x},${p.y}`).join(' ')} fill="none" stroke="#999" marker-end="url(#arrow)" />`)}
    ${nodes.map(
      ({ n, box }) =>
        html`<a href=${props.hrefOf(n.id)}>
          <g
            class=${`node status-${n.status}${n.id === props.selected ? ' selected' : ''}`}
            data-node=${n.id}
            data-status=${n.status}
            transform=${`translate(${box.x - box.width / 2},${box.y - box.height / 2})`}
          >
            <title>${n.id} (${n.type}): ${n.status}</title>
            <rect width=${box.width} height=${box.height} rx="5" />
            <text x="8" y="15" font-size="12" font-weight="bold">${n.id}</text>
            <text x="8" y="30" font-size="11" fill="#333">${subtitle(n)}</text>
          </g></a
        >`,
    )}
  </svg>`;
}

interface NodeDetail {
  id: string;
  type: string;
  key: string;
  status?: string;
  params: Record<string, unknown>;
  why?: string[];
  metrics?: Record<string, unknown>;
  error?: string;
  run?: string;
  startedAt?: string;
  seconds?: number;
  executor?: string;
  privacy?: {
    epsilon: number | null;
    delta: number;
    mechanisms: number;
    nonPrivate: boolean;
    unit?: string;
    gaps: string[];
    warnings: string[];
  };
  lineage?: Array<{ unit: string; node: string; key: string; event: string; mechanism: boolean; gaps: string[] }>;
  plannedEpsilon?: Record<string, number | null>;
  log?: { path: string; tail: string; bytes: number };
}

function privacyLine(p: NonNullable<NodeDetail['privacy']>): string {
  if (p.mechanisms === 0) return 'ε 0 (no DP mechanism on private data in its lineage)';
  if (p.nonPrivate || p.epsilon === null) return `ε ∞ (non-private step on ${p.unit})`;
  return `ε ${eps(p.epsilon)} at δ ${sci(p.delta)} (${p.unit}), ${p.mechanisms} DP mechanism(s) in its lineage`;
}

function NodePanel(props: { path: string; tick: number }) {
  const { data: d, error } = useJson<NodeDetail>(props.path, props.tick);
  if (error) return html`<div class="panel error">${error}</div>`;
  if (!d) return html`<div class="panel muted">loading…</div>`;
  const scalars = Object.entries(d.metrics ?? {}).filter(([, v]) => typeof v !== 'object' || v === null);
  const nested = Object.entries(d.metrics ?? {}).filter(([, v]) => typeof v === 'object' && v !== null);
  return html`<div class="panel" data-testid="node-panel">
    <h3>
      ${d.id} <span class="muted">(${d.type})</span> ${d.status ? html`<span class=${`badge status-${d.status}`}>${d.status}</span>` : null}
    </h3>
    <div class="muted">key <code data-testid="node-key">${d.key}</code></div>
    ${d.error ? html`<p class="error">${d.error}</p>` : null}
    ${
      d.why
        ? html`<h3>Why it missed the cache</h3>
            <ul data-testid="node-why">
              ${d.why.map((w) => html`<li>${w}</li>`)}
            </ul>`
        : null
    }
    <h3>Lineage ε</h3>
    ${
      d.privacy
        ? html`<p data-testid="node-epsilon">${privacyLine(d.privacy)}</p>`
        : d.plannedEpsilon
          ? html`<p data-testid="node-epsilon">
              planned:
              ${
                Object.entries(d.plannedEpsilon)
                  .map(([u, e]) => `ε ${eps(e)} (${u})`)
                  .join(', ') || 'ε 0'
              }
            </p>`
          : html`<p class="muted">no result in the store yet</p>`
    }
    ${d.privacy?.gaps.map((g) => html`<div class="muted">not covered by ε: ${g}</div>`)}
    ${
      d.lineage?.length
        ? html`<table>
            <tr>
              <th>unit</th>
              <th>node</th>
              <th>event</th>
              <th>gaps</th>
            </tr>
            ${d.lineage.map(
              (l) =>
                html`<tr>
                  <td>${l.unit}</td>
                  <td>${l.node}</td>
                  <td>${l.event}</td>
                  <td>${l.gaps.join('; ')}</td>
                </tr>`,
            )}
          </table>`
        : null
    }
    ${
      d.metrics
        ? html`<h3>Metrics</h3>
            <table data-testid="node-metrics">
              ${scalars.map(
                ([k, v]) =>
                  html`<tr>
                    <td>${k}</td>
                    <td class="num">${num(v)}</td>
                  </tr>`,
              )}
            </table>
            ${nested.length ? html`<pre>${JSON.stringify(Object.fromEntries(nested), null, 1)}</pre>` : null}`
        : null
    }
    ${d.run ? html`<div class="muted">run <a href=${href('graph', { run: d.run, node: d.id })}>${d.run}</a>, started ${time(d.startedAt)}, ${seconds(d.seconds)} (${d.executor})</div>` : null}
    <h3>Params</h3>
    <pre data-testid="node-params">${JSON.stringify(d.params, null, 1)}</pre>
    <h3>Log</h3>
    ${
      d.log
        ? html`<div class="muted">${d.log.path} (${d.log.bytes} bytes; the end)</div>
            <pre data-testid="node-log">${d.log.tail}</pre>`
        : html`<p class="muted">no log</p>`
    }
  </div>`;
}

export function GraphPage(props: { route: Route; tick: number }) {
  const q = props.route.query;
  const runs = useJson<RunItem[]>('/api/runs', props.tick);
  const graphs = useJson<GraphFile[]>('/api/graphs');
  const graphId = q.get('graph') ?? undefined;
  const runId = graphId === undefined ? (q.get('run') ?? runs.data?.[0]?.id) : undefined;
  const fallbackGraph = runId === undefined && runs.data?.length === 0 ? graphs.data?.[0]?.id : undefined;
  const source = graphId ?? (fallbackGraph !== undefined ? String(fallbackGraph) : undefined);
  const path = runId ? `/api/runs/${encodeURIComponent(runId)}` : source !== undefined ? `/api/graphs/${source}` : undefined;
  const dag = useJson<Dag>(path, props.tick);
  const selected = q.get('node') ?? undefined;
  const query = (node?: string) => (runId ? { run: runId, node } : { graph: source, node });
  const nodePath = selected
    ? runId
      ? `/api/run-node?run=${encodeURIComponent(runId)}&id=${encodeURIComponent(selected)}`
      : `/api/graph-node?graph=${source}&id=${encodeURIComponent(selected)}`
    : undefined;
  const choose = (e: Event) => {
    const v = (e.target as HTMLSelectElement).value;
    location.hash = v.startsWith('g:') ? href('graph', { graph: v.slice(2) }) : href('graph', { run: v.slice(2) });
  };
  const d = dag.data;
  return html`<div>
    <h2>Graph</h2>
    <p>
      <select data-testid="graph-source" onChange=${choose} value=${runId ? `r:${runId}` : `g:${source}`}>
        <optgroup label="runs">
          ${(runs.data ?? []).map((r) => html`<option value=${`r:${r.id}`}>run ${r.id} · ${r.graph.name} · ${r.status}</option>`)}
        </optgroup>
        <optgroup label="graph files (planned)">
          ${(graphs.data ?? []).map((g) => html`<option value=${`g:${g.id}`}>${g.file}</option>`)}
        </optgroup>
      </select>
    </p>
    ${!path && runs.data && graphs.data ? html`<p class="muted">no run in this store yet, and no graph file: run \`dpkd ui GRAPH\` or \`dpkd run GRAPH\`.</p>` : null}
    ${dag.error ? html`<p class="error">${dag.error}</p>` : null}
    ${
      d
        ? html` <p>
              ${
                d.run
                  ? html`run <b>${d.run.id}</b> of <b>${d.run.graph.name}</b>:
                      ${d.run.status}${d.run.status === 'running' ? html` <span class="live">● live</span>` : null}, started
                      ${time(d.run.startedAt)}, ${seconds(d.run.seconds)}`
                  : html`plan of <b>${d.name}</b> (${d.file}): what \`dpkd plan\` shows, before anything runs`
              }
            </p>
            <p class="legend">
              ${STATUSES.map((s) => html`<span><span class=${`badge status-${s}`}>${s}</span> ${d.nodes.filter((n) => n.status === s).length}</span>`)}
            </p>
            ${Object.keys(d.sweep).length ? html`<p data-testid="sweep">sweep axes: ${Object.entries(d.sweep).map(([k, v]) => html`<b>${k}</b> = ${v.map((x) => JSON.stringify(x)).join(', ')}; `)}</p>` : null}
            <div class="graph-layout">
              <${DagView} dag=${d} selected=${selected} hrefOf=${(id: string) => href('graph', query(id))} />
              ${nodePath ? html`<${NodePanel} path=${nodePath} tick=${props.tick} />` : html`<div class="panel muted">click a node for its params, key, why it ran, metrics, lineage ε and log</div>`}
            </div>`
        : null
    }
  </div>`;
}
