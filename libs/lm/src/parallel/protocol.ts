// Messages between the leader (the thread that owns the data order, the DP noise and the authoritative
// optimiser) and its replica workers. Everything crosses as plain arrays and Float32Arrays; gradient arrays
// are transferred (their buffers move) rather than cloned.
import type { ModelConfig } from '../config';
import type { DpDistillObjective } from '../distill';
import type { ClipMethod } from '../dp';
import type { GenerateOptions } from '../generate';
import type { AdamWOptions, AdamWState } from '../optim';

/**
 * The protocol's version, which a worker names in its 'ready' reply: bump it when a message changes meaning
 * (a field an older worker would ignore: 2 added the live-kd loss and generate's row offsets), so that the
 * leader refuses a stale bundled worker (dist/lm-worker.js) instead of letting it compute something else.
 */
export const PROTOCOL = 2;

/** Parameters by name, as flat float32 arrays (shapes are known to both sides from the config). */
export type ArrayMap = Record<string, Float32Array>;

/** A trainable variable outside the model (e.g. a distillation projection), sent with its shape. */
export interface ExtraArray {
  data: Float32Array;
  shape: number[];
}

/** A loss that a worker can rebuild from plain data (a closure cannot cross a thread). */
export type ShardLossSpec =
  | { kind: 'ce'; pad: number }
  | {
      /** The KD objective against precomputed teacher outputs (precomputedDistillLoss); targets come with each shard. */
      kind: 'precomputed-kd';
      pad: number;
      lambda: number;
      temperature?: number;
      alpha?: number;
      klReduction?: 'token-mean' | 'batch-sum';
      skipPositions?: number;
      maskPad?: boolean;
      hidden?: { studentLayers: number[]; loss?: 'mse' | 'cosine' };
      /** Names of the extra trainables that are the width projections, in hidden-pair order. */
      projections: string[];
    }
  | ({
      /**
       * DP-SGD's per-example KD loss through a live teacher (the DPKD student, dpDistillExampleLoss): each
       * replica clips its examples against its own frozen teacher replica. Only clippedSum takes it.
       */
      kind: 'live-kd';
    } & DpDistillObjective);

/** A model sent once at init and never updated (the live-kd teacher). */
export interface FrozenModel {
  config: ModelConfig;
  params: ArrayMap;
}

/** Precomputed teacher outputs for one shard (rows in the shard's order). */
export interface ShardTargets {
  soft?: { topK: number; vocab: number; probs: Float32Array; ids?: Uint16Array | Int32Array; tail?: Float32Array };
  hidden?: Float32Array[];
}

/** One shard of one micro-batch and the micro-batch's own normalisers, so shard losses sum to the micro-batch loss. */
export interface ShardWork {
  shard: number[][];
  /** Size of the whole micro-batch. */
  batch: number;
  /** Counted CE targets in the whole micro-batch. */
  ceCount: number;
  /** Denominator of the KL term for the whole micro-batch (token-mean: counted positions; batch-sum: batch size). */
  klDenominator?: number;
  targets?: ShardTargets;
}

/**
 * An optimiser step every replica applies itself (so that only gradients cross threads): the reduced gradient
 * is the sum of `parts` in this order (null: the replica's own part, kept from its last 'grad' reply), then
 * global-norm clipping when clipNorm is finite, then AdamW at `lr`. The leader applies the same sum of the same
 * values with the same ops, so the replicas stay bitwise identical to it.
 */
export interface Update {
  parts: Array<ArrayMap | null>;
  lr: number;
  clipNorm?: number;
}

export type ToWorker =
  | {
      type: 'init';
      backend: string;
      config: ModelConfig;
      params: ArrayMap;
      extra: Record<string, ExtraArray>;
      loss: ShardLossSpec;
      teacher?: FrozenModel;
    }
  /** A replica of the leader's AdamW (its options without a `decays` function, which cannot cross a thread, and its state). */
  | { type: 'optimizer'; id: number; options: Omit<AdamWOptions, 'decays'>; state: AdamWState }
  /** No reply: applied before the next request (an error surfaces there). */
  | { type: 'apply'; update: Update }
  | { type: 'grad'; id: number; params?: ArrayMap; work: ShardWork[]; scale: number }
  | { type: 'clip'; id: number; params?: ArrayMap; shard: number[][]; clip: number; pad: number; physicalBatch: number; method: ClipMethod }
  | { type: 'nll'; id: number; params?: ArrayMap; batches: number[][][]; pad: number }
  | { type: 'windowNll'; id: number; params?: ArrayMap; batches: number[][][] }
  | { type: 'softLabels'; id: number; params?: ArrayMap; batches: number[][][]; k: number }
  | { type: 'hidden'; id: number; params?: ArrayMap; batches: number[][][]; layers: number[] }
  | { type: 'generate'; id: number; params?: ArrayMap; prompts: number[][]; options: GenerateOptions }
  /** The replica's current trainables (tests check that a replicated optimiser keeps them equal to the leader's). */
  | { type: 'params'; id: number };

export type FromWorker =
  | { type: 'ready'; protocol?: number }
  | { type: 'optimizer'; id: number }
  | { type: 'params'; id: number; params: ArrayMap }
  | { type: 'grad'; id: number; grads: ArrayMap; loss: number }
  | { type: 'clip'; id: number; grads: ArrayMap; norms: number[]; loss: number }
  | { type: 'nll'; id: number; losses: number[] }
  | { type: 'windowNll'; id: number; sums: number[][] }
  | { type: 'softLabels'; id: number; results: Array<{ values: Float32Array; indices?: Int32Array }> }
  | { type: 'hidden'; id: number; results: Float32Array[][] }
  | { type: 'generate'; id: number; continuations: number[][] }
  | { type: 'error'; id?: number; message: string };
