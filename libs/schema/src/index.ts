export type * from './generated';
export { schemaFiles } from './generated/schemas';
export {
  artifactKinds,
  compileSchema,
  createAjv,
  graphValidator,
  messageKeyword,
  nodeSchemas,
  sharedAjv,
  signatureKeyword,
  validatorFor,
} from './ajv';
export type { Ajv, ArtifactKind, NodeSchemaEntry, PortSpec, SchemaSignature } from './ajv';
export type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
