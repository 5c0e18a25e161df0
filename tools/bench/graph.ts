// `npm run bench -- graph [points]`: builds an ε × student × (lr, epochs) sweep with `points`
// sweep points (default 500) in memory, then times validation + expansion + keys + plan JSON.
// Target (issue): under 2 s on the 2-core dev machine. Also prints the no-sweep cost for scale.
import { validateGraph } from '@dpkd/graph';

const points = Number(process.argv[2] ?? 500);
const students = ['tiny', 'student-xs', 'student-s', 'teacher-s', 'teacher-m'];
const zipLength = 2;
const epsilons = Array.from({ length: Math.ceil(points / (students.length * zipLength)) }, (_, i) => 0.5 + i * 0.25);

const graph = (sweep: boolean) => ({
  name: 'bench-sweep',
  params: { epsilon: 2, student: 'student-xs', lr: 0.00008, epochs: 1 },
  ...(sweep ? { sweep: { grid: { epsilon: epsilons, student: students }, zip: [{ lr: [0.00008, 0.0002], epochs: [1, 2] }] } } : {}),
  privacy: { budgets: { imdb: { epsilon: 1000 } } },
  nodes: {
    imdb: { type: 'Dataset', params: { corpus: 'imdb', train: 1000 } },
    public: { type: 'Dataset', params: { corpus: 'public-mix' } },
    t0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: 'teacher-s' } },
    s0: { type: 'Pretrain', inputs: { data: 'public' }, params: { model: '${student}' } },
    teacher: { type: 'DPFineTune', inputs: { model: 't0', data: 'imdb' }, params: { epsilon: '${epsilon}' } },
    syn: { type: 'Sample', inputs: { model: 'teacher', codes: 'imdb' }, params: { count: 1000 } },
    soft: { type: 'SoftLabel', inputs: { teacher: 'teacher', corpus: 'syn' } },
    hidden: { type: 'HiddenAlign', inputs: { teacher: 'teacher', corpus: 'syn' } },
    student: {
      type: 'Distill',
      inputs: { init: 's0', corpus: 'syn', soft: 'soft', hidden: 'hidden' },
      params: { lr: '${lr}', epochs: '${epochs}', alpha: 1 },
    },
    dpsgd: { type: 'DPFineTune', inputs: { model: 's0', data: 'imdb' }, params: { epsilon: '${epsilon}' } },
    ppl: { type: 'Evaluate', inputs: { model: 'student', data: 'imdb' } },
    pplDpsgd: { type: 'Evaluate', inputs: { model: 'dpsgd', data: 'imdb' } },
    table: { type: 'Report', inputs: { distildp: 'ppl', dpsgd: 'pplDpsgd' } },
  },
});

function run(text: string): { ms: number; nodes: number; points: number } {
  const start = performance.now();
  const result = validateGraph(text, 'bench.json');
  if (!result.graph) throw new Error(result.diagnostics.map((d) => d.message).join('\n'));
  const plan = JSON.stringify(result.graph.nodes.map((n) => ({ id: n.id, type: n.type, deps: n.deps, key: n.key })));
  const ms = performance.now() - start;
  if (plan.length === 0) throw new Error('empty plan');
  return { ms, nodes: result.graph.nodes.length, points: result.graph.sweepPoints.length };
}

const sweepText = JSON.stringify(graph(true), null, 2);
const singleText = JSON.stringify(graph(false), null, 2);
const cold = run(sweepText); // includes compiling the ajv validators once
const warm = [run(sweepText), run(sweepText), run(sweepText)].map((r) => r.ms).sort((a, b) => a - b)[1]!;
const single = [run(singleText), run(singleText), run(singleText)].map((r) => r.ms).sort((a, b) => a - b)[1]!;

console.log(`graph bench: ${cold.points} sweep points, ${cold.nodes} expanded nodes (13 in the file)`);
console.log(`  validate + expand + key + plan JSON, first run (compiles validators): ${cold.ms.toFixed(0)} ms`);
console.log(`  same, warm (median of 3):                                            ${warm.toFixed(0)} ms`);
console.log(`  one point (no sweep), warm:                                          ${single.toFixed(1)} ms`);
console.log(`  per expanded node: ${((warm / cold.nodes) * 1000).toFixed(0)} µs; target < 2000 ms: ${cold.ms < 2000 ? 'met' : 'MISSED'}`);
