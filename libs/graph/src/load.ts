// The whole front end: text -> parsed JSON -> graph schema -> semantic checks -> expanded DAG.
import { readFile } from 'node:fs/promises';
import { type Graph, graphValidator } from '@dpkd/schema';
import { type KeyEnvironment, emptyKeyEnvironment } from './action-key';
import { analyse } from './check';
import { type PresetContext, seqLenDiagnostics } from './model-context';
import type { Diagnostic } from './diagnostics';
import { type ExpandedGraph, expand } from './expand';
import { parseJsonWithPositions } from './parse';
import { type CorpusSize, privacyDeclarationDiagnostics } from './privacy-unit';
import { schemaDiagnostics } from './schema-errors';
import { type Signature, type SignatureRegistry, defaultSignatures, withSignatures } from './signatures';
import { sweepAxes } from './sweep';

export interface LoadOptions {
  /** The node types known (default: schemas/nodes/). */
  signatures?: SignatureRegistry;
  /** More node types, merged over `signatures` (engine tests register Sleep, Fail, ...). */
  extraSignatures?: Iterable<Signature>;
  /**
   * What the action keys cover beyond the graph file (tokenizer, tfjs, backend, corpus digests). Default:
   * none, for tests only; the CLI passes the real one (keyEnvironment() in libs/cli/src/registry.ts).
   */
  keyEnvironment?: KeyEnvironment;
  /** The context length of a model preset name, so `seqLen` is checked against it (the CLI passes libs/lm's presets). */
  presetContext?: PresetContext;
  /** A corpus's document count N, so a budget's δ is checked against 1/N (the CLI passes @dpkd/data's pins). */
  corpusSize?: CorpusSize;
}

export interface LoadResult {
  /** Present exactly when there are no diagnostics. */
  graph?: ExpandedGraph;
  diagnostics: Diagnostic[];
}

/** Validates and expands a graph given as text; `file` is only used in diagnostics. */
export function validateGraph(text: string, file: string, options: LoadOptions = {}): LoadResult {
  const signatures = withSignatures(options.extraSignatures ?? [], options.signatures ?? defaultSignatures());
  const parsed = parseJsonWithPositions(text, file);
  if (parsed.diagnostics.length) return { diagnostics: parsed.diagnostics };

  const validate = graphValidator();
  if (!validate(parsed.value)) {
    return { diagnostics: schemaDiagnostics(validate.errors ?? [], { map: parsed.map, base: '' }) };
  }
  const graph = parsed.value as Graph;
  const axes = sweepAxes(graph.sweep);
  const analysis = analyse(graph, parsed.map, signatures, axes);
  if (analysis.diagnostics.length) return { diagnostics: sortByPosition(analysis.diagnostics) };
  const expanded = expand(
    graph,
    analysis,
    axes,
    signatures,
    parsed.map,
    options.keyEnvironment ?? emptyKeyEnvironment,
    options.presetContext,
  );
  if (!expanded.graph) return { diagnostics: sortByPosition(expanded.diagnostics) };
  const late = [
    ...seqLenDiagnostics(expanded.graph.nodes, signatures, parsed.map, options.presetContext),
    ...privacyDeclarationDiagnostics(expanded.graph, signatures, parsed.map, options.corpusSize),
  ];
  if (late.length) return { diagnostics: sortByPosition(late) };
  return { graph: expanded.graph, diagnostics: [] };
}

/** Reads and validates a graph file; an unreadable file is a diagnostic too. */
export async function loadGraphFile(path: string, options: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    return { diagnostics: [{ file: path, pointer: '', line: 1, column: 1, message: `cannot read the graph: ${reason}` }] };
  }
  return validateGraph(text, path, options);
}

const sortByPosition = (ds: Diagnostic[]): Diagnostic[] => [...ds].sort((a, b) => a.line - b.line || a.column - b.column);
