import { Data } from 'effect';

/** A node's run threw, or its worker exited non-zero. `logPath` is where its output went. */
export class NodeFailed extends Data.TaggedError('NodeFailed')<{
  nodeId: string;
  key: string;
  message: string;
  logPath: string;
  attempt: number;
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
}> {}

/** No implementation is registered for a node type (libs/nodes not wired, or a typo the schema let through). */
export class UnknownNodeType extends Data.TaggedError('UnknownNodeType')<{ nodeId: string; type: string }> {
  override get message(): string {
    return `no implementation is registered for node type ${this.type} (node ${this.nodeId}); is libs/nodes wired into the CLI?`;
  }
}

/** The plan-time privacy cost exceeds a budget, or a non-private use touches a budgeted dataset. Nothing ran. */
export class BudgetExceeded extends Data.TaggedError('BudgetExceeded')<{
  violations: Array<{ unit: string; epsilon: number; budget: number; delta: number; nonPrivateNodes: string[] }>;
}> {
  override get message(): string {
    return this.violations
      .map((v) =>
        v.nonPrivateNodes.length > 0
          ? `${v.unit}: non-private use by ${v.nonPrivateNodes.join(', ')} (budget ε=${v.budget})`
          : `${v.unit}: ε=${formatEps(v.epsilon)} > budget ${v.budget} at δ=${v.delta.toExponential(2)}`,
      )
      .join('; ');
  }
}

/** The store could not be read or written (disk full, permissions, a corrupt manifest). */
export class StoreFailure extends Data.TaggedError('StoreFailure')<{ operation: string; message: string }> {}

/** Plan-time work (describeDataset, privacy()) threw. */
export class PlanFailure extends Data.TaggedError('PlanFailure')<{ nodeId: string; message: string }> {}

export type NodeError = NodeFailed | NodeTimedOut | UnknownNodeType;

export const formatEps = (e: number): string => (Number.isFinite(e) ? (e < 0.01 ? e.toExponential(2) : e.toFixed(3)) : '∞');

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
