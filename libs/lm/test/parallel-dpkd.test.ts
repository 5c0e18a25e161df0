// The DPKD student on several threads: every worker holds a frozen teacher replica and rebuilds the per-example
// KD loss from its spec ('live-kd'), so it clips its share of the examples exactly as one thread would (the
// same per-example norms), and dpDistillLmParallel takes the same batches, noise and steps as dpDistillLm.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  createModel,
  createRng,
  dpDistillLm,
  dpDistillLmParallel,
  type LanguageModel,
  naiveClippedSum,
  ReplicaPool,
  seededSource,
  type ShardLossSpec,
} from '../src';
import { dpDistillExampleLoss } from '../src/distill';
import { maxRelDiff, PAD, randomBatch, TINY, useWasm, values } from './helpers';

useWasm();

const STUDENT = { ...TINY, layers: 1, d: 16, heads: 2, mlp: 32 };
/** Windows of 12 tokens; every third ends in PAD, so PAD masking changes the loss. */
const DATA = randomBatch(12, 12, PAD, 31).map((w, i) => (i % 3 === 0 ? [...w.slice(0, 7), ...new Array<number>(5).fill(PAD)] : w));

type Objective = Omit<Extract<ShardLossSpec, { kind: 'live-kd' }>, 'kind'>;
/** Every field but maskPad away from its default, so a worker that dropped one would clip differently. */
const KD: Objective = { pad: PAD, lambda: 0.4, temperature: 2, klReduction: 'batch-sum', skipPositions: 2 };
const VARIANTS: Objective[] = [
  { ...KD, lambda: 0.8 },
  { ...KD, temperature: 1 },
  { ...KD, klReduction: 'token-mean' },
  { ...KD, skipPositions: 0 },
  { ...KD, maskPad: false },
];

const paramsOf = (m: LanguageModel) => [...m.params.values()].map((p) => (p.dataSync() as Float32Array).slice());

describe('DPKD (live-kd) across replicas', () => {
  test('a worker clips its share with the same per-example KD loss: λ, temperature and PAD masking honoured', async () => {
    const teacher = createModel(TINY, { seed: 1 });
    const student = createModel(STUDENT, { seed: 2 });
    // 5 examples: the leader clips rows 0-2, the worker rows 3-4 (row 3 ends in PAD).
    const batch = DATA.slice(0, 5);
    const o = { clip: 0.5, pad: PAD, physicalBatch: 2, method: 'naive' as const };
    const alone = (kd: Objective) => naiveClippedSum(student, batch, o.clip, PAD, dpDistillExampleLoss({ ...kd, student, teacher }));
    const pools: ReplicaPool[] = [];
    try {
      for (const kd of [KD, { ...KD, lambda: 0.7, maskPad: false }]) {
        const pool = await ReplicaPool.start({ threads: 2, model: student, teacher, loss: { kind: 'live-kd', ...kd } });
        pools.push(pool);
        const shared = await pool.clippedSum(batch, o);
        const one = alone(kd);
        // Per-example norms: the same ops on the same example in both threads, bit for bit.
        expect(shared.norms).toEqual(one.norms);
        expect(shared.loss).toBeCloseTo(one.loss, 5);
        for (const [name, g] of one.sum) expect(maxRelDiff(values(shared.grads.get(name)!), values(g)), name).toBeLessThan(1e-5);
        [...one.sum.values(), ...shared.grads.values()].forEach((g) => g.dispose());
      }
      // Each field changes the worker's examples' norms (on one thread), so a worker that ignored it would fail above.
      const norms = (kd: Objective) => {
        const r = alone(kd);
        r.sum.forEach((g) => g.dispose());
        return r.norms.slice(3);
      };
      const reference = norms(KD);
      for (const kd of VARIANTS) expect(norms(kd), JSON.stringify(kd)).not.toEqual(reference);
    } finally {
      await Promise.all(pools.map((p) => p.dispose()));
      teacher.dispose();
      student.dispose();
    }
  });

  test('dpDistillLmParallel on 2 threads equals dpDistillLm: same batches, steps and privacy event, same student', async () => {
    const teacher = createModel(TINY, { seed: 3 });
    const one = createModel(STUDENT, { seed: 4 });
    const two = createModel(STUDENT, { seed: 4 });
    const start = paramsOf(one);
    try {
      const common = { ...KD, sequences: DATA, q: 0.5, sigma: 0.8, clip: 0.5, steps: 3, lr: 3e-3, teacher };
      const sizes: number[][] = [[], []];
      const a = dpDistillLm({ ...common, student: one, source: seededSource(createRng(9)), onStep: (r) => sizes[0]!.push(r.batchSize) });
      const b = await dpDistillLmParallel({
        ...common,
        student: two,
        threads: 2,
        source: seededSource(createRng(9)),
        onStep: (r) => sizes[1]!.push(r.batchSize),
      });
      expect({ steps: b.steps, q: b.q, sigma: b.sigma }).toEqual({ steps: a.steps, q: a.q, sigma: a.sigma });
      expect(sizes[1]).toEqual(sizes[0]);
      expect(maxRelDiff(b.losses, a.losses)).toBeLessThan(1e-5);
      const [pa, pb] = [paramsOf(one), paramsOf(two)];
      pa.forEach((values, i) => expect(maxRelDiff(pb[i]!, values)).toBeLessThan(1e-4));
      // The steps moved the student (not a comparison of two untouched models).
      expect(maxRelDiff(pa[0]!, start[0]!)).toBeGreaterThan(1e-3);
    } finally {
      [teacher, one, two].forEach((m) => m.dispose());
    }
  });

  test('a stale worker (an older protocol, which would clip CE for a live-kd loss) is refused at start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpkd-stale-worker-'));
    const script = join(dir, 'lm-worker.mjs');
    // What a worker bundled before protocol 2 answers to 'init'.
    writeFileSync(
      script,
      "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => parentPort.postMessage({ type: 'ready' }));\n",
    );
    const student = createModel(STUDENT, { seed: 5 });
    process.env.DPKD_LM_WORKER = script;
    try {
      await expect(ReplicaPool.start({ threads: 2, model: student, teacher: student, loss: { kind: 'live-kd', ...KD } })).rejects.toThrow(
        /speaks protocol 1, this leader 2/,
      );
    } finally {
      delete process.env.DPKD_LM_WORKER;
      student.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
