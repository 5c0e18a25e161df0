// A clone of the repository must be readable on its own: no file may send the reader to design notes
// that live outside it (they were carried into docs/design.md, docs/privacy.md and docs/wasm-backend.md).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..');

// Built from parts so that this file does not match its own patterns.
const outside = ['shared', ''].join('/');
const noteNames = ['design', 'tfjs-on-wasm', 'accounting', 'paper', 'engines', 'data-sources', 'dp-regime'];
const patterns: RegExp[] = [
  new RegExp(`${outside}(design\\.md|notes)`),
  new RegExp(`/work/${outside.slice(0, -1)}\\b`),
  new RegExp(`(^|[^\\w/-])notes/(${noteNames.join('|')})\\.md`),
];

/** Tracked files plus new files git would track (so an uncommitted file is checked too). */
const repositoryFiles = (): string[] =>
  execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && existsSync(join(root, f)));

const outsideReferences = (files: string[], read: (file: string) => string): string[] =>
  files.flatMap((file) => {
    const text = read(file);
    if (text.includes('\0')) return [];
    return text
      .split('\n')
      .flatMap((line, i) => (patterns.some((p) => p.test(line)) ? [`${file}:${i + 1}: ${line.trim().slice(0, 120)}`] : []));
  });

describe('the repository is self-contained', () => {
  test('the check finds a reference to notes outside the repository', () => {
    const fake: Record<string, string> = {
      'a.md': `see ${outside}design.md`,
      'b.ts': `// ${outside}notes/x.md`,
      'c.ts': `// notes/${noteNames[1]}.md`,
      'd.md': 'docs/design.md and docs/wasm-backend.md are fine',
    };
    expect(outsideReferences(Object.keys(fake), (f) => fake[f]!).map((r) => r.split(':')[0])).toEqual(['a.md', 'b.ts', 'c.ts']);
  });

  test('no file of the repository cites design notes outside it', () => {
    const files = repositoryFiles();
    expect(files.length).toBeGreaterThan(100);
    expect(outsideReferences(files, (f) => readFileSync(join(root, f), 'utf8'))).toEqual([]);
  });
});
