// Audit: the one-run empirical privacy audit (Steinke, Nasr & Jagielski 2023; docs/audit.md). It scores every
// canary of a canary Dataset by the loss of its secret under the model, guesses membership from the scores,
// and turns the correct guesses into a lower bound on ε at the privacy unit's δ (@dpkd/privacy's oneRunAudit).
// The accountant's ε of the model's lineage is an upper bound; a lower bound above it is a bug in sampling,
// clipping, noise or accounting, and fails the node naming both numbers.
// Privacy: Audit reads the model (post-processing) and the canaries (fabricated records and their inclusion
// bits, never a real document). Its output reveals the canaries' membership, so its claim on the unit is a
// NoOp with that gap: visible in plan, ledger and every downstream row, and adding nothing to ε.
import type { PrivacyClaim } from '@dpkd/graph';
import { controlCodePrompt, formatWithControlCode } from '@dpkd/data';
import { forward, rowNll, tf, type LanguageModel } from '@dpkd/lm';
import { type AccountantName, composeUnit, exposure, oneRunAudit } from '@dpkd/privacy';
import type { AuditParams, AuditPorts } from '@dpkd/schema';
import { backend, inputOf, loadModelInput, NodeInputError, tokenizer, writeJsonOutput } from './common';
import { type Canary, readCanariesFile } from './canaries';
import { defineNode } from './define-node';

type Params = Required<Omit<AuditParams, 'seed'>>;

/** The gap an Audit records on its unit: its output states which canaries were trained on. */
export const CANARY_GAP = 'audit output: the inclusion bits and scores of the audit canaries (fabricated records, no real document)';

/** Token ids of each canary as the training node formatted it, and where its secret starts. */
function encodeCanaries(
  canaries: readonly Canary[],
  code: string,
  controlCodes: boolean,
  ctx: number,
): Array<{ ids: number[]; from: number }> {
  const tok = tokenizer();
  const prompt = controlCodes ? tok.encode(controlCodePrompt([code])) : [];
  return canaries.map((c) => {
    const ids = tok.encode(controlCodes ? formatWithControlCode([code], c.text) : c.text).slice(0, ctx);
    let from = 0; // the first secret token: after the longest prefix shared with the prompt's tokens
    while (from < prompt.length && ids[from] === prompt[from]) from++;
    return { ids, from: Math.max(1, from) };
  });
}

/** Mean NLL of each canary's secret tokens given everything before them. */
export function canaryLosses(model: LanguageModel, encoded: ReadonlyArray<{ ids: number[]; from: number }>, batchSize: number): number[] {
  const pad = tokenizer().pad;
  const losses: number[] = [];
  for (let start = 0; start < encoded.length; start += batchSize) {
    const group = encoded.slice(start, start + batchSize);
    const len = Math.max(...group.map((g) => g.ids.length));
    const rows = group.map((g) => [...g.ids, ...new Array<number>(len - g.ids.length).fill(pad)]);
    const targets = new Int32Array(group.length * len);
    rows.forEach((row, b) => row.forEach((_, t) => (targets[b * len + t] = t + 1 < len ? row[t + 1]! : 0)));
    const logits = tf.tidy(() => forward(model, tf.tensor2d(rows, [group.length, len], 'int32')).logits);
    const nll = rowNll(logits, targets);
    logits.dispose();
    group.forEach((g, b) => {
      let sum = 0;
      // Position t predicts token t + 1: the secret's tokens are from..ids.length-1.
      for (let t = g.from - 1; t + 1 < g.ids.length; t++) sum += nll[b * len + t]!;
      losses.push(sum / Math.max(1, g.ids.length - g.from));
    });
  }
  return losses;
}

// null for no values (metrics must be finite: the engine refuses NaN).
const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const median = (xs: readonly number[]) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Exposure of every included canary against the excluded ones (random secrets never trained on), and a baseline. */
function exposureStats(losses: readonly number[], canaries: readonly Canary[]) {
  const outLosses = losses.filter((_, i) => !canaries[i]!.included);
  const inExposure = losses.filter((_, i) => canaries[i]!.included).map((l) => exposure(l, outLosses));
  // Baseline: each excluded canary against the other excluded ones (about 1 bit on average without leakage).
  const outExposure = outLosses.map((l, i) =>
    exposure(
      l,
      outLosses.filter((_, j) => j !== i),
    ),
  );
  return {
    references: outLosses.length,
    maxMeasurable: Math.log2(outLosses.length + 1),
    included: { mean: mean(inExposure), median: median(inExposure), max: inExposure.length ? Math.max(...inExposure) : null },
    excluded: { mean: mean(outExposure), median: median(outExposure) },
  };
}

export const AuditNode = defineNode<Params, AuditPorts>({
  type: 'Audit',
  privacy(_p, inputs): PrivacyClaim[] {
    const dataset = inputs.canaries?.dataset;
    if (!dataset) return [];
    if (!dataset.canaries) {
      throw new NodeInputError(
        `the canaries input comes from a Dataset of ${dataset.unit} without canaries: ` +
          'set params.canaries (e.g. {"count": 400}) on that Dataset node',
      );
    }
    return [{ dataset, split: 'train', event: { type: 'NoOp' }, note: 'one-run audit: reads only the canaries', gaps: [CANARY_GAP] }];
  },
  async run(ctx) {
    const p = ctx.params;
    const backendName = await backend();
    const file = readCanariesFile(inputOf(ctx, 'canaries').path);
    const { canaries, unit, code } = file;
    if (canaries.length < 2)
      throw new NodeInputError(
        `Audit node ${ctx.id}: the canaries input holds ${canaries.length} canaries; set params.canaries.count on its Dataset node`,
      );
    const lineage = inputOf(ctx, 'model').lineage;
    // The claim under test: the accountant's (ε, δ) of every mechanism on this unit in the model's lineage.
    const claimed = composeUnit(Object.values(lineage[unit] ?? {}), p.accountant as AccountantName);
    const delta = claimed.mechanisms > 0 ? claimed.delta : file.delta;
    if (delta === undefined)
      throw new NodeInputError(`Audit node ${ctx.id}: the canaries of ${unit} state no δ (a public Dataset?); audit a private unit`);
    const { model } = await loadModelInput(ctx, 'model');
    let losses: number[];
    try {
      losses = canaryLosses(model, encodeCanaries(canaries, code, p.controlCodes, model.config.ctx), p.batchSize);
    } finally {
      model.dispose();
    }
    ctx.progress({ step: 1, total: 1 });
    const included = canaries.map((c) => c.included);
    // Higher score = more likely trained on: minus the loss.
    const audit = oneRunAudit(
      losses.map((l) => -l),
      included,
      { delta, significance: p.significance, fractions: p.fractions },
    );
    const inLosses = losses.filter((_, i) => included[i]);
    const outLosses = losses.filter((_, i) => !included[i]);
    const summary = {
      unit,
      canaries: canaries.length,
      included: inLosses.length,
      epsilonLowerBound: audit.epsilon,
      claimedEpsilon: claimed.nonPrivate ? 'Infinity' : claimed.epsilon,
      delta,
      confidence: 1 - audit.significance,
      guesses: audit.best.guesses,
      correct: audit.best.correct,
      rule: { guessIn: audit.best.guessIn, guessOut: audit.best.guessOut },
      perRuleSignificance: audit.perRuleSignificance,
      meanLossIncluded: mean(inLosses),
      meanLossExcluded: mean(outLosses),
      exposure: exposureStats(losses, canaries),
      claimGaps: claimed.gaps,
      mechanisms: claimed.mechanisms,
    };
    const percent = `${(100 * (1 - audit.significance)).toFixed(0)} %`;
    const evidence = `${audit.best.correct} of ${audit.best.guesses} guesses correct on ${canaries.length} canaries, δ = ${delta.toExponential(2)}`;
    ctx.log(`audit of ${unit}: ε >= ${audit.epsilon.toFixed(3)} at ${percent} (${evidence}); accountant ε ${claimed.epsilon.toFixed(3)}`);
    if (p.check && audit.epsilon > claimed.epsilon) {
      throw new Error(
        `Audit node ${ctx.id}: the empirical lower bound ε >= ${audit.epsilon.toFixed(3)} (${percent} confidence, ${evidence}) exceeds the ` +
          `accountant's ε = ${claimed.epsilon.toFixed(3)} for the lineage of its model input: the mechanism does not give the privacy it claims ` +
          '(a bug in sampling, clipping, noise or accounting)',
      );
    }
    const output = await writeJsonOutput(ctx, 'audit.json', {
      ...summary,
      rules: audit.rules,
      // Per canary: its loss and inclusion bit (what reveals the canaries, and nothing else).
      perCanary: canaries.map((c, i) => ({ key: c.key, included: c.included, loss: losses[i] })),
    });
    return {
      outputs: { metrics: { file: output } },
      metrics: { ...summary, violation: audit.epsilon > claimed.epsilon },
      provenance: { backend: backendName },
    };
  },
});
