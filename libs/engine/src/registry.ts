import type { NodeImplementation } from '@dpkd/graph';

/** Node implementations by type, plus the output kinds of their ports (from the signatures, when known). */
export interface NodeRegistryApi {
  get(type: string): NodeImplementation | undefined;
  outputKind(type: string, port: string): string | undefined;
  types(): string[];
}

export interface RegisteredNode {
  implementation: NodeImplementation;
  outputs?: Record<string, string>;
}

export function makeRegistry(nodes: RegisteredNode[]): NodeRegistryApi {
  const byType = new Map(nodes.map((n) => [n.implementation.type, n]));
  return {
    get: (type) => byType.get(type)?.implementation,
    outputKind: (type, port) => byType.get(type)?.outputs?.[port],
    types: () => [...byType.keys()].sort(),
  };
}
