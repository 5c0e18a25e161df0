// Diagnostics: every problem names the file, the JSON pointer, the line and column, what was
// expected and, where one exists, a hint.
import type { Node as JsonNode } from 'jsonc-parser';

export interface Diagnostic {
  file: string;
  /** RFC 6901 JSON pointer into the graph file ('' is the whole document). */
  pointer: string;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units (what editors show). */
  column: number;
  message: string;
  expected?: string;
  hint?: string;
}

/** `file:line:col: pointer: message; expected X (hint)` */
export function formatDiagnostic(d: Diagnostic): string {
  const expected = d.expected ? `; expected ${d.expected}` : '';
  const hint = d.hint ? ` (${d.hint})` : '';
  return `${d.file}:${d.line}:${d.column}: ${d.pointer || '/'}: ${d.message}${expected}${hint}`;
}

export const escapePointerSegment = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');
export const pointerOf = (segments: ReadonlyArray<string | number>): string =>
  segments.map((s) => `/${escapePointerSegment(String(s))}`).join('');
export const segmentsOf = (pointer: string): string[] =>
  pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

/** Maps offsets and JSON pointers of one parsed file to line and column. */
export class SourceMap {
  private readonly lineStarts: number[] = [0];

  constructor(
    readonly file: string,
    text: string,
    private readonly root: JsonNode | undefined,
  ) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 };
  }

  /**
   * The offset of the value at `pointer` (or of its property name, with `key`). A pointer into
   * something that is not in the file (a missing property, a value produced by interpolation) falls
   * back to the nearest enclosing value that is.
   */
  offsetOf(pointer: string, options: { key?: boolean } = {}): number {
    let node = this.root;
    if (!node) return 0;
    const segments = segmentsOf(pointer);
    for (const [i, segment] of segments.entries()) {
      const child = childOf(node, segment);
      if (!child) return node.offset;
      const last = i === segments.length - 1;
      if (last && options.key && child.parent?.type === 'property') return child.parent.children![0]!.offset;
      node = child;
    }
    return node.offset;
  }

  diagnostic(pointer: string, message: string, extra: { expected?: string; hint?: string; key?: boolean } = {}): Diagnostic {
    const { line, column } = this.position(this.offsetOf(pointer, { key: extra.key }));
    const d: Diagnostic = { file: this.file, pointer, line, column, message };
    if (extra.expected) d.expected = extra.expected;
    if (extra.hint) d.hint = extra.hint;
    return d;
  }
}

function childOf(node: JsonNode, segment: string): JsonNode | undefined {
  if (node.type === 'object') {
    // The last duplicate wins, as in JSON.parse.
    const property = node.children?.findLast((p) => p.children?.[0]?.value === segment);
    return property?.children?.[1];
  }
  if (node.type === 'array' && /^(0|[1-9]\d*)$/.test(segment)) return node.children?.[Number(segment)];
  return undefined;
}

/** Levenshtein distance; small inputs only (names and enum values). */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** "did you mean `teacher`?" for the closest candidate, when it is close enough to be a typo. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0.5 : editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  const tolerance = Math.max(2, Math.floor(Math.max(name.length, best.length) / 3));
  return bestDistance <= tolerance ? `did you mean \`${best}\`?` : undefined;
}

export const list = (names: Iterable<string>): string => [...names].map((n) => `\`${n}\``).join(', ');
