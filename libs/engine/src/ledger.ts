// The workspace privacy ledger: one hash-chained line per executed DP mechanism (never per cache hit), and
// one (NoOp, charging nothing) per executed gap-only use of a private split, so the ledger lists the gaps.
// Totals compose with @dpkd/privacy's composeUnit at the unit's δ, which every entry records.
import { composeUnit, type DpEvent } from '@dpkd/privacy';
import type { PrivacyClaim } from '@dpkd/graph';
import type { LogRecord, Store } from '@dpkd/store';
import { LEDGER_LOG } from './layout';
import { claimGaps, isMechanism } from './privacy-plan';
import type { AccountantName } from './graph-types';

export interface LedgerEntry {
  unit: string;
  n: number;
  /** The unit's δ the mechanism was calibrated and is stated at (absent in ledgers from before: 1/n then). */
  delta?: number;
  split: string;
  /** The mechanism; NoOp for an entry that only records a gap. */
  event: DpEvent;
  note?: string;
  /** Where this use departs from the proof (shuffled batches, seeded noise, held-out uses). */
  gaps?: string[];
  /** Action key and graph node that executed the mechanism. */
  key: string;
  node: string;
  type: string;
  graph: string;
  run: string;
  attempt: number;
  /**
   * "started": charged before the attempt touched its data (ledger-guard.ts; the manifest names the entry if
   * it committed). "rebuilt" / "salvaged": written by `dpkd ledger rebuild` from a DP manifest / from a readable
   * line of the damaged ledger. "executed" / "failed-attempt": older ledgers (charged after the attempt).
   */
  outcome: 'started' | 'rebuilt' | 'salvaged' | 'executed' | 'failed-attempt';
  /** Set on entries written by `dpkd ledger rebuild`: when, and where the damaged ledger was kept. */
  rebuild?: { at: string; damagedLedger?: string };
  at: string;
  /** The unit's cumulative cost after this entry, so `ledger verify` can recompute and compare. */
  cumulative: { epsilon: number | null; delta: number; accountant: AccountantName };
}

export interface UnitTotal {
  unit: string;
  epsilon: number;
  /** The δ the ε holds at: the unit's (the smallest recorded, if a budget's δ changed between runs). */
  delta: number;
  n: number;
  accountant: AccountantName;
  mechanisms: number;
  failedAttempts: number;
  nodes: string[];
  /** Distinct gaps recorded for the unit. */
  gaps: string[];
}

/** The entry's δ: recorded, or 1/n for entries written before δ belonged to the unit (the rule then). */
const deltaOfEntry = (e: LedgerEntry): number => e.delta ?? 1 / e.n;

/**
 * ε of every ledger entry of one unit composed (composeUnit, the plan's and Report's rule). Each entry is one
 * execution, so entries are never merged by action key: a rerun of a DP node is charged again.
 */
export function unitTotal(unit: string, entries: LedgerEntry[], accountant: AccountantName): UnitTotal {
  const mine = entries.filter((e) => e.unit === unit);
  const total = composeUnit(
    mine.map((e, i) => ({ key: `#${i}`, event: e.event, delta: deltaOfEntry(e), ...(e.gaps ? { gaps: e.gaps } : {}) })),
    accountant,
  );
  return {
    unit,
    epsilon: total.epsilon,
    delta: total.delta,
    n: Math.min(...mine.map((e) => e.n)),
    accountant,
    mechanisms: total.mechanisms,
    failedAttempts: mine.filter((e) => e.outcome === 'failed-attempt').length,
    nodes: [...new Set(mine.filter((e) => e.event.type !== 'NoOp').map((e) => e.node))],
    gaps: total.gaps,
  };
}

/**
 * Appends the executed claims that carry an event on a private dataset. Reading the unit's history and
 * appending happen under one lock, so the recorded cumulative ε is consistent under concurrent runs.
 */
export async function appendToLedger(
  store: Store,
  claims: PrivacyClaim[],
  context: Omit<LedgerEntry, 'unit' | 'n' | 'split' | 'event' | 'note' | 'at' | 'cumulative'>,
  accountant: AccountantName,
): Promise<LogRecord<LedgerEntry>[]> {
  const charged = claims.filter((c) => isMechanism(c) || claimGaps(c).length > 0);
  if (charged.length === 0) return [];
  const log = store.appendLog<LedgerEntry>(LEDGER_LOG);
  return store.withLock('ledger', async () => {
    const { entries } = await log.readAll();
    const history: LedgerEntry[] = [...entries];
    const written: LogRecord<LedgerEntry>[] = [];
    for (const claim of charged) {
      const gaps = claimGaps(claim);
      const base = {
        unit: claim.dataset.unit,
        n: claim.dataset.n,
        ...(claim.dataset.delta !== undefined ? { delta: claim.dataset.delta } : {}),
        split: claim.split,
        event: isMechanism(claim) ? claim.event! : ({ type: 'NoOp' } as DpEvent),
        ...(claim.note ? { note: claim.note } : {}),
        ...(gaps.length ? { gaps } : {}),
        ...context,
        at: new Date().toISOString(),
      };
      const total = unitTotal(base.unit, [...history, { ...base, cumulative: { epsilon: 0, delta: 0, accountant } }], accountant);
      const entry: LedgerEntry = {
        ...base,
        cumulative: { epsilon: Number.isFinite(total.epsilon) ? total.epsilon : null, delta: total.delta, accountant },
      };
      written.push(await log.append(entry));
      history.push(entry);
    }
    return written;
  });
}

export interface LedgerReport {
  entries: number;
  units: UnitTotal[];
}

export async function readLedger(store: Store, accountant: AccountantName = 'pld'): Promise<LedgerReport & { records: LedgerEntry[] }> {
  const { entries } = await store.appendLog<LedgerEntry>(LEDGER_LOG).readAll();
  const units = [...new Set(entries.map((e) => e.unit))].sort();
  return { entries: entries.length, units: units.map((u) => unitTotal(u, entries, accountant)), records: entries };
}

export interface LedgerVerifyReport {
  ok: boolean;
  chain: { ok: boolean; entries: number; firstBadSeq?: number; reason?: string };
  /** Per unit: the cumulative ε recorded in the last entry and the one recomputed from all entries. */
  units: Array<{ unit: string; recorded: number; recomputed: number; ok: boolean }>;
}

/** Checks the hash chain, then recomputes each unit's cumulative ε with the accountant it was recorded with. */
export async function verifyLedger(store: Store): Promise<LedgerVerifyReport> {
  const log = store.appendLog<LedgerEntry>(LEDGER_LOG);
  const chain = await log.verify();
  const { entries } = await log.readAll().catch(() => ({ entries: [] as LedgerEntry[] }));
  const units: LedgerVerifyReport['units'] = [];
  for (const unit of [...new Set(entries.map((e) => e.unit))].sort()) {
    const mine = entries.filter((e) => e.unit === unit);
    const last = mine[mine.length - 1]!;
    const recorded = last.cumulative.epsilon ?? Infinity;
    const recomputed = unitTotal(unit, mine, last.cumulative.accountant).epsilon;
    const ok = recorded === recomputed || Math.abs(recorded - recomputed) <= 1e-9 * Math.max(1, Math.abs(recomputed));
    units.push({ unit, recorded, recomputed, ok });
  }
  const chainSummary = {
    ok: chain.ok,
    entries: chain.entries,
    ...(chain.firstBadSeq !== undefined ? { firstBadSeq: chain.firstBadSeq } : {}),
    ...(chain.reason ? { reason: chain.reason } : {}),
  };
  return { ok: chain.ok && units.every((u) => u.ok), chain: chainSummary, units };
}
