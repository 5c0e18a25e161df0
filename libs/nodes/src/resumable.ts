// Resumable training for the training nodes (Pretrain, FineTune, Distill): trainLm's whole state is saved
// atomically into the action's checkpoint directory (the engine keeps it across failures and interruptions
// and removes it once the result is committed), and a rerun of the same action continues from it. Also the
// progress line of long runs: tokens seen, tokens/s, ETA and the latest validation perplexity.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeContext } from './define-node';
import {
  decodeTrainState,
  encodeTrainState,
  type NamedArray,
  type StepReport,
  type TrainCheckpointing,
  type TrainOptions,
  type TrainState,
  trainLm,
} from '@dpkd/lm';
import { writeFileAtomic } from '@dpkd/store';
import type { BestCheckpoint } from './common';

export const TRAIN_STATE_FILE = 'train-state.safetensors';

export interface Resumable {
  /** For trainLm; undefined when the engine gives no checkpoint directory or checkpointMinutes is 0. */
  checkpoint?: TrainCheckpointing;
  /** The state this run continues from, if any. */
  resumed?: TrainState;
  /** Training seconds of every earlier session of this action plus this one so far. */
  trainSeconds(): number;
}

/**
 * Loads the saved state of this action if there is one, and returns trainLm's checkpointing. `identity`
 * describes the training (e.g. sequence count, steps): a saved state with another identity (made by
 * another dpkd version of the node) is set aside with a log line, never resumed from. `extra` adds the
 * node's own state (e.g. its validation history) to each save; it gets it back in `resumed.extra`.
 */
export async function resumableTraining(
  ctx: NodeContext,
  options: {
    minutes: number;
    identity: Record<string, unknown>;
    extra?: () => { extra?: Record<string, unknown>; arrays?: Map<string, NamedArray> };
  },
): Promise<Resumable> {
  const started = Date.now();
  const dir = ctx.checkpointDir;
  if (!dir || !(options.minutes > 0)) return { trainSeconds: () => (Date.now() - started) / 1000 };
  const file = join(dir, TRAIN_STATE_FILE);
  const identity = JSON.stringify(options.identity);
  let resumed: TrainState | undefined;
  const bytes = await readFile(file).catch(() => undefined);
  if (bytes) {
    try {
      const state = decodeTrainState(new Uint8Array(bytes));
      if (state.extra.identity === identity) resumed = state;
      else ctx.log(`# a saved training state in ${dir} is for another training (${String(state.extra.identity)}); starting afresh`);
    } catch (error) {
      ctx.log(`# the saved training state ${file} is unreadable (${(error as Error).message}); starting afresh`);
    }
  }
  const before = typeof resumed?.extra.trainSeconds === 'number' ? resumed.extra.trainSeconds : 0;
  const trainSeconds = () => before + (Date.now() - started) / 1000;
  if (resumed) ctx.log(`# resuming from step ${resumed.step} of ${resumed.total} (${trainSeconds().toFixed(0)} s trained before)`);
  const checkpoint: TrainCheckpointing = {
    resume: resumed,
    everyMs: options.minutes * 60_000,
    extra: () => {
      const own = options.extra?.() ?? {};
      return { extra: { ...own.extra, identity, trainSeconds: trainSeconds() }, arrays: own.arrays };
    },
    save: async (state) => {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(file, encodeTrainState(state));
      ctx.log(`# saved the training state at step ${state.step} of ${state.total}`);
    },
  };
  return { checkpoint, resumed, trainSeconds };
}

/** A duration for progress lines: 42s, 3m05s, 2h10m. */
export const duration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

const count = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

/**
 * Progress of a training loop: every few steps (at most ~50 reports a run, and the last) a progress event
 * and a log line with tokens seen, tokens/s of this session, ETA, and the latest validation perplexity.
 */
export function trainingProgress(
  ctx: NodeContext,
  o: { tokensPerStep: number; startStep: number; validation?: () => number | undefined; every?: number },
) {
  const started = Date.now();
  return {
    shouldStop: () => ctx.signal.aborted,
    onStep: (r: StepReport) => {
      const interval = Math.max(o.every ?? 5, Math.ceil(r.total / 50));
      if (r.step % interval !== 0 && r.step !== r.total) return;
      const seconds = (Date.now() - started) / 1000;
      const rate = ((r.step - o.startStep) * o.tokensPerStep) / Math.max(seconds, 1e-3);
      const ppl = o.validation?.();
      const message =
        `${count(r.step * o.tokensPerStep)} tokens, ${Math.round(rate)} tok/s, ETA ${duration(((r.total - r.step) * o.tokensPerStep) / rate)}` +
        (ppl !== undefined ? `, val ppl ${ppl.toFixed(2)}` : '');
      ctx.progress({ step: r.step, total: r.total, loss: r.loss, message });
      ctx.log(`step ${r.step}/${r.total} loss ${r.loss.toFixed(4)} ${message}`);
    },
  };
}

/**
 * The training run FineTune and Distill share: trainLm resumable from this action's saved state (which
 * carries the best checkpoint so far), progress, checkpoint selection by `selectionLoss` at the `selectAt`
 * steps, and a clear error when interrupted (the state is saved, a rerun resumes). The best checkpoint is
 * restored into the model before returning.
 */
export async function trainWithSelection(
  ctx: NodeContext,
  o: {
    node: string;
    minutes: number;
    best: BestCheckpoint;
    selectAt: Set<number>;
    selectionLoss: () => number;
    tokensPerStep: number;
    train: Omit<TrainOptions, 'seed' | 'checkpoint' | 'shouldStop' | 'onStep' | 'threads'>;
  },
): Promise<{ steps: number; losses: number[] }> {
  const total = o.train.steps;
  const resumable = await resumableTraining(ctx, {
    minutes: o.minutes,
    identity: { node: o.node, key: ctx.key, sequences: o.train.sequences.length, total },
    extra: () => o.best.snapshot(),
  });
  if (resumable.resumed) o.best.resumeFrom(resumable.resumed.extra, resumable.resumed.arrays);
  const progress = trainingProgress(ctx, { tokensPerStep: o.tokensPerStep, startStep: resumable.resumed?.step ?? 0 });
  // Data-parallel over the cores the scheduler gave the run; the saved state is the leader's (replicas are copies).
  const { steps, losses } = await trainLm({
    ...o.train,
    seed: ctx.seed,
    checkpoint: resumable.checkpoint,
    shouldStop: progress.shouldStop,
    threads: ctx.threads ?? 1,
    onStep: (r) => {
      if (o.selectAt.has(r.step)) o.best.offer(r.step, o.selectionLoss());
      progress.onStep(r);
    },
  });
  if (ctx.signal.aborted)
    throw new Error(`${o.node} node ${ctx.id} was interrupted at step ${steps} of ${total}; its state is saved, a rerun resumes it`);
  o.best.restore();
  return { steps, losses };
}
