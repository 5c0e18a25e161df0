// Empirical privacy auditing in one training run (Steinke, Nasr & Jagielski, "Privacy Auditing with One (1)
// Training Run", NeurIPS 2023). m canaries are each included in the training set independently with
// probability 1/2; after training, an auditor guesses "in" for the r_in canaries with the highest scores and
// "out" for the r_out with the lowest, abstaining on the rest. If the mechanism is (ε, δ)-DP under add/remove
// of one record, the number of correct guesses V out of r = r_in + r_out satisfies (their Theorem 5.2 /
// Corollary 5.4, the p-value of their Appendix D)
//
//   P[V ≥ v] ≤ P[Binomial(r, q) ≥ v] + 2·m·δ · max_{1 ≤ i ≤ v} P[v − i ≤ Binomial(r, q) < v] / i,  q = e^ε/(1 + e^ε).
//
// The empirical lower bound at confidence 1 − α is the largest ε whose p-value is still below α: the
// mechanism is not (ε, δ)-DP for any smaller ε, unless an event of probability α happened. This module is
// plain math: the p-value, the bound, the guesses from scores, and Carlini et al.'s exposure.

/** ln(k!) for k = 0..n, extended on demand (exact sums of logs: relative error ~1e-15·n). */
const logFactorials: number[] = [0];
function logFactorial(n: number): number {
  for (let k = logFactorials.length; k <= n; k++) logFactorials.push(logFactorials[k - 1]! + Math.log(k));
  return logFactorials[n]!;
}

/** ln(1 + e^x) without overflow. */
const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/** P[Binomial(r, q) = k] for every k = 0..r, with q = e^ε/(1 + e^ε) given through ε (exact in the tails). */
function binomialPmf(r: number, epsilon: number): Float64Array {
  const logQ = -softplus(-epsilon); // ln(e^ε / (1 + e^ε))
  const log1mQ = -softplus(epsilon); // ln(1 / (1 + e^ε))
  const pmf = new Float64Array(r + 1);
  for (let k = 0; k <= r; k++) pmf[k] = Math.exp(logFactorial(r) - logFactorial(k) - logFactorial(r - k) + k * logQ + (r - k) * log1mQ);
  return pmf;
}

export interface OneRunCounts {
  /** Canaries, each included independently with probability 1/2. */
  m: number;
  /** Guesses made (abstentions excluded). */
  guesses: number;
  /** Correct guesses. */
  correct: number;
}

function checkCounts({ m, guesses, correct }: OneRunCounts): void {
  const int = (x: number) => Number.isInteger(x) && x >= 0;
  if (!(int(m) && int(guesses) && int(correct) && correct <= guesses && guesses <= m)) {
    throw new RangeError(`one-run audit: need integers 0 <= correct <= guesses <= m, got m ${m}, guesses ${guesses}, correct ${correct}`);
  }
}

/**
 * The p-value of `correct` or more correct guesses out of `guesses` under the null hypothesis that the
 * mechanism is (ε, δ)-DP: Steinke et al.'s Theorem 5.2 with its δ term (their Appendix D, `p_value_DP_audit`).
 */
export function oneRunPValue(counts: OneRunCounts, epsilon: number, delta: number): number {
  checkCounts(counts);
  if (!(epsilon >= 0) || !(delta >= 0 && delta <= 1))
    throw new RangeError(`one-run audit: need ε >= 0 and 0 <= δ <= 1, got ε ${epsilon}, δ ${delta}`);
  const { m, guesses: r, correct: v } = counts;
  const pmf = binomialPmf(r, epsilon);
  let beta = 0; // P[Binomial(r, q) >= v], summed from the small end of the tail up
  for (let k = r; k >= v; k--) beta += pmf[k]!;
  let alpha = 0; // max over i of P[v - i <= Binomial(r, q) < v] / i
  if (delta > 0) {
    let below = 0;
    for (let i = 1; i <= v; i++) {
      below += pmf[v - i]!;
      alpha = Math.max(alpha, below / i);
    }
  }
  return Math.min(beta + alpha * delta * 2 * m, 1);
}

/**
 * The largest ε that the audit rejects at level `significance` (0.05: 95 % confidence): the mechanism is not
 * (ε', δ)-DP for any ε' below it. 0 when even ε = 0 is not rejected. Bisection to 1e-9 on ε, returning the
 * low end of the bracket (the p-value is increasing in ε), as Steinke et al.'s `get_eps_audit`.
 */
export function oneRunEpsilonLowerBound(counts: OneRunCounts, delta: number, significance = 0.05): number {
  if (!(significance > 0 && significance < 1)) throw new RangeError(`one-run audit: significance must be in (0, 1), got ${significance}`);
  const rejected = (epsilon: number) => oneRunPValue(counts, epsilon, delta) < significance;
  if (!rejected(0)) return 0;
  let lo = 0;
  let hi = 1;
  while (rejected(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > 1e4) return lo; // only reached with all guesses correct and r in the thousands: a bound of at least lo
  }
  while (hi - lo > 1e-9) {
    const mid = (lo + hi) / 2;
    if (rejected(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** One way of guessing: "in" for the `guessIn` highest scores, "out" for the `guessOut` lowest. */
export interface GuessRule {
  guessIn: number;
  guessOut: number;
}

/**
 * The guesses of a rule and how many are correct. `scores`: higher means more likely a member (e.g. minus
 * the canary's loss); `included`: the inclusion bits. Ties are broken by index (the canaries' order is
 * random and independent of the bits).
 */
export function guessFromScores(scores: readonly number[], included: readonly boolean[], rule: GuessRule): OneRunCounts {
  const m = scores.length;
  if (included.length !== m) throw new RangeError(`one-run audit: ${m} scores but ${included.length} inclusion bits`);
  if (scores.some((s) => !Number.isFinite(s))) throw new RangeError('one-run audit: every score must be finite');
  if (!(rule.guessIn >= 0 && rule.guessOut >= 0 && rule.guessIn + rule.guessOut <= m)) {
    throw new RangeError(`one-run audit: ${rule.guessIn} "in" and ${rule.guessOut} "out" guesses do not fit ${m} canaries`);
  }
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  let correct = 0;
  for (const i of order.slice(0, rule.guessIn)) if (included[i]) correct++;
  for (const i of order.slice(m - rule.guessOut)) if (!included[i]) correct++;
  return { m, guesses: rule.guessIn + rule.guessOut, correct };
}

export interface OneRunAuditOptions {
  /** The δ of the claim under test (the privacy unit's). */
  delta: number;
  /** 1 − confidence; default 0.05. Split evenly over the rules (Bonferroni), so the best rule keeps it. */
  significance?: number;
  /**
   * Fractions of m to guess on. Each fraction f gives two rules: f·m "in" guesses only, and f·m split evenly
   * between "in" and "out". Default [0.02, 0.05, 0.1, 0.2, 0.5, 1].
   */
  fractions?: readonly number[];
}

export interface RuleResult extends OneRunCounts, GuessRule {
  /** The lower bound of this rule at the Bonferroni-corrected level. */
  epsilon: number;
}

export interface OneRunAudit {
  /** The largest lower bound over the rules: at confidence 1 − significance the mechanism is not (ε, δ)-DP for smaller ε. */
  epsilon: number;
  delta: number;
  significance: number;
  /** The level each rule was tested at: significance / rules. */
  perRuleSignificance: number;
  /** The rule that gave the bound (the first of equals). */
  best: RuleResult;
  rules: RuleResult[];
}

/** The guessing rules of `fractions` over m canaries (distinct, non-empty). */
export function guessRules(m: number, fractions: readonly number[] = [0.02, 0.05, 0.1, 0.2, 0.5, 1]): GuessRule[] {
  const rules = new Map<string, GuessRule>();
  for (const f of fractions) {
    if (!(f > 0 && f <= 1)) throw new RangeError(`one-run audit: guess fractions must be in (0, 1], got ${f}`);
    const total = Math.max(1, Math.round(f * m));
    const half = Math.floor(total / 2);
    for (const rule of [
      { guessIn: total, guessOut: 0 },
      { guessIn: total - half, guessOut: half },
    ]) {
      if (rule.guessIn + rule.guessOut > 0 && rule.guessIn + rule.guessOut <= m) rules.set(`${rule.guessIn}/${rule.guessOut}`, rule);
    }
  }
  return [...rules.values()];
}

/**
 * Steinke et al.'s one-run audit over a fixed, pre-registered set of guessing rules. Taking the best of
 * several rules after seeing the scores would void the confidence level, so each rule is tested at
 * significance / rules (Bonferroni): the reported bound holds at the stated confidence.
 */
export function oneRunAudit(scores: readonly number[], included: readonly boolean[], options: OneRunAuditOptions): OneRunAudit {
  const significance = options.significance ?? 0.05;
  const rules = guessRules(scores.length, options.fractions);
  if (rules.length === 0) throw new RangeError('one-run audit: no canaries to guess on');
  const perRuleSignificance = significance / rules.length;
  const results: RuleResult[] = rules.map((rule) => {
    const counts = guessFromScores(scores, included, rule);
    return { ...rule, ...counts, epsilon: oneRunEpsilonLowerBound(counts, options.delta, perRuleSignificance) };
  });
  const best = results.reduce((a, b) => (b.epsilon > a.epsilon ? b : a));
  return { epsilon: best.epsilon, delta: options.delta, significance, perRuleSignificance, best, rules: results };
}

/**
 * Carlini et al.'s exposure ("The Secret Sharer", 2019) of a canary with loss `loss` against `references`,
 * the losses of random secrets of the same format that were never trained on: log2(|R|) − log2(rank), with
 * R the references plus the canary and rank its position by loss (1 = lowest; ties count against the
 * canary). At most log2(references + 1) bits can be measured.
 */
export function exposure(loss: number, references: readonly number[]): number {
  const rank = 1 + references.filter((r) => r <= loss).length;
  return Math.log2(references.length + 1) - Math.log2(rank);
}
