import type { NodeImplementation } from '@dpkd/graph';

/** Every node type dpkd can run, one module each. */
export const nodeImplementations: NodeImplementation[] = [];
