export { initBackend, loadedBackendPackage, tf } from './backend';
export { MODEL_PRESETS, presetConfig, parameterCount, parameterShapes, validateConfig } from './config';
export type { ModelConfig, PresetName } from './config';
export { createModel, modelFromTensors, forward, createKvCache, disposeKvCache } from './model';
export type { LanguageModel, KvCache, ForwardOptions, ForwardResult } from './model';
export { createTape, disposeTape } from './ops';
export type { Tape } from './ops';
export { createRng, restoreRng, shuffledIndices } from './rng';
export type { Rng, RngState, SeededRng } from './rng';
export { weightedNll, nextTokenTargets, crossEntropy, klDivergence, hiddenAlignment, createProjection } from './losses';
export type { CeReduction, KlOptions, HiddenAlignmentOptions } from './losses';
export { AdamW, applyGradient, learningRate, clipByGlobalNorm } from './optim';
export type { AdamWOptions, AdamWState, Schedule } from './optim';
export { gradientStep, trainLm, padSequences, chunk, ceLoss, encodeTrainState, decodeTrainState } from './train';
export type { Batch, LossFn, StepReport, TrainCheckpointing, TrainOptions, TrainState } from './train';
export { naiveClippedSum, vectorisedClippedSum, clippedSum, dpGradient, dpStep, dpTrainLm, dpRandomness, poissonSample } from './dp';
export { cryptoSource, gaussianNoise, roundedGaussian, secureNormal, seededSource, uniform53 } from './noise';
export type { NoiseSource, RandomSource } from './noise';
export type { ClippedSum, ClipMethod, DpLoopOptions, DpStepOptions, DpTrainOptions, DpTrainResult, ExampleLoss } from './dp';
export { distillLm, distillLoss } from './distill';
export type { DistillOptions, KdObjective } from './distill';
export { generate, generateText, generateTextOnPool, rowRng, sampleToken } from './generate';
export type { GenerateOptions, TextCodec } from './generate';
export { perplexity, perplexityOnPool, streamPerplexity, rowNll } from './perplexity';
export type { PerplexityResult } from './perplexity';
export {
  encodeCheckpoint,
  decodeCheckpoint,
  saveCheckpoint,
  loadCheckpoint,
  CHECKPOINT_FORMAT,
  encodeSafetensors,
  decodeSafetensors,
  modelArrays,
  toHalf,
  fromHalf,
} from './checkpoint';
export type { NamedArray, StorageDtype } from './checkpoint';
export { softTargetKl } from './losses';
export type { SoftTargets } from './losses';
export { precomputedDistillLoss, dpDistillLm } from './distill';
export type { PrecomputedTargets, PrecomputedDistillOptions, DpDistillObjective, DpDistillOptions } from './distill';
export { ReplicaPool, dpDistillLmParallel, dpTrainLmParallel, hiddenBatch, softLabelBatch, splitEvenly } from './parallel';
export { drawNoise, noisyMean } from './dp';
export type { ParallelDpDistillOptions, ParallelDpTrainOptions, ReplicaPoolOptions, ShardLossSpec, ShardTargets } from './parallel';
