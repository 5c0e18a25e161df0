/// <reference lib="dom" />
// The Privacy page: per privacy unit, the ledger's cumulative ε over time against the budget, every entry with
// its DP event and gaps, and what `plan` says each known graph file would add.
import { h } from 'preact';
import htm from 'htm';
import { href, useJson, type Route } from './api';
import { StepLine } from './charts';
import { eps, sci, time } from './format';
// The API's own types (type-only: erased from the browser bundle), so the page and the server cannot drift.
import type { PrivacyView as View, UnitView as Unit } from '../api/privacy';

const html = htm.bind(h);

function UnitCard(props: { u: Unit; highlight?: number }) {
  const u = props.u;
  const mechanisms = u.entries.filter((e) => e.mechanism);
  return html`<div class="card" data-testid=${`unit-${u.unit}`}>
    <h3>${u.unit}: ε ${eps(u.epsilon)} at δ ${sci(u.delta)} (${u.accountant})${u.budget ? ` of a budget ε = ${u.budget.epsilon}` : ''}</h3>
    <div class="muted">
      ${u.mechanisms} mechanism(s) in the
      ledger${u.budget ? `; budget "${u.budget.name}" as declared by run ${u.budget.run}` : '; no budget declared by a recorded run'}
    </div>
    ${
      mechanisms.length
        ? html`<${StepLine}
            testId=${`epsilon-${u.unit}`}
            title=${`ε spent on ${u.unit} (ledger, cumulative)`}
            yLabel="ε"
            points=${mechanisms.map((e) => ({ t: Date.parse(e.at), v: e.epsilon, label: `#${e.seq} ${e.node}: ε ${eps(e.epsilon)} after` }))}
            limit=${u.budget?.epsilon}
          />`
        : null
    }
    <h3>Ledger entries</h3>
    ${
      u.entries.length
        ? html`<table data-testid="ledger">
            <tr>
              <th>#</th>
              <th>when</th>
              <th>node</th>
              <th>run</th>
              <th>split</th>
              <th>DP event</th>
              <th>ε after</th>
              <th>gaps (not covered by ε)</th>
            </tr>
            ${u.entries.map(
              (e) =>
                html`<tr id=${`ledger-${e.seq}`} class=${e.seq === props.highlight ? 'selected' : ''}>
                  <td>${e.seq}</td>
                  <td>${time(e.at)}</td>
                  <td><a href=${href('graph', { run: e.run, node: e.node })}>${e.node}</a> <span class="muted">(${e.type})</span></td>
                  <td><a href=${href('graph', { run: e.run })}>${e.run}</a></td>
                  <td>${e.split}</td>
                  <td>${e.mechanism ? e.event : html`<span class="muted">gap only (no ε)</span>`}</td>
                  <td class="num">${eps(e.epsilon)}</td>
                  <td>${e.gaps.join('; ')}</td>
                </tr>`,
            )}
          </table>`
        : html`<p class="muted">nothing charged yet</p>`
    }
    ${
      u.gaps.length
        ? html`<h3>Gaps</h3>
            <ul data-testid="gaps">
              ${u.gaps.map((g) => html`<li>${g}</li>`)}
            </ul>`
        : null
    }
    ${
      u.planned.length
        ? html`<h3>What a graph would add (plan, before it runs)</h3>
            ${u.planned.map(
              (p) =>
                html`<div data-testid="planned">
                  <b>${p.graph}</b> <span class="muted">${p.file}</span>: its released cost ε
                  ${eps(p.epsilon)}${p.budget ? ` against its budget ε = ${p.budget.epsilon}` : ''}
                  ${p.withinBudget ? '' : html` <b class="error">REFUSED</b>`};
                  ${
                    p.toRun.length
                      ? html`runs ${p.toRun.length} mechanism(s), the ledger's ε would become <b>${eps(p.ledgerAfter)}</b>:
                          <ul>
                            ${p.toRun.map((t) => html`<li>${t.node}: ${t.event}${t.gaps.length ? html` <span class="muted">[gap: ${t.gaps.join('; ')}]</span>` : null}</li>`)}
                          </ul>`
                      : html`nothing new to charge (every mechanism is cached)`
                  }
                  ${p.refusals.map((r) => html`<div class="error">refused: ${r.reason} (${r.nodes.join(', ')})</div>`)}
                </div>`,
            )}`
        : null
    }
  </div>`;
}

export function PrivacyPage(props: { route: Route; tick: number }) {
  const { data, error } = useJson<View>('/api/privacy', props.tick);
  const highlight = Number(props.route.query.get('seq') ?? NaN);
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p class="muted">loading…</p>`;
  return html`<div>
    <h2>Privacy</h2>
    <p class="muted">
      Every DP mechanism that ran is a ledger entry (a cache hit spends nothing); ε per unit is composed at the unit's δ with the
      ${data.accountant} accountant, as \`dpkd ledger\` prints it.
    </p>
    ${data.damaged ? html`<p class="error" data-testid="damaged">${data.damaged}</p>` : null}
    ${!data.damaged && data.units.length === 0 ? html`<p class="muted">no private dataset has been read in this store</p>` : null}
    ${data.units.map((u) => html`<${UnitCard} u=${u} highlight=${highlight} />`)}
  </div>`;
}
