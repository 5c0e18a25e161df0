// Distill: a student trained on a (synthetic) corpus with hard labels, the teacher's precomputed
// soft labels and hidden states: (1 − λ)·CE + λ·t²·KL + α·hidden. Post-processing: no privacy().
import { createHash } from 'node:crypto';
import { createProjection, precomputedDistillLoss, type PrecomputedTargets, tf } from '@dpkd/lm';
import type { DistillParams, DistillPorts } from '@dpkd/schema';
import {
  backend,
  BestCheckpoint,
  evaluationSteps,
  inputOf,
  loadModelInput,
  meanLoss,
  NodeInputError,
  requireSeqLen,
  saveModelOutput,
  tokenizer,
  tokenizerInfo,
} from './common';
import { trainWithSelection } from './resumable';
import { readCorpusFile } from './corpus-file';
import { absoluteLayer } from './hidden-align';
import { hiddenRowsOf, readHiddenStates } from './hidden-states-file';
import { corpusSequences } from './teacher-on-corpus';
import { readSoftLabels, softTargetsOf } from './soft-labels-file';
import { defineNode, type NodeContext } from './define-node';

type Params = Required<Omit<DistillParams, 'seed'>>;

/** Indices of the hold-out: the fraction with the smallest sha256(index | text), at least one when the corpus allows. */
export function holdoutIndices(texts: string[], fraction: number): Set<number> {
  if (fraction <= 0 || texts.length < 2) return new Set();
  const size = Math.min(texts.length - 1, Math.max(1, Math.round(fraction * texts.length)));
  const ranked = texts
    .map((t, i) => [createHash('sha256').update(`${i}|${t}`).digest('hex'), i] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return new Set(ranked.slice(0, size).map(([, i]) => i));
}

const sameTokens = (stored: Uint16Array, sequences: number[][]): boolean => {
  const L = sequences[0]?.length ?? 0;
  if (stored.length !== sequences.length * L) return false;
  for (let s = 0; s < sequences.length; s++) for (let t = 0; t < L; t++) if (stored[s * L + t] !== sequences[s]![t]) return false;
  return true;
};

const mismatch = (ctx: NodeContext, what: string) => new NodeInputError(`Distill node ${ctx.id}: ${what}`);

export const DistillNode = defineNode<Params, DistillPorts>({
  type: 'Distill',
  parallel: true,
  async run(ctx) {
    const p = ctx.params;
    const backendName = await backend();
    const corpusPath = inputOf(ctx, 'corpus').path;
    const sequences = corpusSequences(corpusPath, p.seqLen);
    if (sequences.length === 0) throw mismatch(ctx, 'the corpus is empty');
    const soft = ctx.inputs.soft ? readSoftLabels(ctx.inputs.soft.path) : undefined;
    const hidden = ctx.inputs.hidden ? readHiddenStates(ctx.inputs.hidden.path) : undefined;
    if (p.lambda > 0 && !soft)
      throw mismatch(
        ctx,
        `lambda ${p.lambda} needs the soft input (a SoftLabel node on the same corpus); or set lambda 0 for hard labels only`,
      );
    if (p.alpha > 0 && !hidden)
      throw mismatch(ctx, `alpha ${p.alpha} needs the hidden input (a HiddenAlign node on the same corpus); or set alpha 0`);
    for (const [name, artifact] of [
      ['soft labels', soft],
      ['hidden states', hidden],
    ] as const) {
      if (!artifact) continue;
      if (artifact.seqLen !== p.seqLen)
        throw mismatch(ctx, `seqLen ${p.seqLen} differs from the ${name}' seqLen ${artifact.seqLen}: set the same seqLen on both nodes`);
      if (artifact.tokenizer.fingerprint !== tokenizerInfo().fingerprint)
        throw mismatch(ctx, `the ${name} were made with another tokenizer (${artifact.tokenizer.name})`);
      if (!sameTokens(artifact.tokens, sequences))
        throw mismatch(ctx, `the ${name} were computed on another corpus (token ids differ): connect them to the same corpus`);
    }
    const { model, meta } = await loadModelInput(ctx, 'init');
    const extra = new Map<string, tf.Variable>();
    const best = new BestCheckpoint(model.params);
    try {
      requireSeqLen(ctx, p.seqLen, model, 'init');
      const studentLayers: number[] = [];
      const teacherPositions: number[] = [];
      if (p.alpha > 0 && hidden) {
        for (const pair of p.layerMap) {
          const [s, t] = pair as [number, number];
          studentLayers.push(absoluteLayer(s, model.config.layers, 'student'));
          const position = hidden.layers.indexOf(absoluteLayer(t, hidden.teacherLayers, 'teacher'));
          if (position < 0)
            throw mismatch(
              ctx,
              `layerMap teacher layer ${t} was not kept by the HiddenAlign node (it kept ${hidden.layers.join(', ')}; ${hidden.teacherLayers} = final)`,
            );
          teacherPositions.push(position);
        }
        if (hidden.d !== model.config.d)
          studentLayers.forEach((_, i) => extra.set(`proj${i}`, createProjection(model.config.d, hidden.d, ctx.seed + i)));
      }
      const texts = readCorpusFile(corpusPath).map((r) => r.text);
      const held = holdoutIndices(texts, p.holdout);
      const rowOf = new Map<number[], number>(sequences.map((s, i) => [s, i]));
      const train = sequences.filter((_, i) => !held.has(i));
      const holdout = sequences.filter((_, i) => held.has(i));
      const targetsFor = (batch: number[][]): PrecomputedTargets => {
        const rows = batch.map((s) => rowOf.get(s)!);
        return {
          ...(soft && p.lambda > 0 ? { soft: softTargetsOf(soft, rows) } : {}),
          ...(hidden && p.alpha > 0 ? { hidden: teacherPositions.map((pos) => hiddenRowsOf(hidden, pos, rows)) } : {}),
        };
      };
      const loss = precomputedDistillLoss(
        {
          student: model,
          pad: tokenizer().pad,
          lambda: p.lambda,
          temperature: p.temperature,
          alpha: p.alpha,
          klReduction: p.klReduction === 'paper' ? 'batch-sum' : 'token-mean',
          skipPositions: p.skipPositions,
          hidden: { studentLayers, loss: p.hiddenLoss },
          targetsFor,
        },
        [...extra.values()] as tf.Tensor2D[],
      );
      const total = Math.max(1, Math.round(Math.max(1, Math.floor(train.length / p.batchSize)) * p.epochs));
      const selectAt = p.select === 'best-validation' && holdout.length > 0 ? evaluationSteps(total, p.epochs) : new Set<number>();
      ctx.log(
        `distilling on ${train.length} sequences (${holdout.length} held out), ${total} steps, λ ${p.lambda}, t ${p.temperature}, α ${p.alpha}`,
      );
      const { steps, losses } = await trainWithSelection(ctx, {
        node: 'Distill',
        minutes: p.checkpointMinutes,
        best,
        selectAt,
        selectionLoss: () => meanLoss(loss, holdout),
        tokensPerStep: p.batchSize * p.seqLen,
        train: {
          model,
          sequences: train,
          pad: tokenizer().pad,
          steps: total,
          batchSize: p.batchSize,
          lr: p.lr,
          optimizer: { weightDecay: p.weightDecay },
          loss,
          extraParams: extra,
          // The same objective as data, for the worker replicas; each shard's soft labels and hidden states go with it.
          parallelLoss: {
            kind: 'precomputed-kd',
            pad: tokenizer().pad,
            lambda: p.lambda,
            temperature: p.temperature,
            alpha: p.alpha,
            klReduction: p.klReduction === 'paper' ? 'batch-sum' : 'token-mean',
            skipPositions: p.skipPositions,
            hidden: { studentLayers, loss: p.hiddenLoss },
            projections: [...extra.keys()],
          },
          shardTargets: targetsFor,
        },
      });
      const output = await saveModelOutput(ctx, model, meta.preset);
      return {
        outputs: { model: output },
        metrics: {
          steps,
          finalLoss: losses.at(-1),
          params: output.meta.params,
          trainSequences: train.length,
          holdout: holdout.length,
          selection: p.select === 'best-validation' ? { step: best.bestStep, holdoutLoss: best.bestLoss, history: best.history } : 'last',
        },
        provenance: { backend: backendName },
      };
    } finally {
      best.dispose();
      extra.forEach((v) => v.dispose());
      model.dispose();
    }
  },
});
