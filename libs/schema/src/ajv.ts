import Ajv2020 from 'ajv/dist/2020.js';
import type { AnySchemaObject, ValidateFunction } from 'ajv/dist/2020.js';
import { schemaFiles } from './generated/schemas';

/** The extension keyword that carries a node type's signature inside its params schema. */
export const signatureKeyword = 'x-dpkd';
/**
 * An annotation keyword: the message to show when the subschema that holds it fails (ajv's own
 * messages for `not`, `if`/`then` and `const` say what failed but not what the user should do).
 */
export const messageKeyword = 'x-message';

/** Artifact kinds a port can carry (docs/design.md section 3; Canaries: docs/audit.md, read only by Audit). */
export const artifactKinds = ['Dataset', 'Model', 'Corpus', 'SoftLabels', 'HiddenStates', 'Metrics', 'Table', 'Canaries'] as const;
export type ArtifactKind = (typeof artifactKinds)[number];

export interface PortSpec {
  kind: ArtifactKind;
  optional?: boolean;
}

/** The value of `x-dpkd` in schemas/nodes/*.schema.json. */
export interface SchemaSignature {
  type: string;
  version: number;
  heavy: boolean;
  /** Input ports; the port "*" accepts any port name of that kind (Report). */
  inputs: Record<string, PortSpec>;
  /** Output ports; the first is the primary output. */
  outputs: Record<string, { kind: ArtifactKind }>;
}

const portName = '^([A-Za-z_][A-Za-z0-9_-]*|\\*)$';
// Checked when a schema is compiled, so a malformed signature fails loudly at load, not at run time.
const signatureMetaSchema = {
  type: 'object',
  required: ['type', 'version', 'heavy', 'inputs', 'outputs'],
  additionalProperties: false,
  properties: {
    type: { type: 'string', pattern: '^[A-Z][A-Za-z0-9]*$' },
    version: { type: 'integer', minimum: 1 },
    heavy: { type: 'boolean' },
    inputs: {
      type: 'object',
      propertyNames: { pattern: portName },
      additionalProperties: {
        type: 'object',
        required: ['kind'],
        additionalProperties: false,
        properties: { kind: { enum: artifactKinds }, optional: { type: 'boolean' } },
      },
    },
    outputs: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' },
      additionalProperties: {
        type: 'object',
        required: ['kind'],
        additionalProperties: false,
        properties: { kind: { enum: artifactKinds } },
      },
    },
  },
};

export type Ajv = InstanceType<typeof Ajv2020>;

/**
 * A strict ajv for JSON Schema 2020-12 that reports all errors and knows `x-dpkd`.
 * With `useDefaults`, validation fills in schema defaults (it mutates the data: validate a copy).
 */
export function createAjv(options: { useDefaults?: boolean } = {}): Ajv {
  // verbose: errors carry their schema, which the graph lib needs for "did you mean" hints.
  const ajv = new Ajv2020({ strict: true, allErrors: true, verbose: true, useDefaults: options.useDefaults ?? false });
  ajv.addKeyword({ keyword: signatureKeyword, metaSchema: signatureMetaSchema });
  ajv.addKeyword({ keyword: messageKeyword, metaSchema: { type: 'string' } });
  return ajv;
}

let plainAjv: Ajv | undefined;
let defaultsAjv: Ajv | undefined;

/** Shared instances; compiled schemas are cached by ajv (by $id, or by schema object). */
export function sharedAjv(options: { useDefaults?: boolean } = {}): Ajv {
  if (options.useDefaults) return (defaultsAjv ??= createAjv({ useDefaults: true }));
  return (plainAjv ??= createAjv());
}

/**
 * The compiled validator of a schema under schemas/ (path relative to it, e.g.
 * 'graph.schema.json', 'nodes/dataset.schema.json', 'dp-event.schema.json').
 */
export function validatorFor(path: string, options: { useDefaults?: boolean } = {}): ValidateFunction {
  const schema = schemaFiles[path] as AnySchemaObject | undefined;
  if (!schema) throw new Error(`no schema schemas/${path}; known: ${Object.keys(schemaFiles).join(', ')}`);
  return compileSchema(schema, options);
}

/** Compiles any schema object with the shared instance (cached by $id when it has one). */
export function compileSchema(schema: AnySchemaObject, options: { useDefaults?: boolean } = {}): ValidateFunction {
  const ajv = sharedAjv(options);
  const id = typeof schema.$id === 'string' ? schema.$id : undefined;
  if (id) {
    const existing = ajv.getSchema(id);
    if (existing) return existing;
  }
  return ajv.compile(schema);
}

/** The graph schema's validator (no defaults applied: the parsed graph is left as written). */
export const graphValidator = (): ValidateFunction => validatorFor('graph.schema.json');

export interface NodeSchemaEntry {
  /** Path under schemas/. */
  path: string;
  schema: AnySchemaObject;
  signature: SchemaSignature;
}

/** Every node params schema under schemas/nodes/, with the signature from its `x-dpkd`. */
export function nodeSchemas(): NodeSchemaEntry[] {
  return Object.entries(schemaFiles)
    .filter(([path]) => path.startsWith('nodes/'))
    .map(([path, schema]) => {
      const signature = (schema as Record<string, unknown>)[signatureKeyword] as SchemaSignature | undefined;
      if (!signature) throw new Error(`schemas/${path} has no "${signatureKeyword}" signature`);
      return { path, schema: schema as AnySchemaObject, signature };
    });
}
