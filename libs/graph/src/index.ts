export * from './node-contract';
export { type Diagnostic, didYouMean, formatDiagnostic } from './diagnostics';
export { type ExpandedGraph, type ExpandedNode, keyFormat, keyMaterial } from './expand';
export { interpolate, referencesIn } from './interpolate';
export { type LoadOptions, type LoadResult, loadGraphFile, validateGraph } from './load';
export { type PlanJson, planJson, planText, toDot, toMermaid } from './render';
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
