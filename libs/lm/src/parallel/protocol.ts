// Messages between the leader (the thread that owns the optimiser, the data order and the DP noise) and
// its replica workers. Everything crosses as plain arrays and Float32Arrays (structured clone).
import type { ModelConfig } from '../config';
import type { ClipMethod } from '../dp';
import type { GenerateOptions } from '../generate';

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
    };

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

export type ToWorker =
  | { type: 'init'; backend: string; config: ModelConfig; params: ArrayMap; extra: Record<string, ExtraArray>; loss: ShardLossSpec }
  | { type: 'grad'; id: number; params?: ArrayMap; work: ShardWork[]; scale: number }
  | { type: 'clip'; id: number; params?: ArrayMap; shard: number[][]; clip: number; pad: number; physicalBatch: number; method: ClipMethod }
  | { type: 'nll'; id: number; params?: ArrayMap; batches: number[][][]; pad: number }
  | { type: 'windowNll'; id: number; params?: ArrayMap; batches: number[][][] }
  | { type: 'softLabels'; id: number; params?: ArrayMap; batches: number[][][]; k: number }
  | { type: 'hidden'; id: number; params?: ArrayMap; batches: number[][][]; layers: number[] }
  | { type: 'generate'; id: number; params?: ArrayMap; prompts: number[][]; options: Omit<GenerateOptions, 'rng'> };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'grad'; id: number; grads: ArrayMap; loss: number }
  | { type: 'clip'; id: number; grads: ArrayMap; norms: number[]; loss: number }
  | { type: 'nll'; id: number; losses: number[] }
  | { type: 'windowNll'; id: number; sums: number[][] }
  | { type: 'softLabels'; id: number; results: Array<{ values: Float32Array; indices?: Int32Array }> }
  | { type: 'hidden'; id: number; results: Float32Array[][] }
  | { type: 'generate'; id: number; continuations: number[][] }
  | { type: 'error'; id?: number; message: string };
