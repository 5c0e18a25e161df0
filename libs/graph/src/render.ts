// Drawings of an expanded graph: Mermaid and Graphviz DOT. (The plan table and `plan --json` are the
// engine's `renderPlan` and `planJson`, which add cache status and privacy.)
import type { ExpandedGraph } from './expand';

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
    for (const [port, ref] of Object.entries(n.inputs))
      lines.push(`  ${dotString(ref.node)} -> ${dotString(n.id)} [label=${dotString(port)}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
