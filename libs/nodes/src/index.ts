import type { NodeImplementation } from '@dpkd/graph';
import { DatasetNode } from './dataset';
import { DistillNode } from './distill';
import { DPFineTuneNode } from './dp-fine-tune';
import { EvaluateNode } from './evaluate';
import { FineTuneNode } from './fine-tune';
import { HiddenAlignNode } from './hidden-align';
import { PretrainNode } from './pretrain';
import { ReportNode } from './report';
import { SampleNode } from './sample';
import { SoftLabelNode } from './soft-label';

/** Every node type dpkd can run, one module each. */
export const nodeImplementations: NodeImplementation[] = [
  DatasetNode, PretrainNode, FineTuneNode, DPFineTuneNode, SampleNode, SoftLabelNode, HiddenAlignNode, DistillNode, EvaluateNode, ReportNode,
];

export { DatasetNode, DistillNode, DPFineTuneNode, EvaluateNode, FineTuneNode, HiddenAlignNode, PretrainNode, ReportNode, SampleNode, SoftLabelNode };
export { buildDataset, type DatasetMeta } from './dataset';
export { dpPlan, dpClaims, SHUFFLE_NOTE, type DpPlan } from './dp-fine-tune';
export { apportion, noisyHistogram } from './sample';
export { holdoutIndices } from './distill';
export { lineagePrivacy, REPORT_COLUMNS, type PlainTable, type TableColumn } from './report';
export { bytesPerToken, readSoftLabels, writeSoftLabels, softTargetsOf, SOFT_LABELS_FORMAT, type SoftLabels, type SoftLabelsMeta } from './soft-labels-file';
export { readHiddenStates, writeHiddenStates, HIDDEN_STATES_FORMAT, type HiddenStates, type HiddenStatesMeta } from './hidden-states-file';
export { readCorpusFile, writeCorpusFile, type CorpusRecord, type CorpusMeta } from './corpus-file';
export { modelConfigOf } from './pretrain';
export type { ModelMeta } from './common';
export type { EvaluationMetrics } from './evaluate';
