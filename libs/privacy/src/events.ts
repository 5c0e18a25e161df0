// DP events as data (after Google dp_accounting's DpEvent): a tree that accountants consume.
// Neighbouring relation: add/remove one example. Sensitivity convention: Gaussian sigma is the noise
// standard deviation divided by the L2 sensitivity; Laplace b is the scale divided by the L1 sensitivity.
import Ajv2020 from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import type { DpEvent } from '@dpkd/schema';
import schema from '../../../schemas/dp-event.schema.json';

// The event types are generated from schemas/dp-event.schema.json (the one definition, also used to
// validate events read from ledgers and manifests); this module adds the runtime helpers.
export type { DpEvent };

/** The neighbouring relation every accountant here assumes. */
export const NEIGHBOURING_RELATION = 'add-or-remove-one' as const;
/** The sampling scheme PoissonSampled denotes. */
export const SAMPLING_SCHEME = 'poisson' as const;

/** DP-SGD: `steps` steps of the Gaussian mechanism on a Poisson sample with rate q. */
export function dpSgdEvent(p: { q: number; sigma: number; steps: number }): DpEvent {
  return {
    type: 'SelfComposed',
    event: { type: 'PoissonSampled', q: p.q, event: { type: 'Gaussian', sigma: p.sigma } },
    count: p.steps,
  };
}

/** True when a NonPrivate event occurs anywhere (epsilon is then Infinity by declaration). */
export function containsNonPrivate(e: DpEvent): boolean {
  switch (e.type) {
    case 'NonPrivate':
      return true;
    case 'PoissonSampled':
      return containsNonPrivate(e.event);
    case 'SelfComposed':
      return e.count > 0 && containsNonPrivate(e.event);
    case 'Composed':
      return e.events.some(containsNonPrivate);
    default:
      return false;
  }
}

/** One line for people: `1000 × PoissonSampled(q=0.01, Gaussian(σ=1))`. */
export function describeEvent(e: DpEvent): string {
  switch (e.type) {
    case 'Gaussian':
      return `Gaussian(σ=${e.sigma})`;
    case 'Laplace':
      return `Laplace(b=${e.b})`;
    case 'PoissonSampled':
      return `PoissonSampled(q=${e.q}, ${describeEvent(e.event)})`;
    case 'SelfComposed':
      return `${e.count} × ${describeEvent(e.event)}`;
    case 'Composed':
      return `Composed(${e.events.map(describeEvent).join(', ')})`;
    case 'NonPrivate':
      return `NonPrivate (ε=∞)${e.reason ? `: ${e.reason}` : ''}`;
    case 'NoOp':
      return 'NoOp';
  }
}

/** Structural equality of two events (key order does not matter). */
export function eventsEqual(a: DpEvent, b: DpEvent): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(e: DpEvent): unknown {
  switch (e.type) {
    case 'Gaussian':
      return ['G', e.sigma];
    case 'Laplace':
      return ['L', e.b];
    case 'PoissonSampled':
      return ['P', e.q, canonical(e.event)];
    case 'SelfComposed':
      return ['S', e.count, canonical(e.event)];
    case 'Composed':
      return ['C', e.events.map(canonical)];
    case 'NonPrivate':
      return ['N', e.reason ?? ''];
    case 'NoOp':
      return ['0'];
  }
}

/**
 * A smaller equivalent event for ledgers and display: drops NoOp, flattens nested compositions, merges
 * equal consecutive events into SelfComposed counts, unwraps counts of 1 and PoissonSampled with q = 1.
 * Accounting results do not change (tested).
 */
export function simplifyEvent(e: DpEvent): DpEvent {
  switch (e.type) {
    case 'PoissonSampled': {
      const inner = simplifyEvent(e.event);
      if (inner.type === 'NoOp' || inner.type === 'NonPrivate' || e.q === 1) return inner;
      return { type: 'PoissonSampled', q: e.q, event: inner };
    }
    case 'SelfComposed': {
      const inner = simplifyEvent(e.event);
      if (e.count === 0 || inner.type === 'NoOp') return { type: 'NoOp' };
      if (inner.type === 'NonPrivate') return inner;
      if (e.count === 1) return inner;
      if (inner.type === 'SelfComposed') return { type: 'SelfComposed', event: inner.event, count: inner.count * e.count };
      return { type: 'SelfComposed', event: inner, count: e.count };
    }
    case 'Composed': {
      const flat: DpEvent[] = [];
      for (const child of e.events) {
        const s = simplifyEvent(child);
        if (s.type === 'NoOp') continue;
        if (s.type === 'Composed') flat.push(...s.events);
        else flat.push(s);
      }
      // Merge runs of equal events: (X, n) followed by (X, m) becomes (X, n + m).
      const runs: { event: DpEvent; count: number }[] = [];
      for (const s of flat) {
        const [base, count] = s.type === 'SelfComposed' ? [s.event, s.count] : [s, 1];
        const last = runs[runs.length - 1];
        if (last && eventsEqual(last.event, base)) last.count += count;
        else runs.push({ event: base, count });
      }
      const merged = runs.map((r) => (r.count === 1 ? r.event : ({ type: 'SelfComposed', event: r.event, count: r.count } as DpEvent)));
      if (merged.length === 0) return { type: 'NoOp' };
      if (merged.length === 1) return merged[0];
      return { type: 'Composed', events: merged };
    }
    default:
      return e;
  }
}

let validator: ReturnType<Ajv2020['compile']> | undefined;

function describe(error: ErrorObject, where: string): string {
  const path = `${where}${error.instancePath.replace(/\//g, '.')}`;
  return `${path}: ${error.message ?? 'is invalid'}${error.params && 'allowedValue' in error.params ? ` (${JSON.stringify(error.params.allowedValue)})` : ''}`;
}

/**
 * Validates `json` against schemas/dp-event.schema.json and returns it as a DpEvent. Errors name the JSON
 * path of the offending value, prefixed by `where` (default `event`).
 */
export function parseDpEvent(json: unknown, where = 'event'): DpEvent {
  validator ??= new Ajv2020({ allErrors: false, strict: false }).compile(schema);
  // oneOf errors are noisy; find the deepest precise message by descending the tree ourselves first.
  const problem = firstProblem(json, where);
  if (problem) throw new Error(`invalid DP event: ${problem}`);
  if (!validator(json)) {
    const errors = validator.errors ?? [];
    throw new Error(`invalid DP event: ${errors.length ? describe(errors[0], where) : `${where}: does not match the schema`}`);
  }
  return json as DpEvent;
}

// The event types and their fields, read from the schema (not restated here).
const DEFS: Record<string, { properties?: object; oneOf?: unknown }> = schema.$defs;
const TYPES = schema.$defs.event.oneOf.map((ref) => ref.$ref.replace('#/$defs/', ''));
const FIELDS: Record<string, string[]> = Object.fromEntries(
  TYPES.map((type) => [type, Object.keys(DEFS[type]?.properties ?? {}).filter((k) => k !== 'type')]),
);

/** Readable first error (schema oneOf messages do not say which branch was meant). */
function firstProblem(j: unknown, at: string): string | undefined {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return `${at}: must be an object with a "type"`;
  const o = j as Record<string, unknown>;
  if (typeof o.type !== 'string' || !TYPES.includes(o.type))
    return `${at}.type: must be one of ${TYPES.join(', ')} (got ${JSON.stringify(o.type)})`;
  for (const key of Object.keys(o))
    if (key !== 'type' && !FIELDS[o.type].includes(key)) return `${at}.${key}: unknown field for a ${o.type} event`;
  const positive = (key: string) =>
    typeof o[key] !== 'number' || !Number.isFinite(o[key]) || (o[key] as number) <= 0
      ? `${at}.${key}: must be a finite number > 0 (got ${JSON.stringify(o[key])})`
      : undefined;
  switch (o.type) {
    case 'Gaussian':
      return positive('sigma');
    case 'Laplace':
      return positive('b');
    case 'PoissonSampled':
      return (
        positive('q') ??
        ((o.q as number) > 1 ? `${at}.q: must be in (0, 1] (got ${o.q})` : undefined) ??
        firstProblem(o.event, `${at}.event`)
      );
    case 'SelfComposed':
      if (!Number.isInteger(o.count) || (o.count as number) < 0)
        return `${at}.count: must be a non-negative integer (got ${JSON.stringify(o.count)})`;
      return firstProblem(o.event, `${at}.event`);
    case 'Composed':
      if (!Array.isArray(o.events)) return `${at}.events: must be an array of events`;
      for (let i = 0; i < o.events.length; i++) {
        const p = firstProblem(o.events[i], `${at}.events[${i}]`);
        if (p) return p;
      }
      return undefined;
    case 'NonPrivate':
      return o.reason !== undefined && typeof o.reason !== 'string' ? `${at}.reason: must be a string` : undefined;
    default:
      return undefined;
  }
}
