// defineNode: params and ports typed from the generated schema types, one untyped boundary for all nodes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeRunContext } from '@dpkd/graph';
import type { SoftLabelParams, SoftLabelPorts } from '@dpkd/schema';
import { describe, expect, expectTypeOf, test } from 'vitest';
import { defineNode } from '../src/define-node';

const context = (params: Record<string, unknown>): NodeRunContext => ({
  id: 'n',
  key: 'k',
  type: 'SoftLabel',
  params,
  seed: 1,
  scratchDir: '/tmp/none',
  inputs: { teacher: { kind: 'Model', path: '/t', meta: {}, lineage: {} }, corpus: { kind: 'Corpus', path: '/c', meta: {}, lineage: {} } },
  signal: new AbortController().signal,
  progress: () => {},
  log: () => {},
});

describe('defineNode', () => {
  test('hands the run the validated params and inputs by port, and adds only the hooks the node has', async () => {
    const node = defineNode<Required<SoftLabelParams>, SoftLabelPorts>({
      type: 'SoftLabel',
      async run(ctx) {
        expectTypeOf(ctx.params.topK).toEqualTypeOf<number>();
        expectTypeOf(ctx.inputs).toHaveProperty('teacher');
        // @ts-expect-error: SoftLabel has no `model` input port
        void ctx.inputs.model;
        return { outputs: { soft: { file: `${ctx.inputs.corpus.path}:${ctx.params.topK}` } } };
      },
    });
    expect(node.type).toBe('SoftLabel');
    expect(node.privacy).toBeUndefined();
    expect(node.externalContent).toBeUndefined();
    const result = await node.run(context({ topK: 8 }));
    expect(result.outputs).toEqual({ soft: { file: '/c:8' } });
  });

  test('no node implementation casts its params or inputs', () => {
    const dir = join(import.meta.dirname, '../src');
    const casts = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => (readFileSync(join(dir, f), 'utf8').match(/as unknown as/g) ?? []).map(() => f));
    expect(casts).toEqual([]);
  });
});
