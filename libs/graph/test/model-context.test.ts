// seqLen against the context of the model reaching a node, at validate time.
import { describe, expect, test } from 'vitest';
import { formatDiagnostic, validateGraph } from '../src';

const presetContext = (p: string) => ({ tiny: 64, 'teacher-s': 128 })[p];
const small = { layers: 1, d: 32, heads: 2, mlp: 64, ctx: 32 };

const graph = (nodes: Record<string, unknown>) =>
  JSON.stringify(
    {
      name: 'ctx',
      nodes: {
        imdb: { type: 'Dataset', params: { corpus: 'imdb', train: 100 } },
        public: { type: 'Dataset', params: { corpus: 'public-mix' } },
        ...nodes,
      },
    },
    null,
    2,
  );
const check = (text: string) => validateGraph(text, 'ctx.json', { presetContext }).diagnostics.map(formatDiagnostic);

describe('seqLen vs the model context', () => {
  test("a seqLen above the context of the node's own model is an error at the node, with the fix", () => {
    const errors = check(graph({ base: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny', seqLen: 128 } } }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^ctx\.json:\d+:\d+: \/nodes\/base\/params\/seqLen: Pretrain node base: seqLen 128 exceeds the context 64 of the model on model \(param\); expected seqLen <= 64 \(set "seqLen": 64/,
    );
  });

  test('the context is carried through nodes that train a model: a DPFineTune two hops down is checked', () => {
    const text = graph({
      base: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: small, seqLen: 32 } },
      tuned: { type: 'FineTune', inputs: { model: 'base', data: 'imdb' }, params: { seqLen: 32 } },
      dp: { type: 'DPFineTune', inputs: { model: 'tuned', data: 'imdb' }, params: { epsilon: 2, seqLen: 48 } },
    });
    const errors = check(text);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /\/nodes\/dp\/params\/seqLen: DPFineTune node dp: seqLen 48 exceeds the context 32 of the model on input `model`/,
    );
  });

  test('within the context, or with an unknown preset, the graph is valid', () => {
    expect(check(graph({ base: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny', seqLen: 64 } } }))).toEqual([]);
    expect(check(graph({ base: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'teacher-s' } } }))).toEqual([]);
    // Without presetContext (this lib alone) a preset name is not checked; a config object still is.
    expect(
      validateGraph(graph({ base: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny' } } }), 'ctx.json').diagnostics,
    ).toEqual([]);
    expect(
      validateGraph(graph({ base: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: small, seqLen: 64 } } }), 'ctx.json')
        .diagnostics,
    ).toHaveLength(1);
  });
});

describe('a left-out seqLen is the context of the model', () => {
  const seqLens = (text: string) =>
    Object.fromEntries(validateGraph(text, 'ctx.json', { presetContext }).graph!.nodes.map((n) => [n.id, n.params.seqLen]));

  test('of the model a node creates, and of the model on its inputs, carried down the chain', () => {
    expect(
      seqLens(
        graph({
          base: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny' } },
          tuned: { type: 'FineTune', inputs: { model: 'base', data: 'imdb' } },
          dp: { type: 'DPFineTune', inputs: { model: 'tuned', data: 'imdb' }, params: { epsilon: 2 } },
          other: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: small } },
        }),
      ),
    ).toMatchObject({ base: 64, tuned: 64, dp: 64, other: 32 });
  });

  test('the tightest context when a node reads two models; an explicit seqLen is kept', () => {
    expect(
      seqLens(
        graph({
          teacher: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'teacher-s' } },
          student: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: small } },
          dpkd: {
            type: 'DPFineTune',
            inputs: { model: 'student', data: 'imdb', teacher: 'teacher' },
            params: { epsilon: 2, controlCodes: false },
          },
          short: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'teacher-s', seqLen: 16 } },
        }),
      ),
    ).toMatchObject({ teacher: 128, student: 32, dpkd: 32, short: 16 });
  });

  test('a model of context 128 keys the same with the seqLen left out or written (existing keys do not move)', () => {
    const keyOf = (params: Record<string, unknown>) =>
      validateGraph(graph({ base: { type: 'Pretrain', inputs: { data: 'public' }, params } }), 'ctx.json', {
        presetContext,
      }).graph!.nodes.find((n) => n.id === 'base')!.key;
    expect(keyOf({ model: 'teacher-s' })).toBe(keyOf({ model: 'teacher-s', seqLen: 128 }));
    expect(keyOf({ model: 'tiny' })).not.toBe(keyOf({ model: 'tiny', seqLen: 32 }));
  });
});
