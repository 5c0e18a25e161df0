// Sweep expansion: one sub-DAG per sweep point, sharing every node whose resolved params and
// inputs do not depend on the point. Keys are input-addressed (Nix-style), so the whole DAG is
// keyed before anything runs.
import type { Graph, GraphNode } from '@dpkd/schema';
import { type KeyEnvironment, type KeyMaterial, actionKey, keyMaterial } from './action-key';
import type { Analysis } from './check';
import { type Diagnostic, type SourceMap, pointerOf } from './diagnostics';
import { interpolate } from './interpolate';
import { contextOfModelParam, defaultSeqLen, type PresetContext } from './model-context';
import { unitPrivacyParams } from './privacy-unit';
import { schemaDiagnostics } from './schema-errors';
import { type SignatureRegistry, paramsValidator } from './signatures';
import { type SweepAxis, formatAxisValue, sweepPoints } from './sweep';

export interface ExpandedNode {
  /** `teacher`, or `teacher[epsilon=2]` when it depends on sweep axes. */
  id: string;
  /** The node's id in the graph file. */
  baseId: string;
  type: string;
  version: number;
  heavy: boolean;
  /** After interpolation, with schema defaults applied; `seed` is moved out to `seed`. */
  params: Record<string, unknown>;
  /** Input port -> upstream expanded node id and its output port. */
  inputs: Record<string, { node: string; port: string }>;
  /** Upstream expanded ids, each once, in input order. */
  deps: string[];
  /** Action key (sha256 hex): actionKey(material). */
  key: string;
  /** What the key hashes (action-key.ts). */
  material: KeyMaterial;
  seed: number;
  /** Values of the sweep axes this node depends on. */
  axes: Record<string, unknown>;
  timeoutSeconds?: number;
  retries?: number;
  resources?: { cpus?: number; memoryMb?: number };
}

export interface ExpandedGraph {
  name: string;
  /** The parsed graph file. */
  source: Graph;
  /** One entry per sweep point (one point without a sweep): the axis values and the node ids it uses, in topological order. */
  sweepPoints: Array<{ axes: Record<string, unknown>; nodes: string[] }>;
  /** Every distinct expanded node, in topological order. */
  nodes: ExpandedNode[];
}

export function expand(
  graph: Graph,
  analysis: Analysis,
  axes: SweepAxis[],
  signatures: SignatureRegistry,
  map: SourceMap,
  environment: KeyEnvironment,
  presetContext?: PresetContext,
): { graph?: ExpandedGraph; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  // The context of the Model each expanded node outputs (fixed by a `model` param, else carried from its
  // first Model input), for seqLen defaults.
  const outputContext = new Map<string, number | undefined>();
  const reportedErrors = new Set<string>();
  const failed = new Set<string>(); // expanded ids whose params are invalid
  const byName = new Map<string, ExpandedNode | null>(); // null: invalid
  const byKey = new Map<string, Map<string, ExpandedNode>>(); // baseId -> key -> node
  const perBase = new Map<string, ExpandedNode[]>(analysis.order.map((id) => [id, []]));
  const points: ExpandedGraph['sweepPoints'] = [];
  const defaults = graph.params ?? {};
  const graphSeed = graph.seed ?? 0;

  for (const point of sweepPoints(axes)) {
    const values = { ...defaults, ...point };
    const here = new Map<string, ExpandedNode | null>(); // baseId -> node at this point
    for (const baseId of analysis.order) {
      const node = graph.nodes[baseId] as GraphNode;
      const nodeAxes = analysis.axesOf.get(baseId)!;
      const name = nodeAxes.length ? `${baseId}[${nodeAxes.map((a) => `${a}=${formatAxisValue(values[a])}`).join(',')}]` : baseId;
      let expanded = byName.get(name);
      if (expanded === undefined) {
        expanded = create(baseId, node, name, nodeAxes, values, point, here);
        byName.set(name, expanded);
      }
      here.set(baseId, expanded);
    }
    points.push({ axes: point, nodes: [...new Set([...here.values()].filter((n) => n !== null).map((n) => n!.id))] });
  }

  function create(
    baseId: string,
    node: GraphNode,
    name: string,
    nodeAxes: string[],
    values: Record<string, unknown>,
    point: Record<string, unknown>,
    here: Map<string, ExpandedNode | null>,
  ): ExpandedNode | null {
    const signature = signatures.get(node.type)!;
    const upstream = Object.entries(analysis.inputs.get(baseId)!).map(([port, ref]) => ({ port, ref, node: here.get(ref.node) }));
    if (upstream.some((u) => !u.node)) return null; // an upstream node is invalid (already reported)

    const params = interpolate(node.params ?? {}, values) as Record<string, unknown>;
    const seqLenGiven = Object.hasOwn(params, 'seqLen');
    const validate = paramsValidator(signature);
    if (!validate(params)) {
      const base = pointerOf(['nodes', baseId, 'params']);
      const refs = analysis.references.get(baseId)!;
      const hintFor = (pointer: string): string | undefined => {
        const ref = refs.find((r) => pointer === base + r.pointer || pointer.startsWith(`${base + r.pointer}/`));
        if (!ref) return undefined;
        const swept = Object.hasOwn(point, ref.name);
        const at = Object.entries(point)
          .map(([k, v]) => `${k}=${formatAxisValue(v)}`)
          .join(',');
        return `the value comes from "\${${ref.name}}" = ${JSON.stringify(values[ref.name])}${swept ? ` at sweep point ${at}` : ' (a graph param)'}`;
      };
      for (const d of schemaDiagnostics(validate.errors ?? [], { map, base, hintFor })) {
        const id = `${d.pointer}\u0000${d.message}`;
        if (!reportedErrors.has(id)) diagnostics.push(d);
        reportedErrors.add(id);
      }
      failed.add(name);
      return null;
    }
    // A left-out seqLen is the context of the model(s) the node trains or reads, not a fixed 128.
    const modelInputs = upstream.filter((u) => signature.inputs[u.port]?.kind === 'Model').map((u) => outputContext.get(u.node!.id));
    if (!seqLenGiven && typeof params.seqLen === 'number') {
      const ctx = defaultSeqLen(params.model, modelInputs, presetContext);
      if (ctx !== undefined) params.seqLen = ctx;
    }
    const seed = typeof params.seed === 'number' ? params.seed : graphSeed;
    delete params.seed;
    Object.assign(params, unitPrivacyParams(graph, signatures, baseId)); // the unit's budget δ (privacy-unit.ts)

    const inputs: ExpandedNode['inputs'] = {};
    const inputKeys: Record<string, { key: string; port: string }> = {};
    for (const u of upstream) {
      const up = u.node!;
      inputs[u.port] = { node: up.id, port: u.ref.port };
      inputKeys[u.port] = { key: up.key, port: u.ref.port };
    }
    const material = keyMaterial({ type: node.type, version: signature.version, params, seed }, inputKeys, environment);
    const key = actionKey(material);

    // Same key as an existing instance of this node: the axes it mentions did not change what it computes.
    const sameKey = byKey.get(baseId)?.get(key);
    if (sameKey) return sameKey;
    outputContext.set(name, params.model !== undefined ? contextOfModelParam(params.model, presetContext) : modelInputs[0]);

    const expanded: ExpandedNode = {
      id: name,
      baseId,
      type: node.type,
      version: signature.version,
      heavy: signature.heavy,
      params,
      inputs,
      deps: [...new Set(Object.values(inputs).map((i) => i.node))],
      key,
      material,
      seed,
      axes: Object.fromEntries(nodeAxes.map((a) => [a, values[a]])),
    };
    if (node.timeout !== undefined) expanded.timeoutSeconds = node.timeout;
    if (node.retries !== undefined) expanded.retries = node.retries;
    if (node.resources !== undefined) expanded.resources = { ...node.resources };
    if (!byKey.has(baseId)) byKey.set(baseId, new Map());
    byKey.get(baseId)!.set(key, expanded);
    perBase.get(baseId)!.push(expanded);
    return expanded;
  }

  if (diagnostics.length) return { diagnostics };
  // Base nodes are in topological order and every instance's deps belong to earlier base nodes.
  const nodes = analysis.order.flatMap((id) => perBase.get(id)!);
  const rank = new Map(nodes.map((n, i) => [n.id, i]));
  for (const p of points) p.nodes.sort((a, b) => rank.get(a)! - rank.get(b)!);
  return { graph: { name: graph.name, source: graph, sweepPoints: points, nodes }, diagnostics };
}
