// Once per `vitest run` of the CLI tests: build dist/ (the CLI tests spawn the bundled `dpkd`), and make the
// scratch root that run-cli.ts's scratch directories live under, removed when the run ends. The test files share
// one module graph (isolate: false), so run-cli.ts is evaluated once: a cleanup hook it registered would run
// after the first file only.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    scratchRoot: string;
  }
}

export default function setup(project: TestProject): () => void {
  execFileSync(process.execPath, [join(import.meta.dirname, '../../../tools/build.mjs')], { stdio: 'inherit' });
  const root = mkdtempSync(join(tmpdir(), 'dpkd-cli-tests-'));
  project.provide('scratchRoot', root);
  return () => rmSync(root, { recursive: true, force: true });
}
