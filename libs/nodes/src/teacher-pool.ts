// SoftLabel and HiddenAlign run the teacher over a corpus batch by batch; on more than one thread the batches
// are dealt across a replica pool, a few per replica at a time (abort and progress between rounds). Each batch
// is computed exactly as on one thread, so the stored outputs do not depend on the thread count.
import { type LanguageModel, ReplicaPool } from '@dpkd/lm';
import { abortIfStopped, tokenizer } from './common';
import type { NodeContext } from './define-node';

export async function overTeacherBatches<R>(
  ctx: NodeContext,
  model: LanguageModel,
  batches: number[][][],
  compute: { alone: (batch: number[][]) => R; onPool: (pool: ReplicaPool, round: number[][][]) => Promise<R[]> },
  use: (result: R, index: number) => void,
): Promise<void> {
  const threads = ctx.threads ?? 1;
  const pool = threads > 1 ? await ReplicaPool.start({ threads, model, loss: { kind: 'ce', pad: tokenizer().pad } }) : undefined;
  try {
    const roundSize = pool ? threads * 4 : 1;
    for (let i = 0; i < batches.length; i += roundSize) {
      abortIfStopped(ctx);
      const round = batches.slice(i, i + roundSize);
      const results = pool ? await compute.onPool(pool, round) : round.map(compute.alone);
      results.forEach((r, j) => use(r, i + j));
      ctx.progress({ step: Math.min(i + roundSize, batches.length), total: batches.length });
    }
  } finally {
    await pool?.dispose();
  }
}
