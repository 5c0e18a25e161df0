// "${name}" interpolation of graph params into node params. A string that is exactly "${name}"
// becomes the value itself (a number stays a number); inside a longer string it is text.
import { pointerOf } from './diagnostics';

const reference = /\$\{([^}]*)\}/g;
const whole = /^\$\{([^}]*)\}$/;

export interface ParamReference {
  name: string;
  /** Pointer, relative to the params object, of the string that holds the reference. */
  pointer: string;
}

/** Every "${...}" in a params value, with where it is. */
export function referencesIn(value: unknown, path: Array<string | number> = []): ParamReference[] {
  if (typeof value === 'string') {
    return [...value.matchAll(reference)].map((m) => ({ name: m[1]!, pointer: pointerOf(path) }));
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => referencesIn(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => referencesIn(v, [...path, k]));
  }
  return [];
}

const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * `value` with every reference replaced by `params[name]`. Callers check first (referencesIn) that
 * every name exists; an unknown name is left as written.
 */
export function interpolate(value: unknown, params: Readonly<Record<string, unknown>>): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const exact = whole.exec(value);
    if (exact && Object.hasOwn(params, exact[1]!)) return structuredClone(params[exact[1]!]);
    return value.replace(reference, (text, name: string) => (Object.hasOwn(params, name) ? asText(params[name]) : text));
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, params));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, params);
    return out;
  }
  return value;
}
