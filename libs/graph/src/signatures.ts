// The node-type registry: what the graph lib knows about each node type (ports, version, params
// schema). The default comes from schemas/nodes/*.schema.json (`x-dpkd`); engine tests merge in
// test-only types.
import { type ArtifactKind, type PortSpec, type ValidateFunction, compileSchema, nodeSchemas } from '@dpkd/schema';

export type { ArtifactKind, PortSpec };

export interface Signature {
  type: string;
  /** Enters the action key: bump it when the node's semantics change. */
  version: number;
  /** Run in a worker process. */
  heavy: boolean;
  /** Input ports by name; "*" accepts any port name of its kind. */
  inputs: Record<string, PortSpec>;
  /** Output ports; the first is the primary output (what a bare "nodeId" reference means). */
  outputs: Record<string, { kind: ArtifactKind }>;
  /** JSON Schema 2020-12 of the params; its defaults are applied before keying. */
  paramsSchema: Record<string, unknown>;
}

export type SignatureRegistry = ReadonlyMap<string, Signature>;

let schemaRegistry: SignatureRegistry | undefined;

/** The registry defined by schemas/nodes/. */
export function defaultSignatures(): SignatureRegistry {
  schemaRegistry ??= new Map(
    nodeSchemas().map(({ schema, signature }) => [
      signature.type,
      { ...signature, paramsSchema: schema as Record<string, unknown> } satisfies Signature,
    ]),
  );
  return schemaRegistry;
}

/** `base` (the schema registry by default) plus `extra`; a type in `extra` replaces one in `base`. */
export function withSignatures(extra: Iterable<Signature>, base: SignatureRegistry = defaultSignatures()): SignatureRegistry {
  const merged = new Map(base);
  for (const s of extra) merged.set(s.type, s);
  return merged;
}

export const primaryOutput = (s: Signature): string => Object.keys(s.outputs)[0]!;

/** Params validator that applies defaults (it mutates: pass a copy). */
export function paramsValidator(s: Signature): ValidateFunction {
  return compileSchema(s.paramsSchema, { useDefaults: true });
}
