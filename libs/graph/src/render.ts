// Text renderings of an expanded graph: the plan table, its JSON form, Mermaid and Graphviz DOT.
import type { ExpandedGraph } from './expand';

export interface PlanJson {
  graph: string;
  sweepPoints: number;
  nodes: Array<{ id: string; type: string; deps: string[]; key: string }>;
}

export function planJson(g: ExpandedGraph): PlanJson {
  return {
    graph: g.name,
    sweepPoints: g.sweepPoints.length,
    nodes: g.nodes.map((n) => ({ id: n.id, type: n.type, deps: [...n.deps], key: n.key })),
  };
}

/** The expanded DAG in topological order: one line per node with type, deps and (short) action key. */
export function planText(g: ExpandedGraph): string {
  const points = g.sweepPoints.length;
  const header = `graph ${g.name}: ${g.nodes.length} node${g.nodes.length === 1 ? '' : 's'}, ${points} sweep point${points === 1 ? '' : 's'}`;
  const rows = g.nodes.map((n, i) => [String(i + 1), n.id, n.type, n.key.slice(0, 12), n.deps.length ? n.deps.join(', ') : '-']);
  const table = [['#', 'node', 'type', 'key', 'deps'], ...rows];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const lines = table.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
  return [header, '', ...lines, ''].join('\n');
}

const mermaidText = (s: string): string => s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');

export function toMermaid(g: ExpandedGraph): string {
  const ids = new Map(g.nodes.map((n, i) => [n.id, `n${i}`]));
  const lines = ['flowchart TD'];
  for (const n of g.nodes) lines.push(`  ${ids.get(n.id)}["${mermaidText(n.id)}<br/><i>${n.type}</i>"]`);
  for (const n of g.nodes) {
    for (const [port, ref] of Object.entries(n.inputs)) lines.push(`  ${ids.get(ref.node)} -->|${mermaidText(port)}| ${ids.get(n.id)}`);
  }
  return `${lines.join('\n')}\n`;
}

const dotString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function toDot(g: ExpandedGraph): string {
  const lines = [`digraph ${dotString(g.name)} {`, '  rankdir=TB;', '  node [shape=box, fontname="Helvetica"];'];
  for (const n of g.nodes) {
    const style = n.heavy ? '' : ', style=rounded';
    lines.push(`  ${dotString(n.id)} [label=${dotString(`${n.id}\n${n.type}`)}${style}];`);
  }
  for (const n of g.nodes) {
    for (const [port, ref] of Object.entries(n.inputs)) lines.push(`  ${dotString(ref.node)} -> ${dotString(n.id)} [label=${dotString(port)}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
