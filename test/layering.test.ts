// Enforces the architecture of docs/architecture.md (docs/design.md section 2): a lib imports only libs of
// a lower layer, never a forbidden package, and declares in its package.json every lib it imports
// (so Nx's project graph, and therefore task order, is right).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..');

const layer: Record<string, number> = {
  schema: 0,
  store: 0,
  tokenizer: 0,
  report: 0,
  privacy: 1,
  graph: 2,
  lm: 2,
  data: 2,
  engine: 3,
  nodes: 3,
  ui: 4,
  queue: 4,
  cli: 5,
};

/** Imports that a lib must never make, beyond the layer rule. */
const forbidden: Record<string, RegExp[]> = {
  privacy: [/^@tensorflow\//],
  store: [/^@tensorflow\//],
  schema: [/^@tensorflow\//],
  graph: [/^@tensorflow\//],
  engine: [/^@tensorflow\//, /^@dpkd\/(lm|data|nodes)$/, /^bullmq$/], // the job queue lives in @dpkd/queue
  // The queue runs actions by key through `dpkd exec`: it never loads a model or a corpus itself.
  queue: [/^@tensorflow\//, /^@dpkd\/(lm|data|nodes)$/],
  report: [/^@dpkd\/lm$/, /^@tensorflow\//],
};

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(name) ? [path] : [];
  });

const importsOf = (file: string): string[] => {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"`;]*?from\s*['"]([^'"]+)['"]/g)]
    .concat([...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)])
    .concat([...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)])
    .map((m) => m[1]!);
  return specifiers.map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s));
};

const libs = readdirSync(join(root, 'libs')).filter((n) => statSync(join(root, 'libs', n)).isDirectory());

describe('library layering', () => {
  test('every lib has a layer', () => {
    for (const lib of libs) expect(layer, `libs/${lib} needs a layer in test/layering.test.ts`).toHaveProperty(lib);
  });

  for (const lib of libs) {
    test(`libs/${lib} imports only lower layers and declares them`, () => {
      const pkg = JSON.parse(readFileSync(join(root, 'libs', lib, 'package.json'), 'utf8'));
      const declared = new Set(Object.keys(pkg.dependencies ?? {}));
      const problems: string[] = [];
      for (const file of sourceFiles(join(root, 'libs', lib, 'src'))) {
        for (const spec of importsOf(file)) {
          const where = relative(root, file);
          for (const rule of forbidden[lib] ?? []) {
            if (rule.test(spec)) problems.push(`${where} imports ${spec}, forbidden for libs/${lib}`);
          }
          const m = /^@dpkd\/([\w-]+)$/.exec(spec);
          if (!m) continue;
          const target = m[1]!;
          if (!(layer[target]! < layer[lib]!)) {
            problems.push(`${where} imports @dpkd/${target} (layer ${layer[target]}) from layer ${layer[lib]}`);
          }
          if (!declared.has(spec)) problems.push(`${where} imports ${spec} but libs/${lib}/package.json does not list it`);
        }
      }
      expect(problems).toEqual([]);
    });
  }
});
