// JSON for the dashboard's API: ε = ∞ (a non-private step) has no JSON form, so it is written as null, the
// convention of `dpkd status --json`, `plan --json` and the run records.
export const toJson = (value: unknown): string => JSON.stringify(value, (_k, v) => (v === Infinity ? null : v));

/** A number that may be ∞ as the API sends it. */
export const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);
