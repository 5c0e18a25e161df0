// What a graph will cost before it runs: for each heavy node the tokens its model processes (from its params and
// the sizes of its inputs) and a time from the measured speed of the project's machines. Rough by design: it
// tells a one-minute graph from a one-hour one. The rules follow each node type's params (schemas/nodes/*);
// a node type without a rule is listed with no estimate, never guessed.
import { loadavg, availableParallelism } from 'node:os';
import type { DatasetDescription } from '@dpkd/graph';
import type { EngineGraph, EngineNode } from './graph-types';

/** The shape of a transformer, as far as its cost goes. */
export interface ModelShape {
  layers: number;
  d: number;
  mlp: number;
  ctx: number;
  vocab: number;
}

export type Work = 'train' | 'dp-train' | 'forward' | 'generate';

/** A heavy node's fixed cost beyond its tokens: a worker process starts, loads its inputs and tokenizes. */
export const NODE_OVERHEAD_SECONDS = 3;

/**
 * Measured speed: tokens/s of the wasm backend on one thread (`npm run bench -- lm`, d 128, mlp 512, ctx 128,
 * batch 16, vocab 4098), run B of libs/lm/README.md (load average 3.0-2.2 on the 2-core machine every
 * developer, CI and the quickstart run on). The quickstart's teacher-s pretraining agrees: 921,600 tokens in
 * 387 s = 2,380 tok/s for the 4-layer model, at seqLen 64. A busy machine is slower: the same bench ran at
 * 778 tok/s (2L train) with load 4.8 while four jobs shared the cores, so the plan says when the load is high.
 */
export const MEASURED_SPEED = {
  source: 'npm run bench -- lm (libs/lm/README.md, run B), wasm backend, 1 thread, 2-core machine, load ~3',
  models: [
    {
      name: '2L d128',
      shape: { layers: 2, d: 128, mlp: 512, ctx: 128, vocab: 4098 },
      tokensPerSecond: { forward: 10280, train: 3555, 'dp-train': 2856, generate: 1652 },
    },
    {
      name: '4L d128',
      shape: { layers: 4, d: 128, mlp: 512, ctx: 128, vocab: 4098 },
      tokensPerSecond: { forward: 8237, train: 2679, 'dp-train': 2327, generate: 1468 },
    },
  ],
} as const;

/**
 * Forward FLOPs per token: the linear layers (qkv, projection, MLP), the tied output head, and attention over
 * `seqLen` positions (scores and values). Training costs about 3x this, which the measured speeds already hold.
 */
export function flopsPerToken(m: ModelShape, seqLen = m.ctx): number {
  return 2 * (m.layers * (4 * m.d * m.d + 2 * m.d * m.mlp) + m.vocab * m.d) + 4 * m.layers * seqLen * m.d;
}

/**
 * Tokens/s of `work` on a model: the measured model nearest in FLOPs, scaled by the FLOPs ratio. Small models
 * are overhead-bound (kernel launches, not arithmetic), so the speed-up over the nearest measurement is capped
 * at 2x: the `tiny` preset (6x fewer FLOPs than 2L d128) measured 2.5x (train), 1.9x (DP) and 1.8x (evaluate)
 * in the guide's first graph.
 */
export function tokensPerSecond(model: ModelShape, work: Work, seqLen?: number): number {
  const f = flopsPerToken(model, seqLen);
  const nearest = [...MEASURED_SPEED.models].sort(
    (a, b) => Math.abs(Math.log(flopsPerToken(a.shape) / f)) - Math.abs(Math.log(flopsPerToken(b.shape) / f)),
  )[0]!;
  return nearest.tokensPerSecond[work] * Math.min(2, flopsPerToken(nearest.shape) / f);
}

/**
 * Mean tokens per document of each corpus (the texts alone, this tokenizer; libs/data/README.md): how many tokens
 * a training split of n documents holds when no param fixes it.
 */
export const TOKENS_PER_DOCUMENT: Record<string, number> = {
  imdb: 18.78e6 / 49580,
  wordnet: 2.42e6 / 73486,
  foldoc: 1.2e6 / 8178,
  spam: 3.84e6 / 5918,
  'public-mix': 5.45e6 / 2855,
  fortunes: 0.84e6 / 15128,
};

export interface NodeEstimate {
  node: string;
  type: string;
  work?: Work;
  /** Tokens the node's model processes (padding included: fixed-length batches cost their full length). */
  tokens?: number;
  seconds?: number;
  /** How the numbers were reached, or why there is no estimate. */
  basis: string;
}

export interface GraphEstimate {
  nodes: NodeEstimate[];
  /** Sum over the nodes to run (an upper bound on wall time: independent nodes run in parallel with --jobs). */
  seconds: number;
  speedSource: string;
  /** Set when the machine is busier than its cores: times will be longer. */
  loadWarning?: string;
}

export interface EstimateInputs {
  /** The shape of a `model` param (a preset name or a config); undefined when unknown. */
  modelShape(model: unknown): ModelShape | undefined;
  /** The shape of a pinned public checkpoint (a PublicModel node's `name`), from its card; undefined when unknown. */
  publicModelShape?(name: string): ModelShape | undefined;
  /** The description of a Dataset node (its train size and corpus), as the privacy plan has it. */
  dataset(node: EngineNode): Promise<DatasetDescription | undefined>;
}

const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);

/** Estimates for the graph's heavy nodes that are not cached (`toRun` ids). */
export async function estimateGraph(graph: EngineGraph, toRun: ReadonlySet<string>, inputs: EstimateInputs): Promise<GraphEstimate> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const upstream = (n: EngineNode, port: string) => (n.inputs[port] ? byId.get(n.inputs[port]!.node) : undefined);

  /** The shape of the model a node outputs or reads: fixed by a `model` param, else carried from its model input. */
  const modelOf = (n: EngineNode | undefined, depth = 0): ModelShape | undefined => {
    if (!n || depth > 64) return undefined;
    if (n.params.model !== undefined) return inputs.modelShape(n.params.model);
    if (n.type === 'PublicModel') return typeof n.params.name === 'string' ? inputs.publicModelShape?.(n.params.name) : undefined;
    for (const port of ['model', 'init', 'teacher']) if (n.inputs[port]) return modelOf(upstream(n, port), depth + 1);
    return undefined;
  };
  /** Documents of a synthetic corpus: the Sample node's count. */
  const corpusDocs = (n: EngineNode | undefined): number | undefined => (n?.type === 'Sample' ? num(n.params.count, 0) : undefined);

  const estimates: NodeEstimate[] = [];
  for (const n of graph.nodes) {
    if (!n.heavy || !toRun.has(n.id)) continue;
    const p = n.params;
    const seqLen = num(p.seqLen, 128);
    let work: Work | undefined;
    let tokens: number | undefined;
    let basis = '';
    let model = modelOf(n);
    switch (n.type) {
      case 'Pretrain': {
        work = 'train';
        const batch = num(p.batchSize, 32);
        let steps = typeof p.steps === 'number' ? p.steps : undefined;
        if (steps === undefined) {
          const data = upstream(n, 'data');
          const d = data ? await inputs.dataset(data) : undefined;
          const perDoc = d ? TOKENS_PER_DOCUMENT[d.unit] : undefined;
          if (d && perDoc) {
            steps = Math.max(1, Math.round(Math.max(1, Math.floor((d.n * perDoc) / seqLen / batch)) * num(p.epochs, 1)));
            basis = `${num(p.epochs, 1)} epoch(s) over ~${d.n} ${d.unit} documents of ~${Math.round(perDoc)} tokens; `;
          }
        }
        if (steps !== undefined) {
          tokens = steps * batch * seqLen;
          basis += `${steps} steps × ${batch} × seqLen ${seqLen}`;
        }
        break;
      }
      case 'DPFineTune':
      case 'FineTune': {
        work = n.type === 'DPFineTune' ? 'dp-train' : 'train';
        const data = upstream(n, 'data');
        const d = data ? await inputs.dataset(data) : undefined;
        const batch = num(p.batchSize, n.type === 'DPFineTune' ? 64 : 32);
        if (d) {
          const steps = Math.ceil((num(p.epochs, 1) * d.n) / batch);
          tokens = steps * batch * seqLen;
          basis = `${steps} steps × ${batch} (expected) × seqLen ${seqLen}${n.inputs.teacher ? ', plus the teacher forward (not counted)' : ''}`;
        }
        break;
      }
      case 'Sample': {
        work = 'generate';
        tokens = num(p.count, 0) * num(p.maxLength, 128);
        basis = `${num(p.count, 0)} texts × up to ${num(p.maxLength, 128)} tokens (more with over-generation)`;
        break;
      }
      case 'SoftLabel':
      case 'HiddenAlign': {
        work = 'forward';
        const docs = corpusDocs(upstream(n, 'corpus'));
        if (docs !== undefined) {
          tokens = docs * seqLen;
          basis = `${docs} texts × seqLen ${seqLen}`;
        }
        break;
      }
      case 'Distill': {
        work = 'train';
        const docs = corpusDocs(upstream(n, 'corpus'));
        if (docs !== undefined) {
          tokens = Math.round(num(p.epochs, 1) * docs * seqLen);
          basis = `${num(p.epochs, 1)} epoch(s) × ${docs} texts × seqLen ${seqLen}`;
        }
        break;
      }
      case 'Evaluate': {
        work = 'forward';
        const data = upstream(n, 'data');
        const split = typeof p.split === 'string' ? p.split : 'test';
        const docs = data && typeof data.params[split] === 'number' ? (data.params[split] as number) : undefined;
        const corpus = typeof data?.params.corpus === 'string' ? data.params.corpus : undefined;
        const perDoc = corpus ? TOKENS_PER_DOCUMENT[corpus] : undefined;
        if (docs !== undefined && perDoc) {
          tokens = Math.round(docs * perDoc * (p.perCode === false ? 1 : 2));
          basis = `${docs} ${split} documents of ~${Math.round(perDoc)} tokens${p.perCode === false ? '' : ', twice (overall and per code)'}`;
        }
        break;
      }
      default:
        model = undefined;
    }
    if (tokens === undefined || work === undefined) {
      estimates.push({ node: n.id, type: n.type, basis: basis || 'no estimate for this node type or its inputs' });
      continue;
    }
    const seconds = model ? NODE_OVERHEAD_SECONDS + tokens / tokensPerSecond(model, work, seqLen) : undefined;
    estimates.push({
      node: n.id,
      type: n.type,
      work,
      tokens,
      basis: model ? basis : `${basis}; model size unknown, no time`,
      ...(seconds !== undefined ? { seconds } : {}),
    });
  }
  const cores = availableParallelism();
  const load = loadavg()[0]!;
  return {
    nodes: estimates,
    seconds: estimates.reduce((s, e) => s + (e.seconds ?? 0), 0),
    speedSource: MEASURED_SPEED.source,
    ...(load > cores
      ? {
          loadWarning: `load average ${load.toFixed(1)} on ${cores} cores: other work shares the CPU, expect up to ${(load / cores).toFixed(1)}x longer`,
        }
      : {}),
  };
}

/** "1.2 M", "45 k", "900". */
const tokensText = (t: number) => (t >= 1e6 ? `${(t / 1e6).toFixed(1)} M` : t >= 1e4 ? `${Math.round(t / 1e3)} k` : String(t));
/** "~40 s", "~6 min", "~1.5 h". */
export const durationText = (s: number) =>
  s < 90 ? `~${Math.max(1, Math.round(s))} s` : s < 5400 ? `~${Math.round(s / 60)} min` : `~${(s / 3600).toFixed(1)} h`;

export function renderEstimate(e: GraphEstimate): string {
  if (e.nodes.length === 0) return 'cost: nothing heavy to run';
  const lines = [`cost of the heavy nodes to run (rough; speed from ${e.speedSource}):`];
  for (const n of e.nodes) {
    const head =
      n.tokens !== undefined
        ? `${tokensText(n.tokens)} tokens ${n.work}${n.seconds !== undefined ? `, ${durationText(n.seconds)}` : ''}`
        : 'unknown';
    lines.push(`  ${n.node} (${n.type}): ${head}  [${n.basis}]`);
  }
  lines.push(`  total ${durationText(e.seconds)} of compute if run one after another${e.loadWarning ? `; ${e.loadWarning}` : ''}`);
  return lines.join('\n');
}
