// Turns ajv errors into diagnostics a person can act on: unknown property -> "did you mean",
// enum -> the allowed values, oneOf -> what each alternative accepts, and no cascades of
// sub-errors from alternatives that were never meant.
import { type ErrorObject, messageKeyword } from '@dpkd/schema';
import { type Diagnostic, type SourceMap, didYouMean, list, pointerOf } from './diagnostics';

type AnySchema = Record<string, unknown>;

/** Describes what a schema accepts, briefly: `number > 0`, `"1/n"`, `one of a, b`. */
export function describeSchema(schema: unknown): string {
  if (typeof schema !== 'object' || schema === null) return 'any value';
  const s = schema as AnySchema;
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.split('/').pop()!;
    return `a ${name} object`;
  }
  if (Array.isArray(s.oneOf)) return s.oneOf.map(describeSchema).join(' or ');
  if (typeof s.type === 'string') {
    const bounds: string[] = [];
    if (typeof s.minimum === 'number') bounds.push(`>= ${s.minimum}`);
    if (typeof s.exclusiveMinimum === 'number') bounds.push(`> ${s.exclusiveMinimum}`);
    if (typeof s.maximum === 'number') bounds.push(`<= ${s.maximum}`);
    if (typeof s.exclusiveMaximum === 'number') bounds.push(`< ${s.exclusiveMaximum}`);
    const article = /^[aeiou]/.test(s.type) ? 'an' : 'a';
    return `${article} ${s.type}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  }
  return 'a valid value';
}

const show = (v: unknown): string => {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};
const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

export interface SchemaErrorContext {
  map: SourceMap;
  /** Pointer of the validated value inside the file ('' for the whole graph). */
  base: string;
  /** Appended to each hint (e.g. which interpolation produced the value). */
  hintFor?: (pointer: string) => string | undefined;
}

export function schemaDiagnostics(errors: ErrorObject[], ctx: SchemaErrorContext): Diagnostic[] {
  // Errors inside a oneOf/anyOf alternative are noise once the oneOf itself is reported.
  const alternatives = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.schemaPath + '/');
  const relevant = errors.filter((e) => e.keyword !== 'if' && !alternatives.some((prefix) => e.schemaPath.startsWith(prefix)));
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of relevant) {
    const d = toDiagnostic(e, ctx);
    const id = `${d.pointer}\u0000${d.message}`;
    if (!seen.has(id)) out.push(d);
    seen.add(id);
  }
  return out;
}

function toDiagnostic(e: ErrorObject, ctx: SchemaErrorContext): Diagnostic {
  const pointer = ctx.base + e.instancePath;
  const parent = (e.parentSchema ?? {}) as AnySchema;
  const custom = typeof parent[messageKeyword] === 'string' ? (parent[messageKeyword] as string) : undefined;
  const extraHint = (p: string, hint?: string): string | undefined =>
    [hint, ctx.hintFor?.(p)].filter((h) => h !== undefined).join('; ') || undefined;

  switch (e.keyword) {
    case 'additionalProperties': {
      const name = (e.params as { additionalProperty: string }).additionalProperty;
      const at = pointer + pointerOf([name]);
      const allowed = Object.keys((parent.properties ?? {}) as AnySchema);
      return ctx.map.diagnostic(at, custom ?? `unknown property \`${name}\``, {
        key: true,
        expected: allowed.length ? `one of ${list(allowed)}` : 'no properties',
        hint: extraHint(at, didYouMean(name, allowed)),
      });
    }
    case 'required': {
      const name = (e.params as { missingProperty: string }).missingProperty;
      const propertySchema = ((parent.properties ?? {}) as AnySchema)[name];
      return ctx.map.diagnostic(pointer, custom ?? `missing required property \`${name}\``, {
        expected: propertySchema ? `\`${name}\`: ${describeSchema(propertySchema)}` : undefined,
        hint: extraHint(pointer),
      });
    }
    case 'propertyNames': {
      const name = (e.params as { propertyName: string }).propertyName;
      const at = pointer + pointerOf([name]);
      return ctx.map.diagnostic(at, custom ?? `invalid name \`${name}\``, {
        key: true,
        expected: 'a letter or _, then letters, digits, _ or -',
        hint: extraHint(at),
      });
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const strings = allowed.filter((v): v is string => typeof v === 'string');
      return ctx.map.diagnostic(pointer, custom ?? `${show(e.data)} is not allowed`, {
        expected: `one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`,
        hint: extraHint(pointer, typeof e.data === 'string' ? didYouMean(e.data, strings)?.replace(/`/g, '"') : undefined),
      });
    }
    case 'const':
      return ctx.map.diagnostic(pointer, custom ?? `${show(e.data)} is not allowed`, {
        expected: JSON.stringify((e.params as { allowedValue: unknown }).allowedValue),
        hint: extraHint(pointer),
      });
    case 'type':
      return ctx.map.diagnostic(pointer, custom ?? `wrong type: ${typeOf(e.data)} ${show(e.data)}`, {
        expected: describeSchema(parent),
        hint: extraHint(pointer),
      });
    case 'oneOf':
    case 'anyOf':
      return ctx.map.diagnostic(pointer, custom ?? `${show(e.data)} matches none of the allowed forms`, {
        expected: ((e.schema as unknown[]) ?? []).map(describeSchema).join(' or '),
        hint: extraHint(pointer),
      });
    case 'not':
    case 'else':
    case 'then':
      return ctx.map.diagnostic(pointer, custom ?? `invalid value ${show(e.data)}`, { hint: extraHint(pointer) });
    default:
      return ctx.map.diagnostic(pointer, custom ?? `${show(e.data)} ${e.message ?? 'is invalid'}`, {
        expected: describeSchema(parent),
        hint: extraHint(pointer),
      });
  }
}
