// Which node types `dpkd` can plan and run: the real ones (libs/nodes) and, behind a test hook, the
// engine's test-only types.
import { makeRegistry, testNodes, testSignatures, type NodeRegistryApi, type RegisteredNode } from '@dpkd/engine';
import { defaultSignatures, type Signature } from '@dpkd/graph';
import { nodeImplementations } from '@dpkd/nodes';

/**
 * Test hook: with DPKD_TEST_NODES=1 the test-only node types (Sleep, Fail, Count, FakeDataset, EmitDpEvent,
 * Peek, EvalHeldOut, Post) are registered, so process-level tests can drive the real `dpkd run`.
 */
const testHook = () => process.env.DPKD_TEST_NODES === '1';

/** Signatures beyond the schema-defined ones (only the test types, behind the hook). */
export const extraSignatures = (): Signature[] => (testHook() ? testSignatures : []);

export function nodeRegistry(): NodeRegistryApi {
  const signatures = defaultSignatures();
  const real: RegisteredNode[] = nodeImplementations.map((implementation) => ({
    implementation,
    outputs: Object.fromEntries(Object.entries(signatures.get(implementation.type)?.outputs ?? {}).map(([port, spec]) => [port, spec.kind])),
  }));
  return makeRegistry([...real, ...(testHook() ? testNodes : [])]);
}
