// The ledger's integrity: a DP action is charged before it trains, and only to a ledger that checks out;
// a damaged or lost ledger is rebuilt from the DP manifests. (The ε/δ arithmetic lives in ledger.ts.)
import { readFile, rename } from 'node:fs/promises';
import type { DatasetDescription, PrivacyClaim } from '@dpkd/graph';
import type { LogVerifyResult, Store } from '@dpkd/store';
import { LedgerDamaged, LedgerWriteFailed, messageOf } from './errors';
import type { AccountantName } from './graph-types';
import { LEDGER_LOG } from './layout';
import { appendToLedger, type LedgerEntry } from './ledger';
import type { ActionManifest } from './manifest';
import { claimGaps, isMechanism } from './privacy-plan';

/** The claims that spend privacy: a mechanism (not NoOp) on a private dataset. */
export const chargeableClaims = (claims: readonly PrivacyClaim[]): PrivacyClaim[] => claims.filter(isMechanism);

/** The claims appendToLedger writes: mechanisms, and gap-only uses of private splits (NoOp entries). */
export const ledgerClaims = (claims: readonly PrivacyClaim[]): PrivacyClaim[] =>
  claims.filter((c) => isMechanism(c) || claimGaps(c).length > 0);

export interface LedgerCheck {
  /** The chain and head are intact (a torn last line alone is tolerated) and every DP manifest is charged. */
  ok: boolean;
  path: string;
  chain: LogVerifyResult;
  /** Committed actions whose manifest records a mechanism on private data. */
  dpManifests: number;
  /** DP manifests with no ledger entry for their action key: a cost the ledger does not show. */
  uncharged: Array<{ key: string; node: string; graph: string }>;
  /** One line for a user when not ok. */
  reason?: string;
}

interface LedgerManifest {
  key: string;
  manifest: ActionManifest;
  /** It ran a mechanism on private data (not only a gap-only use). */
  dp: boolean;
}

/**
 * Every manifest that wrote (or should have written) ledger entries: DP actions, and gap-only uses of private
 * splits. Unreadable manifests are skipped (the cache never uses them either).
 */
async function ledgerManifests(store: Store): Promise<LedgerManifest[]> {
  const found: LedgerManifest[] = [];
  for (const key of await store.listManifests()) {
    const manifest = await store.getManifest<ActionManifest>(key).catch(() => undefined);
    if (manifest && ledgerClaims(manifest.privacy ?? []).length > 0)
      found.push({ key, manifest, dp: chargeableClaims(manifest.privacy).length > 0 });
  }
  return found.sort(
    (a, b) => (a.manifest.provenance?.startedAt ?? '').localeCompare(b.manifest.provenance?.startedAt ?? '') || a.key.localeCompare(b.key),
  );
}

/**
 * Checks the ledger: its hash chain and head, and that every DP manifest in the store has a ledger entry.
 * The second part catches a ledger deleted together with its head (an empty chain verifies).
 */
export async function checkLedger(store: Store): Promise<LedgerCheck> {
  // Manifests first: an action's charge is appended before its manifest is written, so every manifest listed
  // now has its charge in the ledger read below (reading in the other order could flag a concurrent commit).
  const dp = (await ledgerManifests(store)).filter((m) => m.dp);
  const log = store.appendLog<LedgerEntry>(LEDGER_LOG);
  const { chain, keys } = await store.withLock('ledger', async () => {
    const chain = await log.verify();
    const keys = chain.intact ? new Set((await log.readAll()).entries.map((e) => e.key)) : new Set<string>();
    return { chain, keys };
  });
  const uncharged = chain.intact
    ? dp
        .filter((d) => !keys.has(d.key))
        .map((d) => ({ key: d.key, node: d.manifest.provenance?.node ?? '?', graph: d.manifest.provenance?.graph ?? '?' }))
    : [];
  const reason = !chain.intact
    ? `entry ${chain.firstBadSeq}: ${chain.reason}`
    : uncharged.length > 0
      ? `${uncharged.length} of ${dp.length} DP action(s) in the store have no ledger entry (${uncharged
          .slice(0, 3)
          .map((u) => u.node)
          .join(', ')}${uncharged.length > 3 ? ', …' : ''}): the ledger was deleted or cut`
      : undefined;
  return { ok: reason === undefined, path: log.path, chain, dpManifests: dp.length, uncharged, ...(reason ? { reason } : {}) };
}

/** Fails with LedgerDamaged unless checkLedger passes. */
export async function requireIntactLedger(store: Store): Promise<void> {
  const check = await checkLedger(store);
  if (!check.ok) throw new LedgerDamaged({ ledger: check.path, reason: check.reason! });
}

/** Which attempt of which action is charged (the ledger entry's own fields). */
export type AttemptContext = Pick<LedgerEntry, 'key' | 'node' | 'type' | 'graph' | 'run' | 'attempt'>;

/**
 * Charges one attempt of a DP action BEFORE it touches its data (outcome "started"): whatever happens next
 * (commit, failure, divergence, Ctrl-C, kill -9), the mechanism is in the ledger. Gap-only uses of private
 * splits are recorded the same way (NoOp entries, charging nothing). The chain is verified first (a damaged
 * ledger refuses: LedgerDamaged); a write that fails is LedgerWriteFailed. Returns the entries written, which
 * the manifest names when the action commits.
 */
export async function chargeAttempt(
  store: Store,
  claims: PrivacyClaim[],
  context: AttemptContext,
  accountant: AccountantName,
): Promise<Array<{ seq: number; hash: string }>> {
  if (ledgerClaims(claims).length === 0) return [];
  const log = store.appendLog<LedgerEntry>(LEDGER_LOG);
  let chain: LogVerifyResult;
  try {
    chain = await store.withLock('ledger', () => log.verify());
  } catch (error) {
    throw new LedgerWriteFailed({ nodeId: context.node, key: context.key, reason: `the ledger could not be read: ${messageOf(error)}` });
  }
  if (!chain.intact) throw new LedgerDamaged({ ledger: log.path, reason: `entry ${chain.firstBadSeq}: ${chain.reason}` });
  try {
    const written = await appendToLedger(store, claims, { ...context, outcome: 'started' }, accountant);
    return written.map((r) => ({ seq: r.seq, hash: r.hash }));
  } catch (error) {
    throw new LedgerWriteFailed({ nodeId: context.node, key: context.key, reason: messageOf(error) });
  }
}

export interface LedgerRebuild {
  /** Where the damaged ledger (and its head) now are; absent when the ledger was intact and only extended. */
  keptAt?: string;
  /** Manifests charged (or, gap-only, recorded) by the rebuild (outcome "rebuilt"). */
  rebuilt: number;
  /** Attempts read from the damaged ledger that no manifest covers (failed or interrupted), charged again ("salvaged"). */
  salvaged: number;
  /** Such manifests already in an intact ledger (nothing to do for them). */
  alreadyCharged: number;
}

/**
 * Makes the ledger cover every DP manifest again. An intact ledger is only extended (manifests without an
 * entry are charged). A damaged one is moved aside (`<ledger>.damaged-<time>`, with its head: evidence is
 * never deleted) and a new chain is written: every DP manifest is charged from the claims it carries, and
 * every attempt the damaged file still shows that no manifest covers (a failed or interrupted attempt) is
 * charged again. Over-count is possible (an entry edited in the damaged file is charged as it reads, next to
 * its manifest's); under-count of anything a manifest or a readable line records is not.
 */
export async function rebuildLedger(store: Store, options: { accountant?: AccountantName; now?: Date } = {}): Promise<LedgerRebuild> {
  const accountant = options.accountant ?? 'pld';
  const at = (options.now ?? new Date()).toISOString();
  const dp = await ledgerManifests(store);
  const log = store.appendLog<LedgerEntry>(LEDGER_LOG);
  const { keptAt, salvage, charged } = await store.withLock('ledger', async () => {
    const chain = await log.verify();
    if (chain.intact)
      return {
        keptAt: undefined,
        salvage: [] as Partial<LedgerEntry>[],
        charged: new Set((await log.readAll()).entries.map((e) => e.key)),
      };
    const aside = `${log.path}.damaged-${at.replace(/[:.]/g, '-')}`;
    const text = await readFile(log.path, 'utf8').catch(() => '');
    await renameIfPresent(log.path, aside);
    await renameIfPresent(log.headPath, `${aside}.head`);
    await renameIfPresent(log.tornPath, `${aside}.torn`);
    return { keptAt: aside, salvage: readableEntries(text), charged: new Set<string>() };
  });
  const rebuild = { rebuild: { at, ...(keptAt ? { damagedLedger: keptAt } : {}) } };
  let rebuilt = 0;
  for (const { key, manifest } of dp) {
    if (charged.has(key)) continue;
    const p = manifest.provenance;
    const context = {
      key,
      node: p?.node ?? '?',
      type: manifest.type,
      graph: p?.graph ?? '?',
      run: p?.run ?? '?',
      attempt: p?.attempt ?? 1,
      outcome: 'rebuilt' as const,
      ...rebuild,
    };
    await appendToLedger(store, manifest.privacy, context, accountant);
    rebuilt++;
  }
  // Attempts that committed are covered by their manifest; every other readable charge is kept.
  const committed = new Set(dp.map(({ key, manifest }) => `${key}|${manifest.provenance?.run}|${manifest.provenance?.attempt}`));
  const seen = new Set<string>();
  let salvaged = 0;
  for (const entry of salvage) {
    if (committed.has(`${entry.key}|${entry.run}|${entry.attempt}`)) continue;
    const id = JSON.stringify([entry.key, entry.run, entry.attempt, entry.unit, entry.split, entry.event]);
    if (seen.has(id)) continue;
    seen.add(id);
    const { unit, n, split, event, note, gaps, delta } = entry as LedgerEntry;
    const corpusSize = (entry as Partial<DatasetDescription>).corpusSize ?? n;
    const dataset: DatasetDescription = { unit, n, corpusSize, private: true, ...(delta !== undefined ? { delta } : {}) };
    const claim: PrivacyClaim = {
      dataset,
      split: split as PrivacyClaim['split'],
      event,
      ...(note ? { note } : {}),
      ...(gaps ? { gaps } : {}),
    };
    const context = {
      key: entry.key!,
      node: entry.node ?? '?',
      type: entry.type ?? '?',
      graph: entry.graph ?? '?',
      run: entry.run ?? '?',
      attempt: entry.attempt ?? 0,
      outcome: 'salvaged' as const,
      ...rebuild,
    };
    await appendToLedger(store, [claim], context, accountant);
    salvaged++;
  }
  return { ...(keptAt ? { keptAt } : {}), rebuilt, salvaged, alreadyCharged: dp.length - rebuilt };
}

/** The lines of a damaged ledger that still read as charges (JSON objects with a unit, an event and a key). */
function readableEntries(text: string): Partial<LedgerEntry>[] {
  const entries: Partial<LedgerEntry>[] = [];
  for (const line of text.split('\n')) {
    try {
      const value = JSON.parse(line) as Partial<LedgerEntry>;
      if (
        value &&
        typeof value === 'object' &&
        typeof value.unit === 'string' &&
        typeof value.key === 'string' &&
        value.event &&
        typeof value.event === 'object' &&
        typeof value.n === 'number'
      )
        entries.push(value);
    } catch {
      // garbage or a torn line: nothing to salvage
    }
  }
  return entries;
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Per unit, the charged attempts with no result in the store: "started" entries whose action has no manifest
 * from that run and attempt (it failed, diverged, was interrupted or killed, or its result was removed or
 * recomputed since). For `dpkd ledger`.
 */
export async function uncommittedAttempts(store: Store, entries: LedgerEntry[]): Promise<Map<string, number>> {
  const byUnit = new Map<string, number>();
  const manifests = new Map<string, ActionManifest | undefined>();
  for (const e of entries) {
    if (e.outcome !== 'started' && e.outcome !== 'failed-attempt' && e.outcome !== 'salvaged') continue;
    if (!manifests.has(e.key)) manifests.set(e.key, await store.getManifest<ActionManifest>(e.key).catch(() => undefined));
    const m = manifests.get(e.key);
    const committed = e.outcome !== 'failed-attempt' && m?.provenance?.run === e.run && m?.provenance?.attempt === e.attempt;
    if (!committed) byUnit.set(e.unit, (byUnit.get(e.unit) ?? 0) + 1);
  }
  return byUnit;
}
