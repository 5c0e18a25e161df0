/// <reference lib="dom" />
// The Runs page: every recorded run, newest first, with timings and failures; a running run updates live.
import { h } from 'preact';
import htm from 'htm';
import { href, useJson, type Route } from './api';
import { seconds, time } from './format';

const html = htm.bind(h);

interface Run {
  id: string;
  graph: { name: string; file?: string };
  status: string;
  startedAt: string;
  finishedAt?: string;
  seconds?: number;
  counts: Record<string, number>;
  failures: Array<{ id: string; error?: string; log?: string }>;
}

export function RunsPage(props: { route: Route; tick: number }) {
  const { data, error } = useJson<Run[]>('/api/runs', props.tick);
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  const elapsed = (r: Run) => (r.status === 'running' ? (Date.now() - Date.parse(r.startedAt)) / 1000 : r.seconds);
  return html`<div>
    <h2>Runs</h2>
    ${
      data.length === 0
        ? html`<p class="muted">no run in this store yet</p>`
        : html`<table data-testid="runs">
            <tr>
              <th>run</th>
              <th>graph</th>
              <th>status</th>
              <th>started</th>
              <th>time</th>
              <th>nodes</th>
              <th>failures</th>
            </tr>
            ${data.map(
              (r) =>
                html`<tr data-run=${r.id}>
                  <td><a href=${href('graph', { run: r.id })}>${r.id}</a></td>
                  <td>
                    ${r.graph.name}
                    <div class="muted">${r.graph.file ?? ''}</div>
                  </td>
                  <td>${r.status}${r.status === 'running' ? html` <span class="live">● live</span>` : null}</td>
                  <td>${time(r.startedAt)}</td>
                  <td class="num">${seconds(elapsed(r))}</td>
                  <td>
                    ${Object.entries(r.counts).map(([s, n]) => html`<span class=${`badge status-${s === 'pending' || s === 'skipped' || s === 'interrupted' ? 'to-run' : s}`}>${n} ${s}</span> `)}
                  </td>
                  <td>
                    ${r.failures.map((f) => html`<div><a href=${href('graph', { run: r.id, node: f.id })}>${f.id}</a>: <span class="error">${f.error ?? ''}</span>${f.log ? html`<div class="muted">log: ${f.log}</div>` : null}</div>`)}
                  </td>
                </tr>`,
            )}
          </table>`
    }
  </div>`;
}
