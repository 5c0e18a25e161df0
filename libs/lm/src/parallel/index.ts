export { ReplicaPool } from './pool';
export type { ReplicaPoolOptions } from './pool';
export { dpDistillLmParallel, dpTrainLmParallel } from './dp-train';
export type { ParallelDpDistillOptions, ParallelDpTrainOptions } from './dp-train';
export { splitEvenly } from './shard';
export { hiddenBatch, softLabelBatch } from './teacher-outputs';
export type { ShardLossSpec, ShardTargets } from './protocol';
