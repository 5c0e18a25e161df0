export * from './node-contract';
export { type Diagnostic, didYouMean, formatDiagnostic } from './diagnostics';
export { type ExpandedGraph, type ExpandedNode } from './expand';
export {
  type KeyEnvironment,
  type KeyMaterial,
  actionKey,
  emptyKeyEnvironment,
  inputRef,
  keyFormat,
  keyMaterial,
  rehashKeyMaterial,
} from './action-key';
export { interpolate, referencesIn } from './interpolate';
export { type LoadOptions, type LoadResult, loadGraphFile, validateGraph } from './load';
export { type PresetContext, seqLenDiagnostics } from './model-context';
export { type CorpusSize, unitDeclarationProblems } from './privacy-unit';
export { toDot, toMermaid } from './render';
export {
  type ArtifactKind,
  type PortSpec,
  type Signature,
  type SignatureRegistry,
  defaultSignatures,
  primaryOutput,
  withSignatures,
} from './signatures';
export { sweepAxes, sweepPoints } from './sweep';
