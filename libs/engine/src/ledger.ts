// The workspace privacy ledger: one hash-chained line per executed DP mechanism (never per cache hit).
import { epsilonOf, type DpEvent } from '@dpkd/privacy';
import type { PrivacyClaim } from '@dpkd/graph';
import type { LogRecord, Store } from '@dpkd/store';
import { LEDGER_LOG } from './layout';
import type { AccountantName } from './graph-types';

export interface LedgerEntry {
  unit: string;
  n: number;
  split: string;
  event: DpEvent;
  note?: string;
  /** Action key and graph node that executed the mechanism. */
  key: string;
  node: string;
  type: string;
  graph: string;
  run: string;
  attempt: number;
  /** "executed": the action committed; "failed-attempt": it failed after starting, charged anyway (see README). */
  outcome: 'executed' | 'failed-attempt';
  at: string;
  /** The unit's cumulative cost after this entry, so `ledger verify` can recompute and compare. */
  cumulative: { epsilon: number | null; delta: number; accountant: AccountantName };
}

export interface UnitTotal {
  unit: string;
  epsilon: number;
  delta: number;
  n: number;
  accountant: AccountantName;
  mechanisms: number;
  failedAttempts: number;
  nodes: string[];
}

const composed = (events: DpEvent[]): DpEvent => (events.length === 1 ? events[0]! : { type: 'Composed', events });

/** ε of every ledger event of one unit composed, at δ = 1/(smallest n seen). */
export function unitTotal(unit: string, entries: LedgerEntry[], accountant: AccountantName): UnitTotal {
  const mine = entries.filter((e) => e.unit === unit);
  const n = Math.min(...mine.map((e) => e.n));
  const delta = 1 / n;
  const events = mine.map((e) => e.event);
  const epsilon = events.some((e) => e.type === 'NonPrivate') ? Infinity : epsilonOf(composed(events), delta, { accountant }).epsilon;
  return {
    unit,
    epsilon,
    delta,
    n,
    accountant,
    mechanisms: mine.length,
    failedAttempts: mine.filter((e) => e.outcome === 'failed-attempt').length,
    nodes: [...new Set(mine.map((e) => e.node))],
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
  const charged = claims.filter((c) => c.dataset.private && c.event && c.event.type !== 'NoOp');
  if (charged.length === 0) return [];
  const log = store.appendLog<LedgerEntry>(LEDGER_LOG);
  return store.withLock('ledger', async () => {
    const { entries } = await log.readAll();
    const history: LedgerEntry[] = [...entries];
    const written: LogRecord<LedgerEntry>[] = [];
    for (const claim of charged) {
      const base = {
        unit: claim.dataset.unit,
        n: claim.dataset.n,
        split: claim.split,
        event: claim.event!,
        ...(claim.note ? { note: claim.note } : {}),
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
  const chainSummary = { ok: chain.ok, entries: chain.entries, ...(chain.firstBadSeq !== undefined ? { firstBadSeq: chain.firstBadSeq } : {}), ...(chain.reason ? { reason: chain.reason } : {}) };
  return { ok: chain.ok && units.every((u) => u.ok), chain: chainSummary, units };
}
