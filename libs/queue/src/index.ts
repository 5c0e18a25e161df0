// @dpkd/queue: the engine's actions on BullMQ and Redis (docs/operations.md).
export { InvalidQueueUrl, parseQueueUrl, type QueueConnection } from './connection';
export { openQueueExecutor, QueueUnavailable, type QueueExecutor, type QueueExecutorOptions } from './executor';
export { startQueueWorker, type QueueWorkerOptions, type RunningWorker } from './worker';
export { jobIdFor, queueNameFor, type ActionJobData } from './jobs';
