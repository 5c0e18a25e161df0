// Semantic checks that JSON Schema cannot express: node types, references between nodes, port
// kinds, cycles, interpolation and sweep axes. Runs after the graph schema passed.
import type { Graph, GraphNode } from '@dpkd/schema';
import { type Diagnostic, type SourceMap, didYouMean, list, pointerOf } from './diagnostics';
import { type ParamReference, referencesIn } from './interpolate';
import { type Signature, type SignatureRegistry, primaryOutput } from './signatures';
import { type SweepAxis, sweptNames } from './sweep';

export interface InputRef {
  node: string;
  port: string;
}

export interface Analysis {
  diagnostics: Diagnostic[];
  /** Node ids in a topological order (stable: file order where free). Empty when there is a cycle. */
  order: string[];
  /** Resolved input references per node (only the valid ones). */
  inputs: Map<string, Record<string, InputRef>>;
  /** Swept param names each node depends on, in sweep declaration order. */
  axesOf: Map<string, string[]>;
  /** Interpolation references in each node's params. */
  references: Map<string, ParamReference[]>;
}

const identifier = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function analyse(graph: Graph, map: SourceMap, signatures: SignatureRegistry, axes: SweepAxis[]): Analysis {
  const diagnostics: Diagnostic[] = [];
  const nodes = Object.entries(graph.nodes) as Array<[string, GraphNode]>;
  const ids = nodes.map(([id]) => id);
  const inputs = new Map<string, Record<string, InputRef>>();
  const references = new Map<string, ParamReference[]>();

  for (const [id, node] of nodes) {
    const at = pointerOf(['nodes', id]);
    const signature = signatures.get(node.type);
    if (!signature) {
      diagnostics.push(
        map.diagnostic(`${at}/type`, `unknown node type \`${node.type}\``, {
          expected: `one of ${list([...signatures.keys()].sort())}`,
          hint: didYouMean(node.type, signatures.keys()),
        }),
      );
    }
    inputs.set(id, signature ? checkInputs(id, node, signature, graph, signatures, map, diagnostics) : {});
    references.set(id, checkReferences(id, node, graph, map, diagnostics));
    if (node.type === 'Report') checkReportRows(id, node, map, diagnostics);
  }

  checkSweep(graph, axes, references, map, diagnostics);
  checkBudgets(graph, signatures, map, diagnostics);

  const order = topologicalOrder(ids, inputs, map, diagnostics);
  const swept = sweptNames(axes);
  const axesOf = new Map<string, string[]>();
  for (const id of order) {
    const used = new Set(references.get(id)!.map((r) => r.name));
    for (const ref of Object.values(inputs.get(id)!)) for (const a of axesOf.get(ref.node) ?? []) used.add(a);
    axesOf.set(
      id,
      swept.filter((name) => used.has(name)),
    );
  }
  return { diagnostics, order, inputs, axesOf, references };
}

function checkInputs(
  id: string,
  node: GraphNode,
  signature: Signature,
  graph: Graph,
  signatures: SignatureRegistry,
  map: SourceMap,
  diagnostics: Diagnostic[],
): Record<string, InputRef> {
  const resolved: Record<string, InputRef> = {};
  const given = node.inputs ?? {};
  const wildcard = signature.inputs['*'];
  const ports = Object.keys(signature.inputs).filter((p) => p !== '*');

  for (const [port, target] of Object.entries(given) as Array<[string, string]>) {
    const at = pointerOf(['nodes', id, 'inputs', port]);
    const spec = signature.inputs[port] ?? wildcard;
    if (!spec) {
      diagnostics.push(
        map.diagnostic(at, `${node.type} has no input port \`${port}\``, {
          key: true,
          expected: ports.length ? `one of ${list(ports)}` : 'no inputs',
          hint: didYouMean(port, ports),
        }),
      );
      continue;
    }
    const [upstreamId, namedPort] = target.split('.') as [string, string | undefined];
    const upstream = graph.nodes[upstreamId];
    if (!upstream || !Object.hasOwn(graph.nodes, upstreamId)) {
      diagnostics.push(
        map.diagnostic(at, `input \`${port}\` refers to a missing node \`${upstreamId}\``, {
          expected: `a node id: ${list(Object.keys(graph.nodes))}`,
          hint: didYouMean(upstreamId, Object.keys(graph.nodes)),
        }),
      );
      continue;
    }
    const upstreamSignature = signatures.get(upstream.type);
    if (!upstreamSignature) continue; // reported as an unknown type
    const outputs = Object.keys(upstreamSignature.outputs);
    const outPort = namedPort ?? primaryOutput(upstreamSignature);
    const output = upstreamSignature.outputs[outPort];
    if (!output) {
      diagnostics.push(
        map.diagnostic(at, `node \`${upstreamId}\` (${upstream.type}) has no output port \`${outPort}\``, {
          expected: `one of ${list(outputs)}`,
          hint: didYouMean(outPort, outputs),
        }),
      );
      continue;
    }
    if (output.kind !== spec.kind) {
      const sameKind = Object.entries(upstreamSignature.outputs).find(([, o]) => o.kind === spec.kind)?.[0];
      diagnostics.push(
        map.diagnostic(at, `input \`${port}\` of ${node.type} takes a ${spec.kind}, but \`${target}\` is a ${output.kind}`, {
          expected: `a node whose output is a ${spec.kind}`,
          hint: sameKind ? `did you mean \`${upstreamId}.${sameKind}\`?` : undefined,
        }),
      );
      continue;
    }
    resolved[port] = { node: upstreamId, port: outPort };
  }

  for (const [port, spec] of Object.entries(signature.inputs)) {
    if (port === '*' || spec.optional || Object.hasOwn(given, port)) continue;
    const at = pointerOf(['nodes', id, ...(node.inputs ? ['inputs'] : [])]);
    diagnostics.push(
      map.diagnostic(at, `${node.type} node \`${id}\` is missing its input \`${port}\``, {
        expected: `"${port}": the id of a node whose output is a ${spec.kind}`,
      }),
    );
  }
  return resolved;
}

function checkReferences(id: string, node: GraphNode, graph: Graph, map: SourceMap, diagnostics: Diagnostic[]): ParamReference[] {
  const known = Object.keys(graph.params ?? {});
  const refs = referencesIn(node.params ?? {});
  for (const ref of refs) {
    const at = pointerOf(['nodes', id, 'params']) + ref.pointer;
    if (!identifier.test(ref.name)) {
      diagnostics.push(map.diagnostic(at, `bad interpolation "\${${ref.name}}"`, { expected: '"${name}" with a graph param name' }));
    } else if (!Object.hasOwn(graph.params ?? {}, ref.name)) {
      diagnostics.push(
        map.diagnostic(at, `"\${${ref.name}}" interpolates an unknown graph param \`${ref.name}\``, {
          expected: known.length ? `one of ${list(known)}` : 'a name declared in the top-level "params"',
          hint: didYouMean(ref.name, known) ?? `declare it in "params" with a default value`,
        }),
      );
    }
  }
  return refs.filter((r) => Object.hasOwn(graph.params ?? {}, r.name));
}

function checkReportRows(id: string, node: GraphNode, map: SourceMap, diagnostics: Diagnostic[]): void {
  const rows = node.params?.rows;
  if (!Array.isArray(rows)) return;
  const ports = Object.keys(node.inputs ?? {});
  rows.forEach((row, i) => {
    const port = (row as { metrics?: unknown })?.metrics;
    if (typeof port !== 'string' || port.includes('${') || ports.includes(port)) return;
    diagnostics.push(
      map.diagnostic(pointerOf(['nodes', id, 'params', 'rows', i, 'metrics']), `row metrics \`${port}\` is not an input of \`${id}\``, {
        expected: ports.length ? `one of ${list(ports)}` : 'an input port name (add the input first)',
        hint: didYouMean(port, ports),
      }),
    );
  });
}

function checkSweep(
  graph: Graph,
  axes: SweepAxis[],
  references: Map<string, ParamReference[]>,
  map: SourceMap,
  diagnostics: Diagnostic[],
): void {
  const params = Object.keys(graph.params ?? {});
  const used = new Set([...references.values()].flat().map((r) => r.name));
  const declared = new Map<string, string>();
  for (const axis of axes) {
    for (const name of axis.names) {
      const at = axis.names.length === 1 && axis.pointer.startsWith('/sweep/grid') ? axis.pointer : `${axis.pointer}/${name}`;
      if (declared.has(name)) {
        diagnostics.push(
          map.diagnostic(at, `sweep axis \`${name}\` is declared twice`, { key: true, hint: `also at ${declared.get(name)}` }),
        );
        continue;
      }
      declared.set(name, at);
      if (!Object.hasOwn(graph.params ?? {}, name)) {
        diagnostics.push(
          map.diagnostic(at, `unknown sweep axis \`${name}\`: it has no default in "params"`, {
            key: true,
            expected: params.length ? `one of ${list(params)}` : 'a graph param declared in "params"',
            hint: didYouMean(name, params) ?? `add "${name}": <default> to "params"`,
          }),
        );
      } else if (!used.has(name)) {
        diagnostics.push(
          map.diagnostic(at, `unused sweep axis \`${name}\`: no node param interpolates it`, {
            key: true,
            hint: `use "\${${name}}" in a node's params, or remove the axis`,
          }),
        );
      }
    }
    if (axis.names.length > 1) {
      const group = (graph.sweep?.zip ?? [])[Number(axis.pointer.split('/').pop())] ?? {};
      const lengths = axis.names.map((n) => group[n]?.length ?? 0);
      if (new Set(lengths).size > 1) {
        diagnostics.push(
          map.diagnostic(
            axis.pointer,
            `zip group lists have different lengths (${axis.names.map((n, i) => `${n}: ${lengths[i]}`).join(', ')})`,
            {
              expected: 'lists of equal length (the i-th values go together)',
            },
          ),
        );
      }
    }
  }
}

/** A budget names a dataset node (any node type whose outputs include a Dataset) or its corpus. */
function checkBudgets(graph: Graph, signatures: SignatureRegistry, map: SourceMap, diagnostics: Diagnostic[]): void {
  const budgets = graph.privacy?.budgets ?? {};
  const producesDataset = (type: string | undefined) =>
    Object.values(signatures.get(type ?? '')?.outputs ?? {}).some((port) => port.kind === 'Dataset');
  const datasets = Object.entries(graph.nodes).filter(([, n]) => producesDataset(n?.type));
  const names = new Set(datasets.flatMap(([id, n]) => [id, ...(typeof n?.params?.corpus === 'string' ? [n.params.corpus] : [])]));
  for (const name of Object.keys(budgets)) {
    if (names.has(name)) continue;
    diagnostics.push(
      map.diagnostic(
        pointerOf(['privacy', 'budgets', name]),
        `budget for \`${name}\`, which is neither a Dataset node nor a corpus of one`,
        {
          key: true,
          expected: names.size ? `one of ${list(names)}` : 'the id of a Dataset node',
          hint: didYouMean(name, names),
        },
      ),
    );
  }
}

/** Kahn's algorithm in file order; on a cycle, names the nodes of each cycle found. */
function topologicalOrder(
  ids: string[],
  inputs: Map<string, Record<string, InputRef>>,
  map: SourceMap,
  diagnostics: Diagnostic[],
): string[] {
  const dependents = new Map(ids.map((id) => [id, [] as string[]]));
  const pending = new Map(ids.map((id) => [id, 0]));
  for (const id of ids) {
    for (const up of new Set(Object.values(inputs.get(id)!).map((r) => r.node))) {
      dependents.get(up)!.push(id);
      pending.set(id, pending.get(id)! + 1);
    }
  }
  const order: string[] = [];
  const ready = ids.filter((id) => pending.get(id) === 0);
  // ready is consumed in file order: a stable order for readers of `plan`.
  while (ready.length) {
    const id = ready.shift()!;
    order.push(id);
    for (const d of dependents.get(id)!) {
      pending.set(d, pending.get(d)! - 1);
      if (pending.get(d) === 0) ready.push(d);
    }
  }
  if (order.length === ids.length) return order;

  const stuck = new Set(ids.filter((id) => !order.includes(id)));
  const reported = new Set<string>();
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 'active');
    stack.push(id);
    for (const [port, ref] of Object.entries(inputs.get(id)!)) {
      if (!stuck.has(ref.node)) continue;
      if (state.get(ref.node) === 'active') {
        const cycle = stack.slice(stack.indexOf(ref.node));
        const signature = [...cycle].sort().join(' ');
        if (!reported.has(signature)) {
          reported.add(signature);
          // Data flows upstream -> downstream, so print the cycle in that direction.
          const flow = [...cycle].reverse();
          diagnostics.push(
            map.diagnostic(pointerOf(['nodes', id, 'inputs', port]), `cycle: ${[...flow, flow[0]].join(' -> ')}`, {
              expected: 'a graph without cycles (a node cannot depend on its own output)',
              hint: `remove one of the inputs that close the cycle between ${list(cycle.sort())}`,
            }),
          );
        }
      } else if (!state.has(ref.node)) {
        visit(ref.node);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of stuck) if (!state.has(id)) visit(id);
  return [];
}
