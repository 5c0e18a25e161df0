// The node contract: what a node type implements so the engine can plan and run it.
// Plain types (no Effect): node implementations live in libs/nodes and must not depend on engine internals.
import type { DpEvent } from '@dpkd/privacy';

/** Who a Dataset's records are about. */
export interface DatasetDescription {
  /** The privacy unit = the corpus name (e.g. "imdb"): every Dataset over one corpus shares one ledger account. */
  unit: string;
  private: boolean;
  /** Number of training examples (the train split: q = batchSize / n). */
  n: number;
  /** Documents in the whole corpus, every split (the N of the unit's default δ = 1/(10·N)). */
  corpusSize: number;
  /**
   * The privacy unit's δ (the budget's, else 1/(10·N)): every DP node of the unit calibrates σ at it.
   * The Dataset node states it; the plan checks it (δ < 1/N, one δ per unit).
   */
  delta?: number;
  /**
   * Audit canaries in this Dataset (its `canaries.count` param): fabricated records, each in the train split
   * with probability 1/2 and counted in n when included; their inclusion bits go to its `canaries` output.
   */
  canaries?: number;
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
  /** e.g. "noisy control-code histogram". */
  note?: string;
  /**
   * Where this use departs from the proof (e.g. "shuffled batches accounted as Poisson", seeded noise).
   * A claim without an event on private data is a gap by itself (its note says what it is).
   */
  gaps?: string[];
}

/** What the engine knows about an input at plan time. */
export interface InputInfo {
  kind: string;
  /** For Dataset inputs. */
  dataset?: DatasetDescription;
}

export interface NodeImplementation {
  type: string;
  /**
   * Digests of the content this node reads from outside the store, from its params alone (a Dataset: the
   * pinned content digest of its corpus). They enter the action key (KeyEnvironment.forNode), so a change
   * of that content changes the key of this node and of everything downstream. The node must check at
   * run time that what it read has these digests.
   */
  externalContent?(params: Record<string, unknown>): Record<string, string>;
  /** Dataset nodes: who the data are about; computed cheaply at plan time. */
  describeDataset?(params: Record<string, unknown>): Promise<DatasetDescription>;
  /**
   * Plan-time privacy signature: what this node does to private data, given its params and inputs. A node
   * that reads a private Dataset input and has no privacy() is non-private: NonPrivate on that dataset.
   */
  privacy?(params: Record<string, unknown>, inputs: Record<string, InputInfo>): PrivacyClaim[];
  /** The node spreads its work over `ctx.threads` data-parallel replicas: the scheduler gives it the free cores. */
  parallel?: boolean;
  run(ctx: NodeRunContext): Promise<NodeRunResult>;
}

/** One distinct DP mechanism in an artifact's ancestry, keyed by the action that executed it. */
export interface LineageEvent {
  key: string;
  node: string;
  /** A mechanism, or NoOp for an entry that only records gaps (e.g. evaluation on the private test split). */
  event: DpEvent;
  /** The dataset's n (train split) when the mechanism ran. */
  n: number;
  /** The unit's δ when it ran: ε of a lineage is stated at it (@dpkd/privacy composeUnit). */
  delta: number;
  /** Where practice departs from the proof for this action (shuffled batches, seeded noise, held-out uses). */
  gaps?: string[];
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
  /**
   * Where a long-running node keeps its resumable state (`<store>/checkpoints/<action key>/`): it survives
   * failures and interruptions of the action and is removed once the action's result is committed.
   */
  checkpointDir?: string;
  /**
   * Cores the scheduler gave this run (the node's resources.cpus, else the free ones; 1 when absent): the
   * data-parallel replicas it may use. Never part of the key: results equal within float tolerance.
   */
  threads?: number;
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

/**
 * A node's own check of its params or inputs failed (at plan or run time): the graph, not dpkd, must
 * change, so the CLI prints the message with the node's JSON pointer and exits 2, never a stack trace.
 * `param` names the offending field of the node's params (e.g. "batchSize"), when there is one.
 */
export class NodeInputError extends Error {
  override name = 'NodeInputError';
  constructor(
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

/** A NodeInputError (or another error the user fixes, e.g. a missing corpus) attributed to a node of the graph. */
export class InvalidNodeInput extends Error {
  override name = 'InvalidNodeInput';
  /** JSON pointer into the graph file: `/nodes/<id>/params/<param>`, or `/nodes/<id>` without a param. */
  readonly pointer: string;
  constructor(
    readonly node: { id: string; baseId: string; type: string },
    readonly reason: string,
    param?: string,
  ) {
    const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
    const pointer = `/nodes/${escape(node.baseId)}${param ? `/params/${escape(param)}` : ''}`;
    // Many nodes already name themselves in their message; say it once.
    const named = `${node.type} node ${node.id}: `;
    super(`${pointer}: ${named}${reason.startsWith(named) ? reason.slice(named.length) : reason}`);
    this.pointer = pointer;
  }
}

/**
 * Runs a node's plan-time hook (describeDataset, privacy) and attributes its NodeInputError to the node,
 * so `plan` and `run` can name the node and its JSON pointer. Other errors pass through unchanged.
 */
export function atNode<T>(node: { id: string; baseId: string; type: string }, hook: () => T): T {
  const attribute = (error: unknown): never => {
    if (error instanceof NodeInputError) throw new InvalidNodeInput(node, error.message, error.param);
    throw error;
  };
  try {
    const result = hook();
    return (result instanceof Promise ? result.catch(attribute) : result) as T;
  } catch (error) {
    return attribute(error);
  }
}
