// The node contract: what a node type implements so the engine can plan and run it.
// Plain types (no Effect): node implementations live in libs/nodes and must not depend on engine internals.
import type { DpEvent } from '@dpkd/privacy';

/** Who a Dataset's records are about. */
export interface DatasetDescription {
  /** The privacy unit = the corpus name (e.g. "imdb"): every Dataset over one corpus shares one ledger account. */
  unit: string;
  private: boolean;
  /** Number of training examples (the n of "delta = 1/n"). */
  n: number;
}

/** What a node does to one private dataset. */
export interface PrivacyClaim {
  dataset: DatasetDescription;
  split: 'train' | 'validation' | 'test';
  /**
   * On train: the mechanism. Absent on held-out splits: a recorded non-DP use (selection, evaluation),
   * reported as a gap, never silently ignored.
   */
  event?: DpEvent;
  /** e.g. "shuffled batches accounted as Poisson". */
  note?: string;
}

/** What the engine knows about an input at plan time. */
export interface InputInfo {
  kind: string;
  /** For Dataset inputs. */
  dataset?: DatasetDescription;
}

export interface NodeImplementation {
  type: string;
  /** Dataset nodes: who the data are about; computed cheaply at plan time. */
  describeDataset?(params: Record<string, unknown>): Promise<DatasetDescription>;
  /**
   * Plan-time privacy signature: what this node does to private data, given its params and inputs. A node
   * that reads a private Dataset input and has no privacy() is non-private: NonPrivate on that dataset.
   */
  privacy?(params: Record<string, unknown>, inputs: Record<string, InputInfo>): PrivacyClaim[];
  run(ctx: NodeRunContext): Promise<NodeRunResult>;
}

/** One distinct DP mechanism in an artifact's ancestry, keyed by the action that executed it. */
export interface LineageEvent {
  key: string;
  node: string;
  event: DpEvent;
  /** The dataset's n when the mechanism ran (the n of "delta = 1/n"). */
  n: number;
}

/** unit -> (action key -> event): the distinct mechanisms in an artifact's ancestry. */
export type Lineage = Record<string, Record<string, LineageEvent>>;

export interface NodeProgress {
  step: number;
  total: number;
  loss?: number;
  epsilon?: number;
  message?: string;
}

export interface NodeRunContext {
  id: string;
  key: string;
  type: string;
  params: Record<string, unknown>;
  seed: number;
  /**
   * `path` is a read-only object file in the store; `lineage` lists the DP mechanisms in the input's
   * ancestry (a Report turns it into the ε of each row with the accountant).
   */
  inputs: Record<string, { kind: string; path: string; meta: unknown; lineage: Lineage }>;
  scratchDir: string;
  signal: AbortSignal;
  progress(p: NodeProgress): void;
  /** Goes to the node's log file. */
  log(line: string): void;
}

export interface NodeRunResult {
  /** `file` lives in scratchDir; the engine moves it into the store. */
  outputs: Record<string, { file: string; meta?: unknown }>;
  metrics?: Record<string, unknown>;
  /**
   * What was actually executed (e.g. the steps actually taken), if it differs from the plan-time claim;
   * the ledger records this.
   */
  privacy?: PrivacyClaim[];
  /** e.g. backend. */
  provenance?: Record<string, unknown>;
}
