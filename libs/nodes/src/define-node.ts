// defineNode: a node implementation typed by its schema. Params and ports come from the types generated
// from schemas/nodes/<type>.schema.json (`<Type>Params`, `<Type>Ports`), so a node reads `ctx.params.lr`
// and `ctx.inputs.teacher` and returns `outputs.model` without casts, and a typo in a param or port name
// is a type error.
import type { DatasetDescription, InputInfo, NodeImplementation, NodeRunContext, NodeRunResult, PrivacyClaim } from '@dpkd/graph';

/** An input artifact as the engine hands it to a node. */
export type InputArtifact = NodeRunContext['inputs'][string];

/** What the helpers of this lib need from a run context: everything but the node's own params. */
export type NodeContext = Omit<NodeRunContext, 'params' | 'inputs'> & {
  readonly inputs: { readonly [port: string]: InputArtifact | undefined };
};

/** The generated `<Type>Ports`: the artifact kind of each input and output port. */
export interface NodePorts {
  inputs: object;
  outputs: object;
}

export type TypedRunContext<Params, Ports extends NodePorts> = Omit<NodeRunContext, 'params' | 'inputs'> & {
  params: Params;
  inputs: { [Port in keyof Ports['inputs']]: InputArtifact };
};

export type TypedRunResult<Ports extends NodePorts> = Omit<NodeRunResult, 'outputs'> & {
  outputs: { [Port in keyof Ports['outputs']]: { file: string; meta?: unknown } };
};

/** NodeImplementation with the node's params and ports in its types. */
export interface TypedNode<Params, Ports extends NodePorts> {
  type: string;
  externalContent?(params: Params): Record<string, string>;
  describeDataset?(params: Params): Promise<DatasetDescription>;
  privacy?(params: Params, inputs: { [Port in keyof Ports['inputs']]?: InputInfo }): PrivacyClaim[];
  /** run() spreads its work over ctx.threads replicas (the scheduler gives it the free cores). */
  parallel?: boolean;
  run(ctx: TypedRunContext<Params, Ports>): Promise<TypedRunResult<Ports>>;
}

/**
 * The untyped contract the engine calls, from a typed node. `Params` is the node's params type *after*
 * the graph lib has validated them against the node's schema and applied its defaults (so fields with a
 * default are present: usually `Required<...Params>`). That validation is the one place where untyped
 * JSON becomes `Params`; this function is where the types say so, once for every node.
 */
export function defineNode<Params, Ports extends NodePorts>(node: TypedNode<Params, Ports>): NodeImplementation {
  const validated = (params: Record<string, unknown>): Params => params as Params;
  const { externalContent, describeDataset, privacy } = node;
  return {
    type: node.type,
    ...(externalContent ? { externalContent: (params) => externalContent(validated(params)) } : {}),
    ...(describeDataset ? { describeDataset: (params) => describeDataset(validated(params)) } : {}),
    ...(privacy ? { privacy: (params, inputs) => privacy(validated(params), inputs) } : {}),
    ...(node.parallel ? { parallel: true } : {}),
    run: (ctx) => node.run({ ...ctx, params: validated(ctx.params) } as TypedRunContext<Params, Ports>),
  };
}
