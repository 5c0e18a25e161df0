// PublicModel: a pinned public pretrained checkpoint committed under models/<name>/ (model.safetensors +
// card.json, written by `dpkd zoo export`). It has no input and costs no privacy, which is only true if
// the checkpoint saw nothing private: its safetensors metadata (covered by the pinned sha256) records the
// data it was trained on and the DP mechanisms of its lineage, and loading refuses anything but public
// corpora and an empty lineage. The card repeats those facts for people, with the numbers of the run.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeCorpus, isCorpusName, workspaceRoot } from '@dpkd/data';
import { CHECKPOINT_FORMAT, decodeSafetensors, encodeSafetensors, type ModelConfig, parameterCount, type StorageDtype } from '@dpkd/lm';
import type { PublicModelParams, PublicModelPorts } from '@dpkd/schema';
import { sha256Hex } from '@dpkd/store';
import { type ModelMeta, NodeInputError, tokenizer, tokenizerInfo } from './common';
import { defineNode } from './define-node';

export const MODEL_FILE = 'model.safetensors';
export const CARD_FILE = 'card.json';

/** One dataset a published model was trained on (from the Dataset manifests of its lineage). */
export interface TrainingData {
  corpus: string;
  private: boolean;
  /** Action key of the Dataset node. */
  datasetKey: string;
  sizes?: { train: number; validation: number; test: number };
}

/** What `dpkd zoo export` writes next to the checkpoint (card.json). */
export interface ModelCard {
  cardFormat: 1;
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  dtype: StorageDtype;
  architecture: ModelConfig;
  parameters: number;
  tokenizer: { name: string; fingerprint: string };
  data: TrainingData[];
  /** DP mechanisms in the model's lineage, by privacy unit: always empty for a public model. */
  lineage: Record<string, unknown>;
  /** Every token the weights saw: this training's and, with `initializedFrom`, the earlier model's. */
  tokensSeen: number;
  /** Optimiser steps of the training that made this model (not counting `initializedFrom`'s). */
  steps: number;
  /**
   * The model this one continued from (a Pretrain with an `init` input): a published one by `name` and its
   * pinned `sha256`, or the action `actionKey` of the store it was exported from. `node` names the node type
   * when it was neither a PublicModel nor a Pretrain (its tokens are then not counted).
   */
  initializedFrom?: {
    actionKey: string;
    name?: string;
    sha256?: string;
    node?: string;
    steps: number;
    tokensSeen: number;
    validationPerplexity?: number;
  };
  /**
   * Set when the model was exported from the saved state of a training still in progress (`--checkpoint`):
   * the weights after `step` of the `of` steps the node is set to run (the schedule had not finished).
   */
  partial?: { step: number; of: number; note: string };
  validationPerplexity?: number;
  validationWindows?: number;
  validationHistory?: Array<{ step: number; tokens: number; perplexity: number }>;
  madeBy: {
    graph: string;
    graphName: string;
    node: string;
    actionKey: string;
    params: Record<string, unknown>;
    command: string;
    dpkdVersion?: string;
  };
  wallTime: { trainSeconds?: number; lastSessionSeconds?: number; startedAt?: string };
  machine: { host?: string; cpu?: string; cores?: number; backend?: string; node?: string };
  exportedAt: string;
}

/** The safetensors metadata keys that make the lineage claim part of the pinned bytes. */
export const LINEAGE_METADATA = 'dpkdLineage';
export const DATA_METADATA = 'dpkdTrainingData';

/** Why a model with this training data and lineage is not public-only (empty when it is). */
export function publicLineageProblems(data: TrainingData[], lineage: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const unit of Object.keys(lineage)) problems.push(`its lineage has DP or non-private mechanisms on the private unit '${unit}'`);
  if (data.length === 0) problems.push('it records no training data');
  for (const d of data) {
    if (d.private) problems.push(`it was trained on the private dataset of '${d.corpus}'`);
    else if (!isCorpusName(d.corpus)) problems.push(`it was trained on '${d.corpus}', which is not a corpus dpkd knows to be public`);
    else if (describeCorpus(d.corpus).privateByDefault)
      problems.push(`it was trained on '${d.corpus}', a corpus of private records (private by default)`);
  }
  return problems;
}

/** Where published models live: $DPKD_MODELS, else models/ at the npm workspace root (from the cwd, else from this module). */
export function modelsDir(override?: string): string {
  if (override) return resolve(override);
  if (process.env.DPKD_MODELS) return resolve(process.env.DPKD_MODELS);
  return join(workspaceRoot() ?? process.cwd(), 'models');
}

export const PublicModelNode = defineNode<PublicModelParams, PublicModelPorts>({
  type: 'PublicModel',
  privacy: () => [],
  async run(ctx) {
    const p = ctx.params;
    const fail = (why: string) => new NodeInputError(`PublicModel node ${ctx.id} (${p.name}): ${why}`);
    const dir = join(modelsDir(), p.name);
    const cardPath = join(dir, CARD_FILE);
    const modelPath = join(dir, MODEL_FILE);
    if (!existsSync(cardPath) || !existsSync(modelPath)) {
      throw fail(
        `no ${CARD_FILE} and ${MODEL_FILE} in ${dir}: export one with \`dpkd zoo export <graph> <node> ${p.name}\` (or set DPKD_MODELS)`,
      );
    }
    let card: ModelCard;
    try {
      card = JSON.parse(readFileSync(cardPath, 'utf8')) as ModelCard;
    } catch (error) {
      throw fail(`${cardPath} is not JSON (${(error as Error).message})`);
    }
    const bytes = new Uint8Array(readFileSync(modelPath));
    const actual = sha256Hex(bytes);
    if (card.sha256 !== p.sha256) {
      throw fail(
        `the graph pins sha256 ${p.sha256} but ${cardPath} records ${card.sha256}: pin the card's digest (params.sha256) if this is the model you mean`,
      );
    }
    if (actual !== p.sha256) {
      throw fail(
        `${modelPath} has sha256 ${actual}, but the pinned digest (graph and card) is ${p.sha256}: the file was changed or damaged; restore it (git checkout ${modelPath}) or export it again`,
      );
    }
    const { tensors, metadata, dtypes } = decodeSafetensors(bytes);
    let lineage: Record<string, unknown>;
    let data: TrainingData[];
    try {
      lineage = JSON.parse(metadata[LINEAGE_METADATA] ?? 'null') as Record<string, unknown>;
      data = JSON.parse(metadata[DATA_METADATA] ?? 'null') as TrainingData[];
    } catch {
      throw fail(`${modelPath} has unreadable provenance metadata`);
    }
    if (!lineage || !Array.isArray(data))
      throw fail(
        `${modelPath} records no provenance (${LINEAGE_METADATA}, ${DATA_METADATA}): only \`dpkd zoo export\` checkpoints can be loaded`,
      );
    const problems = publicLineageProblems(data, lineage);
    if (problems.length > 0) throw fail(`not a public-only model: ${problems.join('; ')}`);
    const config = JSON.parse(metadata.config ?? 'null') as ModelConfig | null;
    if (!config) throw fail(`${modelPath} has no model config`);
    const expected = tokenizerInfo();
    if (metadata.tokenizerFingerprint !== expected.fingerprint || config.vocab !== tokenizer().vocabSize) {
      throw fail(
        `it was trained with another tokenizer (${metadata.tokenizerName ?? 'unknown'}, ${String(metadata.tokenizerFingerprint).slice(0, 12)}); dpkd uses ${expected.name} (${expected.fingerprint.slice(0, 12)})`,
      );
    }
    const params = parameterCount(config);
    if (card.parameters !== params) throw fail(`the card says ${card.parameters} parameters, the checkpoint has ${params}`);

    // Downstream nodes get a float32 checkpoint (the format every Model artifact has), same metadata.
    const file = join(ctx.scratchDir, MODEL_FILE);
    await writeFile(file, encodeSafetensors(tensors, { ...metadata, format: CHECKPOINT_FORMAT }, 'F32'));
    const meta: ModelMeta & { publicModel: { name: string; sha256: string } } = {
      config,
      params,
      tokenizer: expected,
      publicModel: { name: p.name, sha256: actual },
    };
    ctx.log(
      `loaded ${p.name}: ${params} parameters, stored as ${[...dtypes].join('+')}, trained on ${data.map((d) => d.corpus).join(', ')}`,
    );
    return {
      outputs: { model: { file, meta } },
      metrics: {
        params,
        storedAs: [...dtypes],
        steps: card.steps,
        tokensSeen: card.tokensSeen,
        validationPerplexity: card.validationPerplexity,
        data: data.map((d) => d.corpus),
      },
      provenance: { publicModel: p.name, sha256: actual, card: card.madeBy },
    };
  },
});
