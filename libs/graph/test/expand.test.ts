import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type ExpandedGraph, type Signature, interpolate, toDot, toMermaid, validateGraph } from '../src';

type Json = Record<string, unknown>;

const pipeline = (extra: Json = {}, nodes: Json = {}): Json => ({
  name: 'test',
  params: { epsilon: 2, student: 'student-xs' },
  ...extra,
  nodes: {
    imdb: { type: 'Dataset', params: { corpus: 'imdb', train: 100 } },
    public: { type: 'Dataset', params: { corpus: 'public-mix' } },
    t0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny' } },
    s0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: '${student}' } },
    teacher: { type: 'DPFineTune', inputs: { model: 't0', data: 'imdb' }, params: { epsilon: '${epsilon}' } },
    syn: { type: 'Sample', inputs: { model: 'teacher', codes: 'imdb' }, params: { count: 100 } },
    student: { type: 'Distill', inputs: { init: 's0', corpus: 'syn' } },
    ...nodes,
  },
});

function load(graph: Json, options = {}): ExpandedGraph {
  const result = validateGraph(JSON.stringify(graph, null, 2), 'test.json', options);
  expect(result.diagnostics).toEqual([]);
  return result.graph!;
}
const byId = (g: ExpandedGraph) => new Map(g.nodes.map((n) => [n.id, n]));

describe('interpolation', () => {
  test('an exact "${name}" keeps the type; inside a longer string it is text', () => {
    const params = { n: 3, flag: false, cfg: { layers: 2 }, s: 'x' };
    expect(interpolate({ a: '${n}', b: '${flag}', c: '${cfg}', d: 'n=${n}, s=${s}', e: ['${n}'] }, params)).toEqual({
      a: 3,
      b: false,
      c: { layers: 2 },
      d: 'n=3, s=x',
      e: [3],
    });
  });

  test('a swept number arrives in the node params as a number', () => {
    const g = load(pipeline({ sweep: { grid: { epsilon: [1, 8] } } }));
    expect(g.nodes.filter((n) => n.baseId === 'teacher').map((n) => n.params.epsilon)).toEqual([1, 8]);
  });

  test('an object param can be interpolated (a model config)', () => {
    const config = { layers: 2, d: 32, heads: 2, mlp: 64, ctx: 128 };
    const g = load(pipeline({ params: { epsilon: 2, student: config } }));
    expect(byId(g).get('s0')!.params.model).toEqual(config);
  });
});

describe('sweep expansion', () => {
  const sweep = { grid: { epsilon: [1, 2, 4, 8], student: ['student-xs', 'student-s'] } };

  test('a node that depends on no axis exists once; ids read like teacher[epsilon=2]', () => {
    const g = load(pipeline({ sweep }));
    const ids = g.nodes.map((n) => n.id);
    expect(g.sweepPoints).toHaveLength(8);
    expect(ids.filter((id) => id.startsWith('t0'))).toEqual(['t0']);
    expect(ids.filter((id) => id.startsWith('teacher'))).toEqual([
      'teacher[epsilon=1]',
      'teacher[epsilon=2]',
      'teacher[epsilon=4]',
      'teacher[epsilon=8]',
    ]);
    expect(ids.filter((id) => id.startsWith('s0'))).toEqual(['s0[student=student-xs]', 's0[student=student-s]']);
    expect(ids).toContain('student[epsilon=2,student=student-xs]');
    expect(ids.filter((id) => id.startsWith('student'))).toHaveLength(8);
    expect(byId(g).get('student[epsilon=4,student=student-s]')!.axes).toEqual({ epsilon: 4, student: 'student-s' });
  });

  test('each sweep point lists one instance of every node, dependencies first', () => {
    const g = load(pipeline({ sweep }));
    const nodes = byId(g);
    for (const point of g.sweepPoints) {
      expect(point.nodes).toHaveLength(7);
      const teacher = point.nodes.find((id) => id.startsWith('teacher'))!;
      expect(nodes.get(teacher)!.params.epsilon).toBe(point.axes.epsilon);
      point.nodes.forEach((id, i) => nodes.get(id)!.deps.forEach((d) => expect(point.nodes.indexOf(d)).toBeLessThan(i)));
    }
  });

  test('zip groups pair their lists and cross with the grid', () => {
    const g = load(
      pipeline(
        {
          params: { epsilon: 2, student: 'student-xs', lr: 1e-4, epochs: 1 },
          sweep: { grid: { epsilon: [1, 2] }, zip: [{ lr: [1e-4, 2e-4], epochs: [1, 3] }] },
        },
        { student: { type: 'Distill', inputs: { init: 's0', corpus: 'syn' }, params: { lr: '${lr}', epochs: '${epochs}' } } },
      ),
    );
    expect(g.sweepPoints.map((p) => p.axes)).toEqual([
      { epsilon: 1, lr: 1e-4, epochs: 1 },
      { epsilon: 1, lr: 2e-4, epochs: 3 },
      { epsilon: 2, lr: 1e-4, epochs: 1 },
      { epsilon: 2, lr: 2e-4, epochs: 3 },
    ]);
    const students = g.nodes.filter((n) => n.baseId === 'student');
    expect(students.map((n) => [n.params.lr, n.params.epochs])).toEqual([
      [1e-4, 1],
      [2e-4, 3],
      [1e-4, 1],
      [2e-4, 3],
    ]);
    expect(students[1]!.id).toBe('student[epsilon=1,lr=0.0002,epochs=3]');
  });

  test('instances whose resolved params come out equal are one node', () => {
    // lr takes the same value twice: the students differ only by name, so there is one per epsilon.
    const g = load(
      pipeline(
        { params: { epsilon: 2, student: 'student-xs', lr: 1e-4, epochs: 1 }, sweep: { zip: [{ lr: [1e-4, 1e-4], epochs: [1, 2] }] } },
        {
          student: { type: 'Distill', inputs: { init: 's0', corpus: 'syn' }, params: { lr: '${lr}' } },
          other: { type: 'Distill', inputs: { init: 's0', corpus: 'syn' }, params: { epochs: '${epochs}' } },
        },
      ),
    );
    expect(g.nodes.filter((n) => n.baseId === 'student')).toHaveLength(1);
    expect(g.nodes.filter((n) => n.baseId === 'other')).toHaveLength(2);
  });

  test('property: the expansion has product(axis lengths) points and every dep precedes its node', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 3 }),
        (eps, sizes) => {
          const students = ['tiny', 'student-xs', 'student-s'].slice(0, sizes);
          const g = load(pipeline({ sweep: { grid: { epsilon: eps, student: students } } }));
          expect(g.sweepPoints).toHaveLength(eps.length * students.length);
          expect(g.nodes.filter((n) => n.baseId === 'teacher')).toHaveLength(eps.length);
          expect(g.nodes.filter((n) => n.baseId === 'student')).toHaveLength(eps.length * students.length);
          const seen = new Set<string>();
          for (const n of g.nodes) {
            for (const d of n.deps) expect(seen.has(d)).toBe(true);
            seen.add(n.id);
          }
          expect(seen.size).toBe(g.nodes.length);
        },
      ),
      { numRuns: 20 },
    );
  });
});

describe('action keys', () => {
  const keyOf = (graph: Json, id: string) => byId(load(graph)).get(id)!.key;

  test('node ids, the graph name, descriptions and scheduling hints never enter a key', () => {
    const a = pipeline();
    const b = pipeline({ name: 'other', description: 'x' });
    const nodes = b.nodes as Record<string, Json>;
    nodes.renamedTeacher = { ...nodes.teacher!, description: 'renamed', timeout: 60, retries: 2 };
    delete nodes.teacher;
    nodes.syn = { ...nodes.syn!, inputs: { model: 'renamedTeacher', codes: 'imdb' } };
    expect(keyOf(b, 'renamedTeacher')).toBe(keyOf(a, 'teacher'));
    expect(keyOf(b, 'student')).toBe(keyOf(a, 'student'));
  });

  test('defaults are applied before keying: an explicit default gives the same key', () => {
    const explicit = pipeline(
      {},
      { syn: { type: 'Sample', inputs: { model: 'teacher', codes: 'imdb' }, params: { count: 100, topK: 50, topP: 0.9 } } },
    );
    expect(keyOf(explicit, 'syn')).toBe(keyOf(pipeline(), 'syn'));
    expect(byId(load(pipeline())).get('syn')!.params).toMatchObject({
      count: 100,
      topK: 50,
      topP: 0.9,
      codes: 'noisy',
      returnsPerPrompt: 2,
    });
  });

  test('public-mix defaults to private false, other corpora to private true', () => {
    const g = byId(load(pipeline()));
    expect(g.get('public')!.params.private).toBe(false);
    expect(g.get('imdb')!.params.private).toBe(true);
  });

  test('a changed param changes the key of the node and of everything downstream, nothing upstream', () => {
    const a = byId(load(pipeline()));
    const b = byId(load(pipeline({ params: { epsilon: 4, student: 'student-xs' } })));
    for (const id of ['teacher', 'syn', 'student']) expect(b.get(id)!.key).not.toBe(a.get(id)!.key);
    for (const id of ['imdb', 'public', 't0', 's0']) expect(b.get(id)!.key).toBe(a.get(id)!.key);
  });

  test('seed: inherited from the graph, overridden by a node param, and part of the key', () => {
    const a = byId(load(pipeline({ seed: 7 })));
    expect(a.get('teacher')!.seed).toBe(7);
    expect(a.get('teacher')!.params).not.toHaveProperty('seed');
    const b = byId(
      load(pipeline({ seed: 7 }, { t0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny', seed: 3 } } })),
    );
    expect(b.get('t0')!.seed).toBe(3);
    expect(b.get('t0')!.key).not.toBe(a.get('t0')!.key);
    expect(b.get('imdb')!.key).toBe(a.get('imdb')!.key);
    const c = byId(
      load(pipeline({ seed: 7 }, { t0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'tiny', seed: 7 } } })),
    );
    expect(c.get('t0')!.key).toBe(a.get('t0')!.key); // seed 7 by inheritance or by param: one computation
  });

  test('a named (non-primary) output port is part of the downstream key', () => {
    const twoOutputs: Signature = {
      type: 'Split',
      version: 1,
      heavy: false,
      inputs: {},
      outputs: { left: { kind: 'Dataset' }, right: { kind: 'Dataset' } },
      paramsSchema: { type: 'object', additionalProperties: false, properties: {} },
    };
    const graph = (ref: string) => ({
      name: 'ports',
      nodes: { split: { type: 'Split' }, t0: { type: 'Pretrain', inputs: { data: ref }, params: { model: 'tiny' } } },
    });
    const key = (ref: string) => byId(load(graph(ref), { extraSignatures: [twoOutputs] })).get('t0')!.key;
    expect(key('split')).toBe(key('split.left'));
    expect(key('split.right')).not.toBe(key('split.left'));
  });
});

describe('extra signatures', () => {
  const sleep: Signature = {
    type: 'Sleep',
    version: 1,
    heavy: false,
    inputs: { after: { kind: 'Metrics', optional: true } },
    outputs: { metrics: { kind: 'Metrics' } },
    paramsSchema: { type: 'object', additionalProperties: false, properties: { ms: { type: 'integer', default: 10 } } },
  };

  test('are merged over the schema registry', () => {
    const graph = { name: 'sleepy', nodes: { a: { type: 'Sleep' }, b: { type: 'Sleep', inputs: { after: 'a' }, params: { ms: 5 } } } };
    const g = load(graph, { extraSignatures: [sleep] });
    expect(g.nodes.map((n) => [n.id, n.params.ms, n.deps])).toEqual([
      ['a', 10, []],
      ['b', 5, ['a']],
    ]);
    expect(validateGraph(JSON.stringify(graph), 'x.json').diagnostics[0]!.message).toMatch(/unknown node type `Sleep`/);
  });
});

describe('renderings', () => {
  test('Mermaid and DOT show every node and edge', () => {
    const g = load(pipeline({ sweep: { grid: { epsilon: [1, 2] } } }));
    const edges = g.nodes.reduce((n, node) => n + Object.keys(node.inputs).length, 0);
    const mermaid = toMermaid(g);
    expect(mermaid.startsWith('flowchart TD\n')).toBe(true);
    expect(mermaid.match(/-->\|/g)).toHaveLength(edges);
    expect(mermaid).toContain('teacher[epsilon=2]');
    const dot = toDot(g);
    expect(dot.match(/ -> /g)).toHaveLength(edges);
    expect(dot).toContain('"teacher[epsilon=1]" -> "syn[epsilon=1]" [label="model"]');
  });
});
