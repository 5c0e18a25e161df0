/**
 * Canonical JSON (RFC 8785, JCS): object keys sorted by UTF-16 code units, no whitespace, numbers
 * and strings as ECMAScript's JSON.stringify writes them. The same value always gives the same
 * text, so its hash can key a cache. Keys whose value is `undefined` are dropped, as in JSON.
 *
 * Stricter than JSON.stringify where silence would corrupt a cache key: NaN, ±Infinity,
 * functions, symbols, bigints, `undefined` outside an object, cycles, and objects that are not
 * plain (Date, Map, Set, class instances, typed arrays: JSON.stringify turns them into `{}` or a
 * string) are errors. Lone UTF-16 surrogates are written escaped (as JSON.stringify does); RFC
 * 8785 would reject them.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, [], new Set());
}

function encode(value: unknown, path: string[], open: Set<object>): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} at ${where(path)} has no JSON form`);
    return JSON.stringify(value); // -0 becomes "0", as RFC 8785 requires
  }
  if (typeof value !== 'object') throw new TypeError(`canonicalJson: a ${typeof value} at ${where(path)} has no JSON form`);
  if (open.has(value)) throw new TypeError(`canonicalJson: the value at ${where(path)} contains itself (a cycle)`);
  open.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((item, i) => child(item, String(i), path, open)).join(',')}]`;
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new TypeError(
        `canonicalJson: a ${kind} at ${where(path)} is not plain JSON data; convert it first (e.g. a Date to an ISO string)`,
      );
    }
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${child(record[k], k, path, open)}`).join(',')}}`;
  } finally {
    open.delete(value);
  }
}

/** The path is a stack shared by the whole walk (pushed and popped) so large arrays cost no copies. */
function child(value: unknown, key: string, path: string[], open: Set<object>): string {
  path.push(key);
  try {
    return encode(value, path, open);
  } finally {
    path.pop();
  }
}

function where(path: string[]): string {
  return path.length === 0 ? 'the top level' : `"${path.join('.')}"`;
}
