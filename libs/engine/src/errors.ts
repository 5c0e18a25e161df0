import { Data } from 'effect';

/**
 * What the engine keeps of an error a node's run threw, the same in-process and across the worker boundary
 * (`dpkd exec` prints it as a JSON line): its message and, when it was the node's own input check
 * (InvalidNodeInput, from a NodeInputError), the JSON pointer of the offending node or param. Such a failure
 * is the graph's to fix: it is not retried and `dpkd run` exits 2 for it (see the README's exit codes).
 */
export interface FailureInfo {
  message: string;
  invalidInput?: { pointer: string };
}

/** The FailureInfo of a thrown value; recognised by name and fields, so it survives a process boundary. */
export function failureInfo(error: unknown): FailureInfo {
  const message = messageOf(error);
  const pointer = error instanceof Error && error.name === 'InvalidNodeInput' ? (error as { pointer?: unknown }).pointer : undefined;
  return typeof pointer === 'string' ? { message, invalidInput: { pointer } } : { message };
}

/** A node's run threw, or its worker exited non-zero. `logPath` is where its output went. */
export class NodeFailed extends Data.TaggedError('NodeFailed')<{
  nodeId: string;
  key: string;
  message: string;
  logPath: string;
  attempt: number;
  /** Set when the node's own input check failed (invalid input, exit 2), not the node itself. */
  invalidInput?: { pointer: string };
}> {}

/** A node ran past its `timeoutSeconds`. */
export class NodeTimedOut extends Data.TaggedError('NodeTimedOut')<{
  nodeId: string;
  key: string;
  seconds: number;
  logPath: string;
  attempt: number;
}> {
  override get message(): string {
    return `timed out after ${this.seconds} s (the node's timeoutSeconds in the graph)`;
  }
}

/** An action failed after all its attempts (or could not start: a missing upstream output). */
export class ActionFailed extends Data.TaggedError('ActionFailed')<{
  message: string;
  seconds: number;
  attempts: Array<{ attempt: number; seconds: number; error?: string }>;
  invalidInput?: { pointer: string };
}> {}

/** No implementation is registered for a node type (libs/nodes not wired, or a typo the schema let through). */
export class UnknownNodeType extends Data.TaggedError('UnknownNodeType')<{ nodeId: string; type: string }> {
  override get message(): string {
    return `no implementation is registered for node type ${this.type} (node ${this.nodeId}); is libs/nodes wired into the CLI?`;
  }
}

/**
 * The plan-time privacy cost exceeds a budget, a non-private use touches a budgeted dataset, or the graph
 * does something its budget refuses (seeded noise; any gap under privacy.strict). Nothing ran.
 */
export class BudgetExceeded extends Data.TaggedError('BudgetExceeded')<{
  violations: Array<{
    unit: string;
    epsilon: number;
    budget: number;
    delta: number;
    nonPrivateNodes: string[];
    refusals?: Array<{ reason: string; nodes: string[] }>;
  }>;
}> {
  override get message(): string {
    return this.violations
      .map((v) =>
        v.nonPrivateNodes.length > 0
          ? `${v.unit}: non-private use by ${v.nonPrivateNodes.join(', ')} (budget ε=${v.budget})`
          : v.epsilon > v.budget
            ? `${v.unit}: ε=${formatEps(v.epsilon)} > budget ${v.budget} at δ=${v.delta.toExponential(2)}`
            : `${v.unit}: ${(v.refusals ?? []).map((r) => `${r.reason} (nodes: ${r.nodes.join(', ')})`).join('; ')}`,
      )
      .join('; ');
  }
}

/** The graph's privacy declarations cannot be planned (mixed private/public, two budgets, δ ≥ 1/N): invalid input. */
export class PrivacyDeclarationInvalid extends Data.TaggedError('PrivacyDeclarationInvalid')<{
  errors: Array<{ pointer: string; message: string }>;
}> {
  override get message(): string {
    return this.errors.map((e) => `${e.pointer}: ${e.message}`).join('\n');
  }
}

/** The store could not be read or written (disk full, permissions, a corrupt manifest); see store-service.ts. */
export class StoreFailure extends Data.TaggedError('StoreFailure')<{ operation: string; message: string }> {}

/** Plan-time work (describeDataset, privacy()) threw. */
export class PlanFailure extends Data.TaggedError('PlanFailure')<{ nodeId: string; message: string }> {}

/**
 * An object an action, a report or an export needs is missing from the store or does not hash to its digest.
 * The manifest that produced it has been dropped, so the producing action runs again.
 */
export class ObjectUnavailable extends Data.TaggedError('ObjectUnavailable')<{
  /** Who needed it: `node.port` of the reader (an input), or `node` for a report. */
  reader: string;
  digest: string;
  path: string;
  problem: 'missing' | 'corrupt';
  actualDigest?: string;
  /** The producing action, when a manifest names it, and whether its manifest was dropped. */
  producer?: { node: string; key: string; port: string; dropped: boolean };
}> {
  override get message(): string {
    const what =
      this.problem === 'missing'
        ? 'is missing from the store'
        : this.actualDigest
          ? `is corrupt (its content hashes to ${this.actualDigest.slice(0, 12)}…)`
          : 'is corrupt (truncated or modified: its size is not the recorded one)';
    const from = this.producer
      ? ` (output ${this.producer.port} of node ${this.producer.node}, action ${this.producer.key.slice(0, 12)})`
      : '';
    const next = this.producer?.dropped
      ? `; its manifest was dropped, so the next \`dpkd run\` runs ${this.producer.node} again`
      : '; run `dpkd cache verify --repair`, then run the graph again';
    return `${this.reader}: object ${this.digest.slice(0, 12)}… ${this.path}${from} ${what}${next}`;
  }
}

/**
 * The privacy ledger failed its check (hash chain and head; every DP manifest charged). No DP action may
 * start: its charge could not be trusted or recorded.
 */
export class LedgerDamaged extends Data.TaggedError('LedgerDamaged')<{ ledger: string; reason: string }> {
  override get message(): string {
    return `the privacy ledger ${this.ledger} is damaged: ${this.reason}. No DP action was started. \`dpkd ledger verify\` shows the damage; \`dpkd ledger rebuild\` rebuilds the ledger from the DP manifests (the damaged file is kept).`;
  }
}

/** The charge of a DP action could not be written to the ledger: the action did not start (nothing trained, nothing cached). */
export class LedgerWriteFailed extends Data.TaggedError('LedgerWriteFailed')<{ nodeId: string; key: string; reason: string }> {
  override get message(): string {
    return `could not charge ${this.nodeId} to the privacy ledger (${this.reason}); the node did not start, nothing was cached`;
  }
}

/** A node returned a metric that is NaN or ±Infinity: its training diverged (or it computed garbage). Nothing was cached. */
export class NonFiniteResult extends Data.TaggedError('NonFiniteResult')<{ nodeId: string; type: string; pointer: string; value: string }> {
  override get message(): string {
    return `${this.nodeId} (${this.type}) produced a non-finite result (${this.pointer} = ${this.value}): the training diverged (a non-finite loss); lower the learning rate (params.lr) or check the inputs. Nothing was cached.`;
  }
}

export type NodeError = NodeFailed | NodeTimedOut | UnknownNodeType;

export const formatEps = (e: number): string => (Number.isFinite(e) ? (e < 0.01 ? e.toExponential(2) : e.toFixed(3)) : '∞');

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
