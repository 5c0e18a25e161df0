import type { NodeImplementation } from '@dpkd/graph';
import { AuditNode } from './audit';
import { DatasetNode } from './dataset';
import { DistillNode } from './distill';
import { DPFineTuneNode } from './dp-fine-tune';
import { EvaluateNode } from './evaluate';
import { FineTuneNode } from './fine-tune';
import { HiddenAlignNode } from './hidden-align';
import { PretrainNode } from './pretrain';
import { PublicModelNode } from './public-model';
import { ReportNode } from './report';
import { SampleNode } from './sample';
import { SoftLabelNode } from './soft-label';

/** Every node type dpkd can run, one module each. */
export const nodeImplementations: NodeImplementation[] = [
  DatasetNode,
  PretrainNode,
  PublicModelNode,
  FineTuneNode,
  DPFineTuneNode,
  SampleNode,
  SoftLabelNode,
  HiddenAlignNode,
  DistillNode,
  EvaluateNode,
  ReportNode,
  AuditNode,
];

export {
  DatasetNode,
  DistillNode,
  DPFineTuneNode,
  EvaluateNode,
  FineTuneNode,
  HiddenAlignNode,
  PretrainNode,
  PublicModelNode,
  ReportNode,
  SampleNode,
  SoftLabelNode,
};
export {
  CARD_FILE,
  DATA_METADATA,
  LINEAGE_METADATA,
  MODEL_FILE,
  modelsDir,
  publicLineageProblems,
  type ModelCard,
  type TrainingData,
} from './public-model';
export { resumableTraining, trainingProgress, TRAIN_STATE_FILE } from './resumable';
export { buildDataset, type DatasetMeta } from './dataset';
export { dpPlan, dpClaims, SELECTION_GAP, type DpPlan } from './dp-fine-tune';
export { apportion, histogramSource, noisyHistogram } from './sample';
export { holdoutIndices } from './distill';
export { reportColumns } from './report';
export { AuditNode, CANARY_GAP, canaryLosses } from './audit';
export {
  drawCanaries,
  includedCount,
  readCanariesFile,
  secretWords,
  CANARIES_FORMAT,
  type Canary,
  type CanariesFile,
  type CanariesMeta,
} from './canaries';
export {
  bytesPerToken,
  readSoftLabels,
  writeSoftLabels,
  softTargetsOf,
  SOFT_LABELS_FORMAT,
  type SoftLabels,
  type SoftLabelsMeta,
} from './soft-labels-file';
export { readHiddenStates, writeHiddenStates, HIDDEN_STATES_FORMAT, type HiddenStates, type HiddenStatesMeta } from './hidden-states-file';
export { readCorpusFile, writeCorpusFile, type CorpusRecord, type CorpusMeta } from './corpus-file';
export { modelConfigOf, pretrainValidationWindows, validationPerplexity, type ValidationPoint } from './pretrain';
export type { ModelMeta } from './common';
export { tokenizerInfo } from './common';
export type { EvaluationMetrics } from './evaluate';
