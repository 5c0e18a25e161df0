// Parsing with positions: jsonc-parser gives the offset of every value, which JSON.parse does not.
import { type Node as JsonNode, type ParseError, parseTree, printParseErrorCode } from 'jsonc-parser';
import { type Diagnostic, SourceMap, pointerOf } from './diagnostics';

const parserMessages: Record<string, string> = {
  InvalidSymbol: 'invalid symbol',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'property name expected (JSON needs double-quoted names)',
  ValueExpected: 'value expected',
  ColonExpected: 'colon expected',
  CommaExpected: 'comma expected',
  CloseBraceExpected: 'closing brace expected',
  CloseBracketExpected: 'closing bracket expected',
  EndOfFileExpected: 'end of file expected',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'unexpected end of comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unexpected end of number',
  InvalidUnicode: 'invalid unicode escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in string',
};

export interface ParsedJson {
  value: unknown;
  map: SourceMap;
  diagnostics: Diagnostic[];
}

/** Strict JSON (no comments, no trailing commas); syntax errors come with the parser's line and column. */
export function parseJsonWithPositions(text: string, file: string): ParsedJson {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const map = new SourceMap(file, text, root);
  // Only the first syntax error: the parser's recovery makes the later ones mostly echoes of it.
  const diagnostics: Diagnostic[] = errors.slice(0, 1).map((e) => {
    const { line, column } = map.position(e.offset);
    const code = printParseErrorCode(e.error);
    return { file, pointer: '', line, column, message: `not valid JSON: ${parserMessages[code] ?? code}` };
  });
  if (diagnostics.length === 0 && root) diagnostics.push(...duplicateKeys(root, map, []));
  return { value: diagnostics.length === 0 && root ? valueOf(root) : undefined, map, diagnostics };
}

// Rebuilt from the tree (rather than JSON.parse a second time) so the value and the positions agree.
function valueOf(node: JsonNode): unknown {
  switch (node.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const p of node.children ?? []) {
        const [k, v] = p.children!;
        if (v) Object.defineProperty(out, k!.value as string, { value: valueOf(v), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    case 'array':
      return (node.children ?? []).map(valueOf);
    default:
      return node.value;
  }
}

// JSON.parse keeps the last of two equal keys silently; in a graph that hides a mistake.
function duplicateKeys(node: JsonNode, map: SourceMap, path: string[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (node.type === 'object') {
    const seen = new Set<string>();
    for (const p of node.children ?? []) {
      const [k, v] = p.children!;
      const key = k!.value as string;
      if (seen.has(key)) {
        const { line, column } = map.position(k!.offset);
        out.push({ file: map.file, pointer: pointerOf([...path, key]), line, column, message: `duplicate key \`${key}\`` });
      }
      seen.add(key);
      if (v) out.push(...duplicateKeys(v, map, [...path, key]));
    }
  } else if (node.type === 'array') {
    (node.children ?? []).forEach((c, i) => out.push(...duplicateKeys(c, map, [...path, String(i)])));
  }
  return out;
}
